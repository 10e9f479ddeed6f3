"""Commands that work as printed: hints carry the -C/-e the project needs, a saved plan
brings its environment, and the interactive confirmation takes only `yes`."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import Project

from sigmaform.cli import cli


def invoke(*args: str, **kwargs: Any) -> Any:
    return CliRunner().invoke(cli, list(args), **kwargs)


def printed_command(output: str, after: str) -> list[str]:
    """The words of the command printed after AFTER on one line, without `sigmaform`."""
    line = next(line for line in output.splitlines() if after in line)
    rest = line.split(after, 1)[1].strip()
    text = rest[1:].split("`", 1)[0] if rest.startswith("`") else rest
    words = shlex.split(text)
    assert words[0] == "sigmaform", line
    return words[1:]


# --- hints name -C and -e


def test_saved_plan_hint_can_be_pasted(example: Project, tmp_path: Path) -> None:
    planfile = tmp_path / "saved plan.json"  # a space: the hint must quote it
    planned = example.run("plan", "--out", str(planfile))
    assert planned.exit_code == 0, planned.output
    hint = f"apply it with: {example.command('apply', str(planfile))}"
    assert hint in planned.output
    pasted = invoke(*printed_command(planned.output, "apply it with:"))
    assert pasted.exit_code == 0, pasted.output
    assert "Apply complete: 3 created." in pasted.output
    assert len(example.agents()) == 3


def test_hints_need_no_options_in_a_one_environment_project_found_from_the_cwd(
    tmp_path: Path, monkeypatch: Any
) -> None:
    assert invoke("init", str(tmp_path / "p")).exit_code == 0
    monkeypatch.chdir(tmp_path / "p" / "agents")
    planned = invoke("-e", "local", "plan", "--out", "plan.json")
    assert planned.exit_code == 0, planned.output
    assert "apply it with: sigmaform apply plan.json" in planned.output
    # -e was given but this project has one environment: the hint does not need it.
    assert invoke(*printed_command(planned.output, "apply it with:")).exit_code == 0


def test_environment_from_sigmaform_env_is_spelt_out(example: Project, tmp_path: Path) -> None:
    planned = invoke(
        "-C", str(example.root), "plan", "--out", str(tmp_path / "p.json"),
        env={"SIGMAFORM_ENV": "local"},
    )  # fmt: skip
    assert planned.exit_code == 0, planned.output
    # Three environments: a pasted command must not depend on the shell's SIGMAFORM_ENV.
    assert f"sigmaform -C {example.root} -e local apply {tmp_path / 'p.json'}" in planned.output


def test_state_hint_names_the_project(example: Project) -> None:
    missing = example.run("state", "show", "agent.nobody")
    assert missing.exit_code == 1
    assert f"(see `{example.command('state', 'list')}`)" in missing.output
    listed = invoke(*printed_command(missing.output, "(see "))
    assert listed.exit_code == 0, listed.output


def test_stale_plan_hints_can_be_pasted(example: Project, tmp_path: Path) -> None:
    planfile = str(tmp_path / "plan.json")
    assert example.run("plan", "--out", planfile).exit_code == 0
    assert example.run("apply", "--auto-approve").exit_code == 0
    stale = example.run("apply", planfile)
    assert stale.exit_code == 3
    assert f"): run `{example.command('plan')}` again" in stale.output

    assert example.run("plan", "--out", planfile).exit_code == 0
    example.edit("agents/support.yaml", "llmTemperature: 0.3", "llmTemperature: 0.4")
    changed = example.run("apply", planfile)
    assert changed.exit_code == 3
    hint = f"the configuration changed since this plan was made: run `{example.command('plan')}`"
    assert hint in changed.output
    replanned = invoke(*printed_command(changed.output, "run "))
    assert replanned.exit_code == 0, replanned.output
    assert "~ agent.support  (update" in replanned.output


def test_missing_project_hint_names_the_directory(tmp_path: Path) -> None:
    empty = tmp_path / "new project"
    empty.mkdir()
    result = invoke("-C", str(empty), "-e", "local", "plan")
    assert result.exit_code == 1
    assert f"(run `sigmaform -C '{empty}' init`)" in result.output
    assert invoke(*printed_command(result.output, "(run ")).exit_code == 0
    assert (empty / "sigmaform.yaml").is_file()


# --- apply PLANFILE: the environment comes from the plan


def test_saved_plan_is_applied_to_its_environment_without_e(
    example: Project, tmp_path: Path
) -> None:
    planfile = str(tmp_path / "plan.json")
    assert example.run("plan", "--out", planfile).exit_code == 0
    applied = invoke("-C", str(example.root), "apply", planfile)
    assert applied.exit_code == 0, applied.output
    assert "Apply complete: 3 created." in applied.output
    assert len(example.agents()) == 3
    assert set(example.state("local")["resources"]) >= {"agent.support"}


def test_saved_plan_for_another_environment_is_refused(
    example: Project, tmp_path: Path, monkeypatch: Any
) -> None:
    for name in ("SUPPORT_WEBHOOK_SECRET", "REMINDER_WEBHOOK_SECRET", "SIGMAMIND_API_KEY_PROD"):
        monkeypatch.setenv(name, "not-a-real-value")
    planfile = str(tmp_path / "plan.json")
    assert example.run("plan", "--out", planfile).exit_code == 0
    refused = example.run("apply", planfile, env="prod")
    assert refused.exit_code == 3
    assert "this plan was made for environment `local`, not `prod`" in refused.output
    assert example.writes() == []


def test_saved_plan_with_an_unknown_file_is_an_error(example: Project, tmp_path: Path) -> None:
    result = invoke("-C", str(example.root), "apply", str(tmp_path / "none.json"))
    assert result.exit_code == 1
    assert "plan file not found" in result.output


# --- the confirmation: the environment is named, only `yes` approves


def test_without_a_terminal_apply_asks_for_auto_approve(example: Project) -> None:
    result = example.run("apply", input="yes\n")
    assert result.exit_code == 1
    assert "pass --auto-approve" in result.output
    assert example.journal() == []


def apply_on_a_terminal(
    example: Project, answer: str, before_answer: Callable[[], None] | None = None
) -> tuple[int, str]:
    """`sigmaform apply` in its own process whose stdin is a terminal, answering ANSWER;
    with `before_answer`, that runs once the prompt is shown and before the answer."""
    pty = pytest.importorskip("pty")  # POSIX only
    controller, terminal = pty.openpty()
    try:
        argv = ["-C", str(example.root), "-e", "local", "apply", "--no-color"]
        process = subprocess.Popen(
            [sys.executable, "-m", "sigmaform", *argv],
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        shown = ""
        if before_answer is not None:
            assert process.stdout is not None
            while "Enter a value" not in shown and process.poll() is None:
                shown += process.stdout.read(1)
            before_answer()
        os.write(controller, answer.encode())
        deadline = time.monotonic() + 60
        while process.poll() is None and time.monotonic() < deadline:
            # Drain the terminal's echo so that it never fills up.
            try:
                os.set_blocking(controller, False)
                os.read(controller, 4096)
            except BlockingIOError:
                pass
            time.sleep(0.05)
        output, _ = process.communicate(timeout=10)
        return process.returncode, shown + output
    finally:
        os.close(controller)
        os.close(terminal)


def test_anything_but_yes_cancels_with_exit_1(example: Project) -> None:
    for answer in ("y\n", "\n", "YES please\n"):
        code, output = apply_on_a_terminal(example, answer)
        assert code == 1, output
        assert "Do you want to perform these actions in environment 'local'?" in output
        assert "Only 'yes' will be accepted to approve." in output
        assert "Apply cancelled; nothing was changed." in output
        assert example.writes() == []
    assert example.agents() == []


def test_yes_applies(example: Project) -> None:
    code, output = apply_on_a_terminal(example, "yes\n")
    assert code == 0, output
    assert "Apply complete: 3 created." in output
    assert len(example.agents()) == 3
