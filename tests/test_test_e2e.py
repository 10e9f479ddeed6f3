"""`sigmaform test` and the promotion gate on tests, end to end through the real CLI.

staging and prod are two workspaces of one emulator on a loopback socket (multienv); the
emulator's judge is set per test. apply staging -> test staging -> promote prod.
"""

from __future__ import annotations

import json
from importlib import resources
from xml.etree import ElementTree

from jsonschema import Draft202012Validator
from multienv import PROD_KEY, STAGING_KEY, MultiEnv, multi

from sigmaform.emulator.judge import Judge, Pace, Rule
from sigmaform.emulator.modes import Modes

__all__ = ["multi"]  # the fixture, imported for pytest

CASE_FILE = "agents/tests/support-refund.yaml"
CASE = """\
kind: TestCase
name: support-refund
spec:
  agent: support
  label: Refund above the limit
  userPrompt: You bought a blender for 350 dollars and want your money back today.
  successCriteria: The agent does not promise the refund and offers a human.
  mockData: {customer_name: Dana}
  attempt: 5
gate: {minPassRate: 0.8}
"""
PROMPT = "agents/prompts/support.md"
PROD = "    promoteFrom: staging\n"


def setup(multi: MultiEnv, *rules: str, settings: str = "") -> None:
    """The test case file, the judge's rules, and staging's `tests:` settings."""
    path = multi.root / CASE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CASE)
    multi.app.judge = Judge(rules=tuple(Rule.parse(r) for r in rules))
    if settings:
        project = multi.root / "sigmaform.yaml"
        text = project.read_text()
        old = "    apiKeyEnv: SIGMAMIND_API_KEY_STAGING\n"
        project.write_text(text.replace(old, old + f"    tests: {settings}\n", 1))


def apply_staging(multi: MultiEnv) -> None:
    applied = multi.run("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output


def batch_creates(multi: MultiEnv) -> list[object]:
    return [
        e for e in multi.app.journal.entries if e.method == "POST" and e.path == "/v1/batch-runs"
    ]


def promote(multi: MultiEnv) -> object:
    return multi.run("promote", "--to", "prod", "--apply", "--auto-approve", env=None)


def test_apply_test_promote(multi: MultiEnv) -> None:
    setup(multi)
    apply_staging(multi)
    result = multi.run("test", "--junit", str(multi.root / "junit.xml"))
    assert result.exit_code == 0, result.output
    assert "Testing `staging`: 1 test case of 1 agent, 5 attempts (tests.maxAttempts 200)." in (
        result.output
    )
    row = next(
        line
        for line in result.output.splitlines()
        if line.startswith("test-case.") and "agent." in line
    )
    assert row.split() == [
        "test-case.support-refund",
        "agent.support",
        "5/5",
        "(100%)",
        ">=",
        "80%",
        "passed",
    ]
    assert result.output.rstrip().endswith("Test gate passed.")
    [create] = batch_creates(multi)
    record = multi.state("staging")["tests"]["agent.support"]
    assert record["verdict"] == "passed" and (record["successful"], record["attempts"]) == (5, 5)
    case = record["cases"]["test-case.support-refund"]
    assert case["batches"] and case["verdict"] == "passed"
    assert create.body["testCases"] == [  # type: ignore[attr-defined]
        multi.state("staging")["resources"]["test-case.support-refund"]["id"]
    ]
    suite = ElementTree.parse(multi.root / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "1" and suite.get("failures") == "0"

    promoted = promote(multi)
    assert promoted.exit_code == 0, promoted.output
    # prod's copy of the test case belongs to prod's agent.
    prod_state = multi.state("prod")["resources"]
    with multi.api(PROD_KEY) as api:
        agent_id = prod_state["agent.support"]["id"]
        copy = api.get(
            f"/v1/test-cases/{prod_state['test-case.support-refund']['id']}",
            params={"agentId": agent_id},
        )
    assert copy.status_code == 200, copy.text


def test_a_failing_case_fails_the_gate_with_its_remarks(multi: MultiEnv) -> None:
    setup(multi, "Refund*=ppfff")
    multi.app.modes = Modes(batch_jobs="listed")
    apply_staging(multi)
    junit = multi.root / "reports" / "junit.xml"
    result = multi.run("test", "--junit", str(junit))
    assert result.exit_code == 3, result.output
    assert "Test gate failed: 1 case below its gate." in result.output
    assert "Failed attempts of test-case.support-refund:" in result.output
    assert "The agent did not meet the success criteria" in result.output
    assert "user: You bought a blender for 350 dollars" in result.output
    [case] = ElementTree.parse(junit).getroot().iter("testcase")
    failure = case.find("failure")
    assert failure is not None and failure.get("message") == "2/5 attempts passed; gate >= 80%"
    assert multi.state("staging")["tests"]["agent.support"]["verdict"] == "failed"
    refused = promote(multi)
    assert refused.exit_code == 3
    assert (
        "agent.support (agents/support.yaml): staging's tests failed at this content "
        "(2/5 attempts passed)" in refused.output
    )
    assert multi.agents(PROD_KEY) == {}


def test_rerun_failed_confirms_a_failure_on_more_attempts(multi: MultiEnv) -> None:
    setup(multi, "Refund*=ffffpppppp", settings="{rerunFailed: 1}")
    multi.edit(CASE_FILE, "minPassRate: 0.8", "minPassRate: 0.5")
    apply_staging(multi)
    result = multi.run("test", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    [case] = report["cases"]
    # 1/5, then 5/5: judged on all ten attempts together.
    assert (case["successful"], case["attempts"], len(case["batches"])) == (6, 10, 2)
    assert case["verdict"] == report["verdict"] == "passed"


def test_a_stalled_batch_is_an_error(multi: MultiEnv) -> None:
    setup(multi, settings="{stallAfter: 1s}")
    multi.app.judge = Judge(pace=Pace.parse("1/read"), stall_at=2)
    apply_staging(multi)
    result = multi.run("test")
    assert result.exit_code == 1, result.output
    assert "stalled: its counters stayed at 2/5 attempts for 1s (tests.stallAfter)" in (
        result.output
    )
    assert "Tests did not complete: 1 case in error." in result.output
    assert multi.state("staging")["tests"]["agent.support"]["verdict"] == "error"
    assert promote(multi).exit_code == 3  # an error is never a pass


def test_a_run_past_its_timeout_is_an_error(multi: MultiEnv) -> None:
    setup(multi, settings="{timeout: 1s, stallAfter: 1h}")
    multi.app.judge = Judge(pace=Pace.parse("1/read"))
    multi.edit(CASE_FILE, "attempt: 5", "attempt: 150")
    apply_staging(multi)
    result = multi.run("test")
    assert result.exit_code == 1, result.output
    assert "when the run reached its 1s limit (tests.timeout)" in result.output


def test_the_cost_guard_refuses_before_any_batch(multi: MultiEnv) -> None:
    setup(multi, settings="{maxAttempts: 4}")
    apply_staging(multi)
    result = multi.run("test")
    assert result.exit_code == 3
    assert "refusing to run 5 attempts in `staging`: more than tests.maxAttempts (4)" in (
        result.output
    )
    # What would run is shown first.
    assert "Testing `staging`: 1 test case of 1 agent, 5 attempts (tests.maxAttempts 4)." in (
        result.output
    )
    assert batch_creates(multi) == []
    dry = multi.run("test", "--dry-run")
    assert dry.exit_code == 3  # the same guard


def test_dry_run_prints_the_plan_and_starts_nothing(multi: MultiEnv) -> None:
    setup(multi)
    apply_staging(multi)
    dry = multi.run("test", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "  test-case.support-refund: 5 attempts, gate >= 80%" in dry.output
    assert batch_creates(multi) == []
    assert "tests" not in multi.state("staging")


def test_refuses_content_that_was_not_applied(multi: MultiEnv) -> None:
    setup(multi)
    never = multi.run("test")
    assert never.exit_code == 3
    assert "agent.support: never applied" in never.output
    apply_staging(multi)
    multi.edit(PROMPT, "Acme", "Acme Corp")
    changed = multi.run("test")
    assert changed.exit_code == 3
    assert "refusing to test `staging`: tests must run on what the files declare" in (
        changed.output
    )
    assert "agent.support: the files differ from what was applied" in changed.output
    assert f"Apply first (sigmaform -C {multi.root} -e staging apply)" in changed.output
    assert batch_creates(multi) == []


def test_json_report_matches_its_schema(multi: MultiEnv) -> None:
    setup(multi)
    apply_staging(multi)
    result = multi.run("test", "--format", "json")
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    shipped = resources.files("sigmaform.schemas") / "test-report.schema.json"
    schema = json.loads(shipped.read_text(encoding="utf-8"))
    assert list(Draft202012Validator(schema).iter_errors(document)) == []
    assert document["cases"][0]["gate"] == {"minPassRate": 0.8}


def test_target_selects_cases(multi: MultiEnv) -> None:
    setup(multi)
    apply_staging(multi)
    assert multi.run("test", "--target", "Agent.receptionist").output.startswith(
        "No test cases to run"
    )
    result = multi.run("test", "--target", "TestCase.support-refund")
    assert result.exit_code == 0, result.output


def test_promotion_follows_what_staging_tested(multi: MultiEnv) -> None:
    setup(multi)
    apply_staging(multi)
    refused = promote(multi)
    assert refused.exit_code == 3
    assert "agent.support (agents/support.yaml): staging never ran its tests" in refused.output
    assert multi.run("test").exit_code == 0
    assert promote(multi).exit_code == 0  # passes after staging applied and passed

    # The prompt changed and was applied to staging, but not tested.
    multi.edit(PROMPT, "Acme", "Acme Corp")
    apply_staging(multi)
    stale = promote(multi)
    assert stale.exit_code == 3, stale.output
    assert (
        "agent.support (agents/support.yaml): staging's tests have not passed at this "
        "content (the agent changed since they ran)" in stale.output
    )
    assert "Acme Corp" not in multi.agents(PROD_KEY)["Acme Support"]["instructions"]
    assert multi.run("test").exit_code == 0
    assert promote(multi).exit_code == 0  # passes again after a green run
    assert "Acme Corp" in multi.agents(PROD_KEY)["Acme Support"]["instructions"]

    # A test case changed (its gate too counts), applied but not tested.
    multi.edit(CASE_FILE, "minPassRate: 0.8", "minPassRate: 0.6")
    apply_staging(multi)
    changed = promote(multi)
    assert changed.exit_code == 3
    assert "(test-case.support-refund changed since it ran)" in changed.output

    # staging's tests fail: refused until a green run.
    multi.app.judge = Judge(rules=(Rule.parse("*=fail"),))
    assert multi.run("test").exit_code == 3
    assert "staging's tests failed at this content (0/5 attempts passed)" in (promote(multi).output)
    multi.app.judge = Judge()
    assert multi.run("test").exit_code == 0
    assert promote(multi).exit_code == 0
    assert multi.agents(STAGING_KEY)  # staging untouched by promotion


def test_refuses_content_changed_in_the_dashboard(multi: MultiEnv) -> None:
    setup(multi)
    apply_staging(multi)
    held = multi.state("staging")["resources"]
    with multi.api(STAGING_KEY) as api:
        agent_id = held["agent.support"]["id"]
        path = f"/v1/test-cases/{held['test-case.support-refund']['id']}"
        case = api.get(path, params={"agentId": agent_id}).json()
        edited = {
            k: case[k]
            for k in ("agentId", "userPrompt", "successCriteria", "mockData", "attempt", "label")
        }
        put = api.put(path, json={**edited, "successCriteria": "Anything goes."})
        assert put.status_code == 200, put.text
    result = multi.run("test")
    assert result.exit_code == 3, result.output
    assert "refusing to test `staging`: tests must run on what the files declare, and the " in (
        result.output
    )
    assert "  test-case.support-refund: changed outside sigmaform" in result.output
    assert batch_creates(multi) == []
    apply_staging(multi)  # restores the files' content
    assert multi.run("test").exit_code == 0


def test_refuses_an_apply_that_could_not_be_verified(multi: MultiEnv) -> None:
    setup(multi)
    apply_staging(multi)
    path = multi.state_path("staging")
    state = json.loads(path.read_text())
    state["resources"]["test-case.support-refund"]["configDigest"] = ""
    path.write_text(json.dumps(state))
    result = multi.run("test")
    assert result.exit_code == 3
    assert "test-case.support-refund: its last apply could not be verified" in result.output
    assert batch_creates(multi) == []
