"""`validate --format github`: GitHub Actions workflow commands, escaped, same exit codes."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from sigmaform.annotations import annotation, escape_data, escape_property
from sigmaform.cli import cli
from sigmaform.errors import Problem

# A property value may not hold `,` or `:` raw; the message may not hold CR or LF raw.
ANNOTATION = re.compile(
    r"^::(error|warning) (file=[^,:\r\n]+,(line=\d+,(col=\d+,)?)?)?title=sigmaform::[^\r\n]+$"
)


def _project(tmp_path: Path, repo_root: Path) -> Path:
    root = tmp_path / "repo" / "infra"
    shutil.copytree(repo_root / "examples", root, ignore=shutil.ignore_patterns(".sigmaform"))
    return root


# A literal webhook secret is a warning only where every environment is `local:` (elsewhere
# it is an error): a resource limited to the local environment carries one.
LOCAL_ONLY = """kind: Agent
name: scratch
only: [local]
spec:
  agentName: Scratch
  agentSettings:
    webhooks:
      - name: events
        url: https://hooks.local.example/scratch
        secret: hunter2
        events: [conversation_ended]
"""


def _with_literal_secret(root: Path) -> None:
    (root / "agents" / "scratch.yaml").write_text(LOCAL_ONLY)


def _validate(cwd: Path, *args: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, list[str]]:
    monkeypatch.chdir(cwd)
    result = CliRunner().invoke(cli, [*args, "validate", "--format", "github"])
    return result.exit_code, result.stdout.splitlines()


def test_errors_and_warnings_are_annotations_on_repository_paths(
    tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path, repo_root)
    support = root / "agents" / "support.yaml"
    text = support.read_text().replace("llmTemperature: 0.3", "llmTemperature: hot")
    support.write_text(text)
    _with_literal_secret(root)
    code, lines = _validate(tmp_path / "repo", "-C", "infra", monkeypatch=monkeypatch)
    assert code == 1
    *annotations, summary = lines
    assert summary == "1 error, 1 warning"
    assert all(ANNOTATION.match(line) for line in annotations), annotations
    error = next(line for line in annotations if line.startswith("::error "))
    # Paths from the repository root (the job's directory), where GitHub resolves them.
    line = text.splitlines().index("    llmTemperature: hot") + 1
    assert error.startswith(f"::error file=infra/agents/support.yaml,line={line},col=21,")
    assert error.endswith("::spec.agentSettings.llmTemperature: expected number, got string")
    warning = next(line for line in annotations if line.startswith("::warning "))
    assert "file=infra/agents/scratch.yaml" in warning
    assert "a literal secret in a file ends up in git" in warning
    assert "hunter2" not in "\n".join(lines)


def test_warnings_alone_exit_0(
    tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path, repo_root)
    _with_literal_secret(root)
    code, lines = _validate(root, monkeypatch=monkeypatch)
    assert code == 0
    assert lines[0].startswith("::warning file=agents/scratch.yaml,line=")
    assert lines[-1] == "OK: 5 resources valid (1 warning)"


def test_a_valid_project_prints_only_the_summary(
    tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, lines = _validate(_project(tmp_path, repo_root), monkeypatch=monkeypatch)
    assert (code, lines) == (0, ["OK: 4 resources valid"])


def test_message_escaping() -> None:
    assert escape_data("100% sure\r\nnext") == "100%25 sure%0D%0Anext"
    assert escape_data("a\x1b[31mred") == "a\\x1b[31mred"  # no raw terminal escape
    assert escape_property("a,b:c%d\ne") == "a%2Cb%3Ac%25d%0Ae"


def test_a_hostile_file_name_and_message_cannot_end_the_command_early() -> None:
    problem = Problem(
        "agents/x,line=1::y%.yaml",
        line=3,
        column=5,
        path="spec.agentName",
        message="bad\n::error::injected",
    )
    line = annotation(problem)
    assert ANNOTATION.match(line)
    assert line == (
        "::error file=agents/x%2Cline=1%3A%3Ay%25.yaml,line=3,col=5,title=sigmaform"
        "::spec.agentName: bad%0A::error::injected"
    )


def test_a_problem_without_a_place_has_no_file_property() -> None:
    line = annotation(Problem("", message="no sigmaform.yaml", severity="error"))
    assert line == "::error title=sigmaform::no sigmaform.yaml"
    assert ANNOTATION.match(line)
