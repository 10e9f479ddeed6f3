"""The GitHub Actions recipe, run: each job's `run:` steps, as bash, against an emulator on a
loopback socket (staging and prod are two workspaces), in a copy of the repository layout.

Steps that `uses:` an action (checkout, setup-python, the comment) and the install step are
what GitHub provides; everything else runs exactly as written in the workflow, with the
workflow's, job's and step's `env:` and `${{ secrets.NAME }}` filled from a test table.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from multienv import PROD_KEY, STAGING_KEY, point_at, two_workspaces

from sigmaform.emulator import running

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "examples" / "ci" / "github" / "sigmaform.yml"
GITLAB = ROOT / "examples" / "ci" / "gitlab" / ".gitlab-ci.yml"
SCRIPT = ROOT / "examples" / "ci" / "sigmaform-ci.sh"
MARKER = "<!-- sigmaform-plan -->"
# Repository secrets (every job, pull requests included, can read them) and the secrets of
# GitHub environments (only a job that names the environment can), as the workflow says.
SECRETS = {
    "SIGMAMIND_API_KEY_STAGING": STAGING_KEY,
    "STAGING_SUPPORT_WEBHOOK_SECRET": "whsec-staging-support-1",
    "STAGING_REMINDER_WEBHOOK_SECRET": "whsec-staging-reminder-1",
}
ENVIRONMENT_SECRETS = {
    "production": {
        "SIGMAMIND_API_KEY_PROD": PROD_KEY,
        "PROD_SUPPORT_WEBHOOK_SECRET": "whsec-prod-support-1",
        "PROD_REMINDER_WEBHOOK_SECRET": "whsec-prod-reminder-1",
    }
}
PROD_SECRETS = set(ENVIRONMENT_SECRETS["production"])
SECRET_EXPR = re.compile(r"\$\{\{\s*secrets\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclass
class Step:
    name: str
    code: int
    stdout: str
    stderr: str
    summary: str
    outputs: dict[str, str]


@dataclass
class Runner:
    """Runs the workflow's jobs in `repo` (a copy of the repository layout)."""

    repo: Path
    workflow: dict[str, Any]
    base_url: str
    secrets: dict[str, str] = field(default_factory=lambda: dict(SECRETS))
    visible: dict[str, str] = field(default_factory=dict)

    def job(self, name: str) -> list[Step]:
        job = self.workflow["jobs"][name]
        # A job sees the repository's secrets and those of the environment it names.
        self.visible = {**self.secrets, **ENVIRONMENT_SECRETS.get(job.get("environment", ""), {})}
        env = {**self._env(self.workflow.get("env", {})), **self._env(job.get("env", {}))}
        results: list[Step] = []
        failed = False
        for index, step in enumerate(job["steps"]):
            if "run" not in step or step["run"].startswith("pip install"):
                continue  # GitHub's part: checkout, Python, installing sigmaform, the comment
            if failed and "!cancelled()" not in str(step.get("if", "")):
                continue
            result = self._run(step, {**env, **self._env(step.get("env", {}))}, index)
            failed = failed or result.code != 0
            results.append(result)
        return results

    def _env(self, values: dict[str, Any]) -> dict[str, str]:
        out = {}
        for key, value in values.items():
            text = SECRET_EXPR.sub(lambda m: self.visible.get(m.group(1), ""), str(value))
            assert "${{" not in text, f"{key}: only secrets expressions can be run here: {text}"
            out[key] = text
        return out

    def _run(self, step: dict[str, Any], env: dict[str, str], index: int) -> Step:
        script = step["run"]
        assert "${{" not in script, f"a run step uses an expression: {script}"
        summary = self.repo.parent / f"summary-{index}.md"
        outputs = self.repo.parent / f"output-{index}.txt"
        summary.write_text("")
        outputs.write_text("")
        full_env = {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin{os.pathsep}/bin",
            "HOME": str(self.repo.parent / "home"),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_OUTPUT": str(outputs),
            **env,
        }
        done = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=self.repo,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        pairs = (line.split("=", 1) for line in outputs.read_text().splitlines() if "=" in line)
        return Step(
            step.get("name", script),
            done.returncode,
            done.stdout,
            done.stderr,
            summary.read_text(),
            dict(pairs),
        )

    def api(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"X-API-Key": key})

    def agent_names(self, key: str) -> list[str]:
        with self.api(key) as api:
            body = api.get("/v1/agents", params={"page": 0, "size": 100}).json()
        return sorted(a["agentName"] for a in body["data"])


def codes(steps: list[Step]) -> list[int]:
    return [s.code for s in steps]


def explain(steps: list[Step]) -> str:
    return "\n".join(f"--- {s.name}: {s.code}\n{s.stdout}\n{s.stderr}" for s in steps)


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Runner]:
    with running(two_workspaces()) as base_url:
        repo = tmp_path / "repo"
        shutil.copytree(ROOT / "examples", repo / "examples", ignore=shutil.ignore_patterns(".*"))
        point_at(repo / "examples", base_url)
        (tmp_path / "home").mkdir()
        yield Runner(repo, yaml.safe_load(WORKFLOW.read_text()), base_url)


def test_pull_request_merge_promote_and_nightly_drift(runner: Runner) -> None:
    validate = runner.job("validate")
    assert codes(validate) == [0], explain(validate)
    assert "OK: " in validate[0].stdout

    # Pull request: one comment body with staging's plan and prod's offline comparison;
    # changes are not a failure.
    plan = runner.job("plan")
    assert codes(plan) == [0, 0], explain(plan)
    comment = (runner.repo / "sigmaform-plan.md").read_text()
    assert comment.startswith(MARKER + "\n## sigmaform\n")
    assert comment.count(MARKER) == 1
    assert "### sigmaform plan: `staging`" in comment
    assert "### sigmaform diff-env: `staging` -> `prod`" in comment
    assert comment.index("plan: `staging`") < comment.index("diff-env")
    assert (
        comment.count("**Plan: 3 to create, 1 to adopt, 0 to update, 0 to delete, 0 unchanged.**")
        == 1
    )
    assert "<details>" in comment and "```diff" in comment
    assert 'agentSettings.llmModel: "gpt-4o-mini" -> "gpt-4o"' in comment
    assert [s.outputs for s in plan] == [{"changes": "true"}, {}]
    assert "### sigmaform plan: `staging`" in plan[0].summary
    assert "diff-env" not in plan[0].summary  # each step's summary holds its own section
    assert "### sigmaform diff-env" in plan[1].summary
    for secret in [*SECRETS.values(), *ENVIRONMENT_SECRETS["production"].values()]:
        assert secret not in comment
    assert runner.agent_names(STAGING_KEY) == runner.agent_names(PROD_KEY) == []
    (runner.repo / "sigmaform-plan.md").unlink()  # the next job starts from a fresh checkout

    # Merge to main: staging gets exactly the saved plan.
    apply = runner.job("apply-staging")
    assert codes(apply) == [0, 0], explain(apply)
    assert apply[1].stdout == "No test cases to run in `staging`.\n"
    assert "### sigmaform plan: `staging`" in apply[0].summary
    assert "Apply complete: 1 adopted, 3 created." in apply[0].stdout
    assert runner.agent_names(STAGING_KEY) == [
        "Acme Appointment Reminder (staging)",
        "Acme Receptionist (staging)",
        "Acme Support (staging)",
    ]
    assert runner.agent_names(PROD_KEY) == []

    # Manual, approved job: prod gets what staging ran.
    promote = runner.job("promote-prod")
    assert codes(promote) == [0], explain(promote)
    assert "Promotion to prod complete: 1 adopted, 3 created." in promote[0].stdout
    assert "Plan: 3 to create, 1 to adopt" in promote[0].summary
    assert runner.agent_names(PROD_KEY) == [
        "Acme Appointment Reminder",
        "Acme Receptionist",
        "Acme Support",
    ]

    # Nightly: nothing changed by hand.
    for job in ("drift-staging", "drift-prod"):
        drift = runner.job(job)
        assert codes(drift) == [0], explain(drift)
        assert drift[0].summary.count("No drift.") == 1
        assert drift[0].outputs == {"drift": "false"}

    # Someone edits prod's support agent in the console: the nightly prod job fails (exit 2).
    with runner.api(PROD_KEY) as api:
        agents = api.get("/v1/agents", params={"page": 0, "size": 100}).json()["data"]
        support = next(a for a in agents if a["agentName"] == "Acme Support")
        patched = api.patch(
            f"/v1/agents/{support['agentId']}", json={"agentSettings": {"llmModel": "gpt-4.1"}}
        )
        assert patched.status_code == 200, patched.text
    assert codes(runner.job("drift-staging")) == [0]
    drift = runner.job("drift-prod")
    assert codes(drift) == [2], explain(drift)
    assert drift[0].outputs == {"drift": "true"}
    assert "### sigmaform drift: `prod`" in drift[0].summary
    assert "agent.support" in drift[0].summary and "gpt-4.1" in drift[0].summary

    # The next pull request's plan shows nothing for staging.
    plan = runner.job("plan")
    assert codes(plan) == [0, 0], explain(plan)
    assert [s.outputs for s in plan] == [{"changes": "false"}, {}]
    comment = (runner.repo / "sigmaform-plan.md").read_text()
    assert "No changes." in comment


def test_plan_failure_is_in_the_comment_and_the_comparison_still_runs(
    runner: Runner,
) -> None:
    # A secret the repository does not define reaches the step as an empty variable.
    del runner.secrets["SIGMAMIND_API_KEY_STAGING"]
    plan = runner.job("plan")
    assert codes(plan) == [1, 0], explain(plan)
    comment = (runner.repo / "sigmaform-plan.md").read_text()
    assert comment.count(MARKER) == 1
    assert "### sigmaform plan: `staging` failed (exit 1)" in comment
    assert "environment `staging` needs an API key: set SIGMAMIND_API_KEY_STAGING" in comment
    assert "### sigmaform diff-env: `staging` -> `prod`" in comment


def test_an_undefined_secret_is_missing_not_empty(runner: Runner) -> None:
    # GitHub passes it as ""; the script unsets empty variables so sigmaform says so,
    # rather than sending an empty webhook secret.
    del runner.secrets["STAGING_SUPPORT_WEBHOOK_SECRET"]
    plan = runner.job("plan")
    assert codes(plan) == [1, 0], explain(plan)
    comment = (runner.repo / "sigmaform-plan.md").read_text()
    assert "### sigmaform plan: `staging` failed (exit 1)" in comment
    assert "`${secret.SUPPORT_WEBHOOK_SECRET}`: environment variable" in comment
    assert "`SUPPORT_WEBHOOK_SECRET` is not set or empty (environment `staging`)" in comment


def test_an_error_with_backticks_cannot_close_its_code_block(runner: Runner) -> None:
    # The failure's message goes into a fenced block: a fence inside it must not end it.
    agent = runner.repo / "examples" / "agents" / "support.yaml"
    agent.write_text(agent.read_text().replace("name: support\n", 'name: support\n"a````b": x\n'))
    plan = runner.job("plan")
    assert codes(plan) == [1, 1], explain(plan)
    comment = (runner.repo / "sigmaform-plan.md").read_text()
    assert "unknown key `a````b`" in comment
    # Each block's fence is longer than any run of backticks inside it.
    fences = [line for line in comment.splitlines() if line.startswith("```")]
    assert fences == ["`````", "`````", "`````text", "`````"]


def test_promotion_of_what_staging_did_not_apply_is_refused(runner: Runner) -> None:
    assert codes(runner.job("apply-staging")) == [0, 0]
    prompt = runner.repo / "examples" / "agents" / "prompts" / "support.md"
    prompt.write_text(prompt.read_text() + "\nAlways offer a callback.\n")
    promote = runner.job("promote-prod")
    assert codes(promote) == [3], explain(promote)
    assert "agent.support" in promote[0].stderr
    assert runner.agent_names(PROD_KEY) == []


def test_invalid_files_fail_the_validate_job(runner: Runner) -> None:
    agent = runner.repo / "examples" / "agents" / "support.yaml"
    agent.write_text(agent.read_text().replace("llmTemperature: 0.3", "llmTemperature: hot"))
    validate = runner.job("validate")
    assert codes(validate) == [1]
    assert "agents/support.yaml:" in validate[0].stdout
    assert "llmTemperature" in validate[0].stdout


def test_workflow_triggers_jobs_and_permissions() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as a boolean
    assert set(triggers) == {"pull_request", "push", "workflow_dispatch", "schedule"}
    assert triggers["push"]["branches"] == ["main"]
    jobs = workflow["jobs"]
    assert jobs["promote-prod"]["environment"] == "production"
    assert jobs["apply-staging"]["concurrency"]["cancel-in-progress"] is False
    script = workflow["env"]["SIGMAFORM_CI"]
    assert (ROOT / script).resolve() == SCRIPT
    comment = next(s for s in jobs["plan"]["steps"] if s.get("name") == "Comment")
    assert MARKER in comment["with"]["script"]
    assert "updateComment" in comment["with"]["script"]


# --- who can read what: the workflow's text, as GitHub reads it


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
    else:
        yield str(value)


def job_secrets(job: dict[str, Any]) -> set[str]:
    return {m.group(1) for text in strings(job) for m in SECRET_EXPR.finditer(text)}


def github_runs_on(job: dict[str, Any], event: str) -> bool:
    """Whether the job's `if:` lets it run for `event` (on any branch)."""
    condition = str(job.get("if", "true"))
    condition = re.sub(
        r"github\.event_name == '(\w+)'", lambda m: str(m.group(1) == event), condition
    )
    condition = re.sub(r"github\.ref == '[^']*'", "True", condition)
    condition = condition.replace("&&", " and ").replace("||", " or ").replace("true", "True")
    assert re.fullmatch(r"[\sA-Za-z()]*", condition), condition
    assert set(re.findall(r"\w+", condition)) <= {"True", "False", "and", "or", "not"}, condition
    return bool(eval(condition))  # only True/False/and/or/not are left: checked above


def test_workflow_secrets_reach_only_the_jobs_that_need_them() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    jobs: dict[str, dict[str, Any]] = workflow["jobs"]
    text = WORKFLOW.read_text()
    # No secret in the workflow-wide env, nor the whole secrets context handed anywhere.
    assert not SECRET_EXPR.search(str(workflow.get("env", {})))
    assert "secrets: inherit" not in text
    assert not re.search(r"secrets\s*\)|secrets\s*\[|toJSON\(\s*secrets", text)

    seen = {name: job_secrets(job) for name, job in jobs.items()}
    assert seen == {
        "validate": set(),
        "plan": {
            "SIGMAMIND_API_KEY_STAGING",
            "STAGING_SUPPORT_WEBHOOK_SECRET",
            "STAGING_REMINDER_WEBHOOK_SECRET",
            "SIGMAFORM_STATE_URL_READONLY",
        },
        "apply-staging": {
            "SIGMAMIND_API_KEY_STAGING",  # also its test step's: no webhook secret there
            "STAGING_SUPPORT_WEBHOOK_SECRET",
            "STAGING_REMINDER_WEBHOOK_SECRET",
            "SIGMAFORM_STATE_URL",
        },
        "promote-prod": PROD_SECRETS | {"SIGMAFORM_STATE_URL"},
        "drift-staging": {"SIGMAMIND_API_KEY_STAGING", "SIGMAFORM_STATE_URL_READONLY"},
        "drift-prod": {"SIGMAMIND_API_KEY_PROD", "SIGMAFORM_STATE_URL_READONLY"},
    }
    for name, job in jobs.items():
        prod = seen[name] & PROD_SECRETS
        on_pull_request = github_runs_on(job, "pull_request")
        if on_pull_request:
            assert not prod, f"{name} runs for pull requests and reads {prod}"
            assert "SIGMAFORM_STATE_URL" not in seen[name], name  # read-write state
            assert job.get("environment") != "production", name
        if prod:
            # Environment secrets reach a job only through the environment's rules.
            assert job.get("environment") == "production", name
            assert not github_runs_on(job, "push"), name
    # The prod webhook secrets (the ones an apply sends) are for the job that applies, alone.
    assert [n for n, found in seen.items() if "PROD_SUPPORT_WEBHOOK_SECRET" in found] == [
        "promote-prod"
    ]
    assert github_runs_on(jobs["promote-prod"], "workflow_dispatch")
    assert [n for n in jobs if github_runs_on(jobs[n], "pull_request")] == ["validate", "plan"]

    # A step gets the secrets it uses in its own env, never the job's, so the install step
    # and third-party actions see none; a state URL only where sigmaform reads state.
    for name, job in jobs.items():
        assert not SECRET_EXPR.search(str(job.get("env", {}))), name
        for step in job["steps"]:
            found = {m.group(1) for m in SECRET_EXPR.finditer(str(step.get("env", {})))}
            if "uses" in step or str(step.get("run", "")).startswith("pip install"):
                assert not found, f"{name}: {step}"
            if found & {"SIGMAFORM_STATE_URL", "SIGMAFORM_STATE_URL_READONLY"}:
                assert re.search(r" (plan|apply|test|promote|drift) ", step["run"]), step


def test_workflow_pins_actions_and_grants_least_permissions() -> None:
    text = WORKFLOW.read_text()
    workflow = yaml.safe_load(text)
    uses = re.findall(r"^\s*(?:-\s*)?uses:\s*(\S+)(.*)$", text, re.MULTILINE)
    assert len(uses) >= 10
    for action, comment in uses:
        # A tag can be moved to other code; a full commit SHA cannot. The comment says which
        # release it is, for updates.
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), action
        assert re.fullmatch(r"\s+# v\d+\.\d+\.\d+", comment), (action, comment)
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    checkouts = [s for s in steps if s.get("uses", "").startswith("actions/checkout@")]
    assert len(checkouts) == len(workflow["jobs"])
    for step in checkouts:
        # The token would otherwise stay in .git/config for every later step to read.
        assert step["with"]["persist-credentials"] is False

    assert workflow["permissions"] == {"contents": "read"}
    for name, job in workflow["jobs"].items():
        granted = job.get("permissions", workflow["permissions"])
        expected = {"contents": "read"}
        if name == "plan":
            expected["pull-requests"] = "write"  # its comment, and nothing else
        assert granted == expected, name


def test_action_pins_setup_python() -> None:
    action = (ROOT / "action.yml").read_text()
    for line in re.findall(r"^\s*- uses:\s*(.*)$", action, re.MULTILINE):
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+", line), line


def gitlab_runs(job: dict[str, Any], source: str, default_branch: bool) -> str | None:
    """How the job runs in a pipeline of `source` ("never", "on_success", "manual")."""
    rules = job.get("rules", [])
    # GitLab flattens nested lists: a YAML anchor to a list of rules is spliced in.
    rules = [r for item in rules for r in (item if isinstance(item, list) else [item])]
    for rule in rules:
        condition = str(rule.get("if", "true"))
        condition = re.sub(
            r'\$CI_PIPELINE_SOURCE == "(\w+)"', lambda m: str(m.group(1) == source), condition
        )
        condition = condition.replace(
            "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH", str(default_branch)
        )
        condition = condition.replace("&&", " and ").replace("||", " or ")
        assert set(re.findall(r"\S+", condition)) <= {"True", "False", "and", "or"}, condition
        if eval(condition):  # only True/False/and/or are left: checked above
            return str(rule.get("when", "on_success"))
    return "never" if rules else "on_success"


def test_gitlab_prod_variables_reach_only_the_protected_environment() -> None:
    pipeline = yaml.safe_load(GITLAB.read_text())
    jobs = {n: j for n, j in pipeline.items() if isinstance(j, dict) and "script" in j}
    assert not any("PROD" in str(v) for v in pipeline["variables"].values())

    def reads(job: dict[str, Any]) -> set[str]:
        return set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", "\n".join(job["script"])))

    def environment(job: dict[str, Any]) -> str | None:
        return (job.get("environment") or {}).get("name")

    merge_request = [
        n for n, j in jobs.items() if gitlab_runs(j, "merge_request_event", False) != "never"
    ]
    assert merge_request == ["validate", "plan"]
    for name in merge_request:
        assert not {v for v in reads(jobs[name]) if "PROD" in v}, name
        assert environment(jobs[name]) is None, name  # environment-scoped variables stay out
        for line in jobs[name]["script"]:
            if re.search(r" (plan|drift) ", line):
                assert 'SIGMAFORM_STATE_URL="$SIGMAFORM_STATE_URL_READONLY"' in line
    prod = {n for n, j in jobs.items() if {v for v in reads(j) if "PROD" in v}}
    assert prod == {"promote-prod"}
    assert {n for n, j in jobs.items() if environment(j) == "production"} == {
        "promote-prod",
        "drift-prod",
    }
    assert jobs["drift-prod"]["environment"]["action"] == "access"  # reads; never deploys
    promote = jobs["promote-prod"]
    assert gitlab_runs(promote, "push", True) == "manual"
    assert gitlab_runs(promote, "push", False) == "never"
    assert gitlab_runs(promote, "schedule", True) == "never"
    header = GITLAB.read_text().split("\ndefault:", 1)[0]
    assert "Protected, environment scope `production`: SIGMAMIND_API_KEY_PROD" in header


def test_script_usage_and_missing_environment() -> None:
    done = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "usage: sigmaform-ci.sh" in done.stderr
    done = subprocess.run(
        ["bash", str(SCRIPT), "plan"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert "name at least one environment" in done.stderr


def test_gitlab_recipe_runs_the_same_script() -> None:
    pipeline = yaml.safe_load(GITLAB.read_text())
    scripts = "\n".join(
        line
        for job in pipeline.values()
        if isinstance(job, dict) and "script" in job
        for line in job["script"]
    )
    for command in (
        "validate",
        "plan staging",
        "apply staging",
        "test staging",
        "promote prod",
        "drift",
    ):
        assert f'"$SIGMAFORM_CI" {command}' in scripts


# --- action.yml: the composite action's run step, as GitHub runs it (bash -e -o pipefail)


def action_step(name: str) -> dict[str, Any]:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    return dict(next(s for s in action["runs"]["steps"] if s.get("name") == name))


def run_action(tmp_path: Path, command: str, allow_changes: str = "false") -> Step:
    step = action_step("Run sigmaform")
    outputs = tmp_path / "github-output.txt"
    outputs.write_text("")
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(tmp_path),
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_OUTPUT": str(outputs),
        "INPUT_COMMAND": command,
        "INPUT_ALLOW_CHANGES": allow_changes,
    }
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    pairs = (line.split("=", 1) for line in outputs.read_text().splitlines() if "=" in line)
    return Step("action", done.returncode, done.stdout, done.stderr, "", dict(pairs))


@pytest.fixture
def spaced_project(tmp_path: Path) -> Path:
    root = tmp_path / "my agents"  # a space: the command's quotes must group words
    shutil.copytree(ROOT / "examples", root, ignore=shutil.ignore_patterns(".*", "ci"))
    return root


def test_action_keeps_changes_pending_apart_from_failure(
    tmp_path: Path, spaced_project: Path
) -> None:
    plan = '-C "my agents" -e local plan --no-refresh --detailed-exitcode'
    failed = run_action(tmp_path, plan)
    assert failed.code == 2, failed.stderr
    assert failed.outputs["exit-code"] == "2"
    assert failed.outputs["changes"] == "true"
    assert "::error::sigmaform exited 2" in failed.stdout

    allowed = run_action(tmp_path, plan, allow_changes="true")
    assert allowed.code == 0, allowed.stderr
    assert allowed.outputs["exit-code"] == "2"
    assert allowed.outputs["changes"] == "true"
    saved = Path(allowed.outputs["stdout-file"]).read_text()
    assert "Plan: 3 to create, 0 to update, 0 to delete, 0 unchanged." in saved

    ok = run_action(tmp_path, "-C 'my agents' validate")
    assert (ok.code, ok.outputs["exit-code"], ok.outputs["changes"]) == (0, "0", "false")

    error = run_action(tmp_path, '-C "my agents" -e nowhere plan', allow_changes="true")
    assert (error.code, error.outputs["exit-code"], error.outputs["changes"]) == (1, "1", "false")
    assert "nowhere" in error.stderr


@pytest.mark.parametrize(
    "command",
    [
        '-C "my agents" drfit',
        '-C "my agents" -e local plan --detailled-exitcode',
        '-C "my agents" -e local apply --bogus',
        '-C "my agents" -e local plan --parallelism x',
    ],
)
def test_action_fails_on_a_typo_even_when_changes_are_allowed(
    tmp_path: Path, spaced_project: Path, command: str
) -> None:
    # A usage error exits 1, so allow-changes (which lets exit 2 through) cannot hide it.
    result = run_action(tmp_path, command, allow_changes="true")
    assert result.code == 1, result.stdout + result.stderr
    assert (result.outputs["exit-code"], result.outputs["changes"]) == ("1", "false")
    assert "allowed by allow-changes" not in result.stdout
    assert "Traceback" not in result.stderr


def test_script_fails_on_a_sigmaform_usage_error(runner: Runner) -> None:
    # SIGMAFORM_PROJECT_DIR naming a file is a usage error of `-C`: it must fail each
    # step (1), never read as "drift found" (2) or "changes pending".
    outputs = runner.repo.parent / "output.txt"
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(runner.repo.parent / "home"),
        "SIGMAFORM_PROJECT_DIR": "examples/sigmaform.yaml",
        "GITHUB_OUTPUT": str(outputs),
    }
    for args in (["validate"], ["plan", "local"], ["drift", "local"], ["apply", "local"]):
        outputs.write_text("")
        done = subprocess.run(
            ["bash", str(SCRIPT), *args],
            cwd=runner.repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert "examples/sigmaform.yaml" in done.stderr
        assert "Traceback" not in done.stderr
        assert "drift=true" not in outputs.read_text()
        assert "changes=true" not in outputs.read_text()


def test_action_command_is_data_not_shell_code(tmp_path: Path, spaced_project: Path) -> None:
    marker = tmp_path / "pwned"
    result = run_action(tmp_path, f'-C "my agents" validate $(touch {marker}); touch {marker}')
    assert not marker.exists()
    assert result.outputs["exit-code"] == "1"  # sigmaform got odd paths and said so

    unbalanced = run_action(tmp_path, '-C "my agents validate')
    assert unbalanced.code != 0
    assert "No closing quotation" in unbalanced.stderr
    assert unbalanced.outputs == {}


def test_action_installs_the_given_spec_or_its_own_checkout() -> None:
    step = action_step("Install sigmaform")
    assert '"${INPUT_INSTALL:-$ACTION_PATH}"' in step["run"]
    assert step["env"]["ACTION_PATH"] == "${{ github.action_path }}"


def test_staging_is_tested_after_apply_and_its_junit_uploaded() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps = workflow["jobs"]["apply-staging"]["steps"]
    names = [s.get("name") for s in steps]
    assert names.index("Apply staging") < names.index("Test staging")
    assert steps[names.index("Test staging")]["run"] == 'bash "$SIGMAFORM_CI" test staging'
    upload = steps[names.index("Upload test results")]
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert upload["with"]["path"] == "sigmaform-tests.xml"
    assert upload["if"] == "${{ !cancelled() }}"  # a failed gate's report is the useful one
    pipeline = yaml.safe_load(GITLAB.read_text())
    job = pipeline["apply-staging"]
    assert job["script"][-1] == 'bash "$SIGMAFORM_CI" test staging'
    assert job["artifacts"] == {"when": "always", "reports": {"junit": "sigmaform-tests.xml"}}
