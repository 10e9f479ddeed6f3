"""Shell completion of environments, addresses and schema kinds, through click's protocol."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import Project


def complete(cwd: Path, line: str) -> tuple[list[str], str]:
    """What bash completion offers for the last word of `line` (as the shell asks it)."""
    words = line.split(" ")
    result = subprocess.run(
        [sys.executable, "-m", "sigmaform"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "_SIGMAFORM_COMPLETE": "bash_complete",
            "COMP_WORDS": line,
            "COMP_CWORD": str(len(words) - 1),
        },
    )
    assert result.returncode == 0, result.stderr
    offered = [item.split(",", 1)[1] for item in result.stdout.splitlines() if item]
    return offered, result.stderr


def test_environment_names(example: Project) -> None:
    offered, _ = complete(example.root, "sigmaform -e ")
    assert offered == ["local", "prod", "staging"]
    assert complete(example.root, "sigmaform -e st")[0] == ["staging"]
    # From elsewhere, through -C.
    assert complete(example.root.parent, f"sigmaform -C {example.root} -e p")[0] == ["prod"]


def test_target_addresses_of_the_environment(example: Project) -> None:
    offered, _ = complete(example.root, "sigmaform -e local plan --target ")
    # `only: [staging, prod]`: the phone number is not one of local's resources.
    assert offered == ["agent.appointment-reminder", "agent.receptionist", "agent.support"]
    everywhere, _ = complete(example.root, "sigmaform apply --target p")
    assert everywhere == ["phone-number.main-line"]
    capitalised, _ = complete(example.root, "sigmaform -e prod render --target Ph")
    assert capitalised == ["PhoneNumber.main-line"]


def test_state_addresses(example: Project) -> None:
    assert example.run("apply", "--auto-approve").exit_code == 0
    offered, _ = complete(example.root, "sigmaform -e local state show agent.s")
    assert offered == ["agent.support"]
    assert "agent.receptionist" in complete(example.root, "sigmaform -e local state rm ")[0]


def test_schema_kinds(example: Project) -> None:
    offered, _ = complete(example.root, "sigmaform schema ")
    assert {"agent", "phone-number", "chat", "plan", "apply-event"} <= set(offered)
    assert complete(example.root, "sigmaform schema ph")[0] == ["phone-number"]


def test_a_broken_project_offers_nothing_and_stays_quiet(example: Project) -> None:
    (example.root / "sigmaform.yaml").write_text("version: [unclosed\n")
    offered, stderr = complete(example.root, "sigmaform -e ")
    assert offered == []
    assert stderr == ""
    assert complete(example.root, "sigmaform -e local plan --target ")[0] == []


def test_outside_any_project_offers_nothing(tmp_path: Path) -> None:
    assert complete(tmp_path, "sigmaform -e ") == ([], "")
