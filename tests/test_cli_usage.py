"""The command line as a script sees it: usage errors exit 1 (never 2, "changes pending"),
global options work after the command, and the project is found from a subdirectory."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from conftest import Project

from sigmaform.cli import cli


def invoke(*args: str, **kwargs: Any) -> Any:
    return CliRunner().invoke(cli, list(args), **kwargs)


def all_commands(
    group: click.Group = cli, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))


COMMANDS = list(all_commands())


def assert_usage_error(result: Any, *mentioned: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    for text in mentioned:
        assert text in result.stderr


# --- usage errors exit 1


@pytest.mark.parametrize(
    "argv",
    [
        ["drfit"],
        ["plan", "--detailled-exitcode"],
        ["apply", "--bogus"],
    ],
    ids=" ".join,
)
def test_the_issues_typos_exit_1_from_the_installed_command(
    argv: list[str], tmp_path: Path
) -> None:
    # The console script, as a CI step runs it: a typo must fail, not pass as "changes".
    done = subprocess.run(
        [str(Path(sys.executable).parent / "sigmaform"), *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert argv[-1] in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_refuses_an_unknown_option_with_exit_1(path: tuple[str, ...]) -> None:
    assert_usage_error(invoke(*path, "--no-such-option"), "--no-such-option")


@pytest.mark.parametrize(
    "argv",
    [
        ["--bogus", "plan"],  # the group's own options
        ["stat", "list"],
        ["state", "lsit"],
        ["plan", "--parallelism", "x"],
        ["plan", "--parallelism", "0"],
        ["apply", "--parallelism", "many"],
        ["drift", "--format", "yaml"],
        ["import", "--parallelism", "x"],
        ["promote"],  # --to is required
        ["state", "show"],  # missing argument
        ["diff-env", "staging"],
        ["schema"],
        ["emulator", "--port", "99999"],
        ["plan", "--out"],  # option without its value
        ["plan", "extra-argument"],
    ],
    ids=" ".join,
)
def test_bad_values_and_missing_arguments_exit_1(argv: list[str]) -> None:
    assert_usage_error(invoke(*argv), "Error:")


def test_no_command_shows_help_and_exits_1() -> None:
    result = invoke()
    assert result.exit_code == 1
    assert "Commands:" in result.output
    assert invoke("state").exit_code == 1


def test_help_and_version_still_exit_0() -> None:
    assert invoke("--help").exit_code == 0
    assert invoke("plan", "--help").exit_code == 0
    assert invoke("--version").exit_code == 0


# --- global options after the command


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_help_shows_the_global_options(path: tuple[str, ...]) -> None:
    result = invoke(*path, "--help")
    assert result.exit_code == 0
    for option in ("-C, --project-dir", "-e, --env", "--no-color", "-v, --verbose"):
        assert option in result.output


def test_global_options_after_the_command(example: Project, monkeypatch: Any) -> None:
    root = str(example.root)
    validated = invoke("validate", "-C", root)
    assert validated.exit_code == 0, validated.output
    planned = invoke("plan", "-C", root, "-e", "local", "--no-refresh", "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    assert "Environment: local" in planned.output
    applied = invoke("-C", root, "apply", "-e", "local", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert len(example.agents()) == 3
    listed = invoke("state", "list", "-C", root, "--env", "local", "--format", "json")
    assert listed.exit_code == 0, listed.output
    assert len(json.loads(listed.output)["resources"]) == 3


def test_env_after_the_command_overrides_sigmaform_env(example: Project) -> None:
    root = str(example.root)
    result = invoke(
        "-C", root, "plan", "-e", "local", "--no-refresh", env={"SIGMAFORM_ENV": "prod"}
    )
    assert result.exit_code == 0, result.output
    assert "Environment: local" in result.output


def test_the_same_option_on_both_sides_must_agree(example: Project) -> None:
    root = str(example.root)
    same = invoke("-C", root, "-e", "local", "plan", "-e", "local", "--no-refresh")
    assert same.exit_code == 0, same.output
    clash = invoke("-C", root, "-e", "local", "apply", "-e", "prod", "--auto-approve")
    assert_usage_error(
        clash, "-e/--env is given before the command as local and after it as prod: give it once"
    )
    assert example.journal() == []  # nothing was sent anywhere
    elsewhere = invoke("-C", root, "validate", "-C", str(example.root / "agents"))
    assert_usage_error(elsewhere, "-C/--project-dir is given before the command as")


def test_verbose_and_no_color_after_the_command(example: Project) -> None:
    result = invoke("-C", str(example.root), "-e", "local", "plan", "-v", "--no-color")
    assert result.exit_code == 0, result.output
    assert "sigmaform.client: GET /v1/agents -> 200" in result.stderr
    assert "\x1b[" not in result.output


# --- the project found from a subdirectory


def test_project_is_found_from_a_subdirectory(example: Project, monkeypatch: Any) -> None:
    monkeypatch.chdir(example.root / "agents" / "prompts")
    validated = invoke("validate")
    assert validated.exit_code == 0, validated.output
    assert "OK: 4 resources valid" in validated.output
    applied = invoke("-e", "local", "apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert len(example.agents()) == 3
    # State and the emulator's data stay in the project, not in the subdirectory.
    assert not (example.root / "agents" / "prompts" / ".sigmaform").exists()
    assert (example.root / ".sigmaform" / "state" / "local.json").is_file()


def test_validate_paths_from_a_subdirectory_are_from_there(
    example: Project, monkeypatch: Any
) -> None:
    monkeypatch.chdir(example.root / "agents")
    result = invoke("validate", "support.yaml")
    assert result.exit_code == 0, result.output
    assert "OK: 1 resource valid" in result.output
    # With -C, paths stay relative to the project directory.
    with_c = invoke("-C", str(example.root), "validate", "agents/support.yaml")
    assert with_c.exit_code == 0, with_c.output


def test_no_project_above_names_where_it_looked(tmp_path: Path, monkeypatch: Any) -> None:
    start = tmp_path / "a" / "b"
    start.mkdir(parents=True)
    monkeypatch.chdir(start)
    for argv in (["validate"], ["-e", "local", "plan"], ["state", "list"]):
        result = invoke(*argv)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        assert (
            f"Error: no sigmaform.yaml in {start} or any directory above it: run sigmaform "
            "from inside a project, pass -C DIR (the directory holding sigmaform.yaml), or "
            "create one with `sigmaform init`"
        ) in result.stderr


def test_init_writes_where_it_is_run_not_in_a_project_above(
    example: Project, monkeypatch: Any
) -> None:
    inner = example.root / "nested"
    inner.mkdir()
    monkeypatch.chdir(inner)
    result = invoke("init")
    assert result.exit_code == 0, result.output
    assert (inner / "sigmaform.yaml").is_file()


# --- --target and state addresses: the kind in any spelling


@pytest.mark.parametrize("spelling", ["agent.support", "Agent.support", "AGENT.support"])
def test_target_takes_the_kind_in_any_case(example: Project, spelling: str) -> None:
    result = example.run("plan", "--no-refresh", "--target", spelling)
    assert result.exit_code == 0, result.output
    assert "agent.support" in result.output
    assert "agent.receptionist" not in result.output


@pytest.mark.parametrize(
    "spelling", ["PhoneNumber.main-line", "phonenumber.main-line", "phone-number.main-line"]
)
def test_target_takes_a_phone_numbers_spellings(
    example: Project, spelling: str, monkeypatch: Any
) -> None:
    monkeypatch.setenv("SUPPORT_WEBHOOK_SECRET", "whsec-a")
    monkeypatch.setenv("REMINDER_WEBHOOK_SECRET", "whsec-b")
    # The number exists only in staging and prod; --no-refresh sends nothing.
    result = example.run("plan", "--no-refresh", "--target", spelling, env="staging")
    assert result.exit_code == 0, result.output
    assert "+ phone-number.main-line  (adopt)" in result.output
    # The agent the number references comes with it (a target takes in its references).
    assert "note: included by --target phone-number.main-line" in result.output
    assert "Plan: 1 to create, 1 to adopt, 0 to update, 0 to delete, 0 unchanged." in result.output


def test_state_commands_take_the_kind_in_any_case(example: Project) -> None:
    assert example.run("apply", "--auto-approve").exit_code == 0
    shown = example.run("state", "show", "Agent.support")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["kind"] == "Agent"
    moved = example.run("state", "mv", "Agent.support", "agent.helpdesk")
    assert moved.exit_code == 0, moved.output
    assert "Moved agent.support to agent.helpdesk." in moved.output
    assert "agent.helpdesk" in example.state()["resources"]
    removed = example.run("state", "rm", "AGENT.helpdesk")
    assert removed.exit_code == 0, removed.output
    assert "agent.helpdesk" not in example.state()["resources"]
    bad = example.run("state", "show", "Robot.x")
    assert bad.exit_code == 1
    assert "`Robot.x` is not an address (expected KIND.NAME" in bad.output
