"""The bad-input corpus: every case fails with exit 1, file:line, a clear message, no traceback.

Each case is `tests/bad_inputs/cases/<name>/` laid over a copy of `tests/bad_inputs/base/`
(plus, for the few inputs too big or too binary to keep as files, a generator below).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from sigmaform.cli import cli

CORPUS = Path(__file__).resolve().parent / "bad_inputs"
AGENT = "agents/case.yaml"
CASE = "tests/case.yaml"
PROJECT = "sigmaform.yaml"


@dataclass(frozen=True)
class Case:
    """What one bad input must produce.

    `file` and `line` locate the problem (`line=None`: any line; `line=0`: no line makes
    sense, so only the file is named); every string in `expect` must be on that same line of
    output (case-insensitive); `absent` must appear nowhere.
    """

    file: str
    line: int | None
    expect: tuple[str, ...]
    args: tuple[str, ...] = ("validate",)
    absent: tuple[str, ...] = ()
    generate: Callable[[Path], None] | None = field(default=None, compare=False)


def _big_prompt(root: Path) -> None:
    prompt = "You are a patient assistant. Answer {{customer_name}} clearly.\n" * 80_000
    assert len(prompt) > 5_000_000
    (root / "agents/prompts/big.md").write_text(prompt, encoding="utf-8")
    (root / AGENT).write_text(
        "kind: Agent\nname: case\nspec:\n  agentName: Big\n"
        "  instructions: !file prompts/big.md\n"
        "  agentSettings:\n    llmModel: gpt-99\n",
        encoding="utf-8",
    )


def _binary_garbage(root: Path) -> None:
    # Deterministic noise: every byte value, shuffled by a fixed multiplier.
    (root / AGENT).write_bytes(bytes((i * 167 + 13) % 256 for i in range(4096)))


def _latin1(root: Path) -> None:
    (root / AGENT).write_bytes(b"kind: Agent\nname: case\nspec:\n  agentName: Caf\xe9 Bot\n")


def _nul_byte(root: Path) -> None:
    (root / AGENT).write_bytes(b"kind: Agent\nname: case\nspec:\n  agentName: A\x00B\n")


def _huge_integer(root: Path) -> None:
    (root / AGENT).write_text(
        "kind: Agent\nname: case\nspec:\n  agentName: Case\n  agentSettings:\n"
        "    maxCallDuration: " + "9" * 5_000 + "\n",
        encoding="utf-8",
    )


def _fifo_resource(root: Path) -> None:
    # Reading a FIFO blocks until a writer comes: validate hung forever.
    os.mkfifo(root / AGENT)


def _fifo_prompt(root: Path) -> None:
    os.mkfifo(root / "agents/prompts/case.md")
    (root / AGENT).write_text(
        "kind: Agent\nname: case\nspec:\n  agentName: Case\n"
        "  instructions: !file prompts/case.md\n",
        encoding="utf-8",
    )


def _outside(root: Path) -> Path:
    """A valid agent file next to (outside) the project directory."""
    target = root.parent / "outside.yaml"
    target.write_text("kind: Agent\nname: outside\nspec:\n  agentName: Outside\n")
    return target


def _symlink_outside(root: Path) -> None:
    (root / AGENT).symlink_to(_outside(root))


def _symlink_loop_prompt(root: Path) -> None:
    (root / "agents/prompts/a.md").symlink_to("b.md")
    (root / "agents/prompts/b.md").symlink_to("a.md")
    (root / AGENT).write_text(
        "kind: Agent\nname: case\nspec:\n  agentName: Case\n  instructions: !file prompts/a.md\n",
        encoding="utf-8",
    )


def _symlink_loop_resource(root: Path) -> None:
    (root / "agents/loop.yaml").symlink_to("case.yaml")
    (root / AGENT).symlink_to("loop.yaml")


def _glob_outside(root: Path) -> None:
    _outside(root)


CASES: dict[str, Case] = {
    # Broken YAML
    # the line where the quote opens, not the end of the file
    "yaml-unclosed-quote": Case(AGENT, 4, ("that starts here",)),
    "yaml-bad-indent": Case(AGENT, 5, ("mapping values are not allowed",)),
    "yaml-unclosed-bracket": Case(AGENT, None, ("flow sequence",)),
    "yaml-duplicate-key": Case(AGENT, 6, ("duplicate key", "welcomeMessage", "line 5")),
    "yaml-tab-indent": Case(AGENT, 4, ("tab",)),
    "yaml-python-tag": Case(AGENT, 5, ("!!python/object/apply:os.system", "not allowed")),
    "yaml-alias-bomb": Case(AGENT, None, ("aliases expand",)),
    "yaml-empty-file": Case(AGENT, 0, ("empty",)),
    "yaml-comments-only": Case(AGENT, 0, ("empty",)),
    "yaml-not-a-mapping": Case(AGENT, 1, ("mapping",)),
    "yaml-binary-garbage": Case(AGENT, None, ("UTF-8",), generate=_binary_garbage),
    "yaml-not-utf8": Case(AGENT, 4, ("UTF-8",), generate=_latin1),
    "yaml-nul-byte": Case(AGENT, 4, ("U+0000",), generate=_nul_byte),
    # YAML 1.2: `1:30` is text (YAML 1.1 made it 90), so a number field refuses it
    "yaml-12-sexagesimal": Case(AGENT, 7, ("maxCallDuration", "expected number, got string")),
    "value-nul-escape": Case(AGENT, 4, ("NUL character",)),
    # Numbers JSON cannot carry: NaN was sent and the plan never settled
    "number-nan": Case(AGENT, 7, (".nan", "not a finite number"), args=("plan", "--no-refresh")),
    "number-overflows-to-infinity": Case(AGENT, 6, ("1e999", "not a finite number")),
    "number-huge-integer": Case(AGENT, 6, ("5000 digits", "too large"), generate=_huge_integer),
    # Wrong types, unknown and misspelt fields
    "type-string-for-number": Case(AGENT, 7, ("llmTemperature", "number")),
    "type-list-for-object": Case(AGENT, 5, ("agentSettings", "object")),
    "type-number-for-string": Case(AGENT, 4, ("agentName", "string")),
    "type-spec-is-list": Case(AGENT, 4, ("spec", "object")),
    "unknown-field": Case(AGENT, 5, ("unknown field", "colour")),
    "misspelt-setting": Case(AGENT, 7, ("llmModle", "did you mean", "llmModel")),
    "misspelt-top-level": Case(AGENT, 3, ("spce", "did you mean", "spec")),
    # The Create Agent page's names: the message names the canonical field
    "create-name-enable": Case(
        AGENT, 7, ("enablePostConversationInsights", "enablePostConversationAnalysis")
    ),
    "create-name-model": Case(
        AGENT, 7, ("postConversationInsightsLlmModel", "postConversationAnalysisLlmModel")
    ),
    "create-name-list": Case(AGENT, 7, ("postConversationInsights", "postConversationAnalysis")),
    "create-name-item": Case(AGENT, 9, ("analysisInstructions", "insightInstructions")),
    # Enums and limits
    "bad-welcome-message-type": Case(AGENT, 5, ("welcomeMessageType", "dynamic")),
    "bad-webhook-event": Case(AGENT, 10, ("conversation_analyzed",)),
    "bad-webhook-url": Case(AGENT, 9, ("url", "ftp://x.example/h")),
    "bad-llm-model": Case(AGENT, 7, ("llmModel", "gpt-3.5-turbo")),
    "bad-temperature-range": Case(AGENT, 7, ("llmTemperature", "2")),
    "agent-name-129": Case(AGENT, 4, ("agentName", "128")),
    "transfer-to-not-e164": Case(AGENT, 7, ("transferTo", "0044 20 7946 0958")),
    # ECMA-262 `$`: a trailing newline does not match (Python's `$` alone would)
    "transfer-to-trailing-newline": Case(
        AGENT, 7, ("transferTo", "does not match"), args=("plan", "--no-refresh")
    ),
    "phone-number-not-e164": Case("numbers/case.yaml", 4, ("phoneNumber", "415-555-0123")),
    "chat-nested-variable": Case("chats/case.yaml", 7, ("dynamicVariables", "customer")),
    "second-document-bad": Case(AGENT, 10, ("welcomeMessageType", "sometimes")),
    "big-prompt-with-one-error": Case(AGENT, 7, ("llmModel", "gpt-99"), generate=_big_prompt),
    # Values: ${...} and !file
    # validate treats an unset `${env.X}` as a placeholder; plan (which would send it) names it
    "missing-env-variable": Case(AGENT, 5, ("ACME_REGION_UNSET",), args=("plan", "--no-refresh")),
    "unknown-var": Case(AGENT, 5, ("var.nope",)),
    "unknown-var-no-pattern-noise": Case(
        AGENT, 7, ("var.support_line",), absent=("does not match",)
    ),
    "var-mapping-in-text": Case(AGENT, 5, ("var.team", "mapping")),
    # `${env.X}` values are printed in plans and stored in state: never a credential
    "env-names-api-key": Case(
        AGENT, 5, ("SIGMAMIND_API_KEY", "API key", "refused"), args=("plan", "--no-refresh")
    ),
    "env-names-environment-api-key": Case(AGENT, 7, ("ACME_PROD_KEY", "environment `prod`")),
    "env-names-state-url": Case(AGENT, 5, ("ACME_STATE_URL", "state database URL")),
    "env-also-a-secret": Case(
        AGENT,
        9,
        ("BASE_SECRET", "also used as", "secret.BASE_SECRET"),
        args=("plan", "--no-refresh"),
    ),
    "literal-secret-outside-local": Case(
        AGENT, 9, ("literal secret", "staging"), absent=("whsec-case-literal-0042",)
    ),
    # validate runs offline without secrets; plan (which would send them) names the variable.
    "missing-secret": Case(AGENT, 10, ("CASE_SECRET_UNSET",), args=("plan", "--no-refresh")),
    "file-escapes-project": Case(AGENT, 5, ("../../etc/passwd", "outside")),
    "file-missing": Case(AGENT, 5, ("prompts/nope.md",)),
    # Resources and references
    "duplicate-resource-name": Case(AGENT, 2, ("duplicate", "`base`", "agents/base.yaml:2")),
    # rendered with vars, per environment: "Base ${var.suffix}" is base's agentName too
    "duplicate-agent-name": Case(
        AGENT,
        4,
        ("agentName", '"Base (local)"', "agents/base.yaml:4"),
        args=("plan", "--no-refresh"),
    ),
    "duplicate-phone-number": Case(
        "numbers/case.yaml", 10, ("phoneNumber", "+14155550123", "`main`")
    ),
    "duplicate-chat": Case("chats/case.yaml", 10, ("chatId", "`demo`")),
    "duplicate-webhook-name": Case(AGENT, 9, ("webhooks[2].name", "duplicate webhook name")),
    "only-empty": Case(AGENT, 3, ("only: []",)),
    # the broken file's own error, and no "no Agent named `case`" in the other file
    "reference-to-broken-file": Case(AGENT, 4, ("that starts here",), absent=("no Agent named",)),
    "override-unknown-env-unknown-key": Case(AGENT, 8, ("llmModle", "did you mean", "llmModel")),
    # only regular files inside the project are read
    "fifo-resource": Case(AGENT, 0, ("not a regular file",), generate=_fifo_resource),
    "fifo-prompt": Case(AGENT, 5, ("prompts/case.md", "not a regular file"), generate=_fifo_prompt),
    "symlink-outside": Case(AGENT, 0, ("outside the project",), generate=_symlink_outside),
    "symlink-loop-prompt": Case(
        AGENT, 5, ("prompts/a.md", "symlink loop"), generate=_symlink_loop_prompt
    ),
    "symlink-loop-resource": Case(AGENT, 0, ("cannot read",), generate=_symlink_loop_resource),
    "unknown-agent-reference": Case("numbers/case.yaml", 5, ("inboundAgent", "ghost")),
    "chat-unknown-agent": Case("chats/case.yaml", 5, ("spec.agent", "phantom")),
    # TestCase: the map, the attempts, the gate, the agent it belongs to
    "test-case-mock-data-not-a-map": Case(CASE, 7, ("spec.mockData", "expected object")),
    "test-case-mock-value-not-text": Case(CASE, 8, ("mockData.amount", "expected string")),
    "test-case-attempt-zero": Case(CASE, 7, ("spec.attempt", ">= 1"), args=("plan",)),
    "test-case-gate-both": Case(CASE, 7, ("gate", "`minPassRate`, `required`, not both")),
    "test-case-gate-rate-above-one": Case(CASE, 8, ("gate.minPassRate", "<= 1"), args=("plan",)),
    "test-case-unknown-agent": Case(
        CASE, 4, ("spec.agent", "phantom"), args=("apply", "--auto-approve")
    ),
    "gate-on-an-agent": Case(AGENT, 5, ("unknown field `gate`",)),
    "test-case-no-success-criteria": Case(CASE, 4, ("missing required field", "successCriteria")),
    "only-unknown-env": Case(AGENT, 3, ("unknown environment", "qa")),
    "override-unknown-env": Case(AGENT, 6, ("unknown environment", "qa")),
    "unknown-kind": Case(AGENT, 1, ("Agnet", "Agent")),
    "missing-kind": Case(AGENT, 1, ("kind",)),
    "bad-name-pattern": Case(AGENT, 2, ("Case_Agent",)),
    "missing-name": Case(AGENT, 1, ("name",)),
    "missing-spec": Case(AGENT, 1, ("spec",)),
    # The project file
    "project-unknown-key": Case(PROJECT, 3, ("unknown", "colour")),
    "project-misspelt-key": Case(PROJECT, 3, ("enviroments", "did you mean", "environments")),
    "project-version-2": Case(PROJECT, 1, ("version",)),
    "project-promote-from-unknown": Case(
        PROJECT, 10, ("promoteFrom", "unknown environment", "stagin")
    ),
    "project-broken-yaml": Case(PROJECT, None, ("flow mapping",)),
    "project-bad-base-url": Case(PROJECT, 5, ("baseUrl",)),
    "project-plain-http-base-url": Case(PROJECT, 5, ("baseUrl", "plain http://")),
    "project-glob-matches-nothing": Case(PROJECT, 2, ("agent/**/*.yaml", "matches no file")),
    "project-glob-outside": Case(
        PROJECT, 2, ("../*.yaml", "outside the project"), generate=_glob_outside
    ),
    "project-literal-api-key": Case(PROJECT, 9, ("apiKeyEnv",), absent=("sk-live-4f9a8b7c6d5e",)),
    "project-no-environments": Case(PROJECT, 3, ("environments",)),
    "project-bad-safety": Case(PROJECT, 9, ("maxChangePercent",)),
    "missing-project-file": Case(PROJECT, 0, ("no sigmaform.yaml", "init`)")),
    "several-envs-without-e": Case(
        "", 0, ("-e", "local", "staging"), args=("plan", "--no-refresh")
    ),
}

# A few cases again in a real process: `python -m sigmaform` must not print a traceback either.
SUBPROCESS_CASES = (
    "fifo-resource",
    "fifo-prompt",
    "yaml-python-tag",
    "yaml-alias-bomb",
    "yaml-binary-garbage",
    "missing-project-file",
    "big-prompt-with-one-error",
)


def build(name: str, root: Path) -> Path:
    """The case's project: base, then the case's files, then its generator."""
    shutil.copytree(CORPUS / "base", root)
    case_dir = CORPUS / "cases" / name
    if case_dir.is_dir():
        for source in case_dir.rglob("*"):
            if source.is_file() and source.name != "DELETE":
                target = root / source.relative_to(case_dir)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
        deletions = case_dir / "DELETE"
        if deletions.exists():
            for line in deletions.read_text().split():
                (root / line).unlink()
    generate = CASES[name].generate
    if generate is not None:
        generate(root)
    return root


def check(case: Case, code: int, output: str, root: Path | None = None) -> None:
    assert "Traceback" not in output, output
    if root is not None and case.args[0] in ("plan", "apply"):
        journal = root / ".sigmaform/emulator/journal.jsonl"
        assert not journal.exists() or not journal.read_text().strip(), "a request was sent"
    assert code == 1, output
    for text in case.absent:
        assert text not in output
    if case.line is None:
        where = re.escape(case.file) + r":\d+:\d+: "
    elif case.line:
        where = re.escape(f"{case.file}:{case.line}:") + r"\d+: "
    else:
        where = re.escape(case.file)
    lines = [line for line in output.splitlines() if re.search(where, line)]
    matching = [line for line in lines if all(text.lower() in line.lower() for text in case.expect)]
    assert matching, f"no line at {where!r} containing {case.expect}:\n{output}"


def test_corpus_is_big_enough_and_every_case_has_files_or_a_generator() -> None:
    assert len(CASES) >= 45
    on_disk = {p.name for p in (CORPUS / "cases").iterdir()}
    generated = {name for name, case in CASES.items() if case.generate}
    assert on_disk | generated == set(CASES), on_disk ^ set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    root = build(name, tmp_path / "project")
    result = CliRunner().invoke(cli, ["-C", str(root), *case.args])
    check(case, result.exit_code, result.output, root)


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_bad_input_in_a_real_process(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    root = build(name, tmp_path / "project")
    done = subprocess.run(
        [sys.executable, "-m", "sigmaform", "-C", str(root), *case.args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    check(case, done.returncode, done.stdout + done.stderr, root)


def test_every_problem_at_once(tmp_path: Path) -> None:
    """Problems in several files come out together, not one per run."""
    root = build("unknown-field", tmp_path / "project")
    (root / "agents/other.yaml").write_text(
        "kind: Agent\nname: other\nspec:\n  agentName: Other\n  welcomeMessageType: dynamic\n"
    )
    result = CliRunner().invoke(cli, ["-C", str(root), "validate"])
    assert result.exit_code == 1
    assert re.search(r"agents/case\.yaml:5:\d+: .*colour", result.output)
    assert re.search(r"agents/other\.yaml:5:\d+: .*welcomeMessageType", result.output)


def test_the_base_project_is_valid(tmp_path: Path) -> None:
    root = tmp_path / "project"
    shutil.copytree(CORPUS / "base", root)
    result = CliRunner().invoke(cli, ["-C", str(root), "validate"])
    assert result.exit_code == 0, result.output
