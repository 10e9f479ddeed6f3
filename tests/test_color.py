"""`--color always|never|auto`, `--no-color`, NO_COLOR and FORCE_COLOR, in their precedence."""

from __future__ import annotations

import pytest
from conftest import Project

from sigmaform.cli.color import use_color

ESC = "\x1b["


def _plan(example: Project, *args: str) -> str:
    """A plan with changes (colour shows on its symbols), printed to a pipe, not a tty."""
    result = example.run(*args, "plan")
    assert result.exit_code == 0, result.output
    return str(result.stdout)


@pytest.mark.parametrize(
    ("args", "environ", "colored"),
    [
        ((), {}, False),  # auto, and the output is not a terminal
        (("--color", "always"), {}, True),
        (("--color", "never"), {"FORCE_COLOR": "1"}, False),
        (("--color", "auto"), {"FORCE_COLOR": "1"}, True),
        ((), {"FORCE_COLOR": "1"}, True),
        ((), {"FORCE_COLOR": ""}, False),  # set but empty: not asked for
        ((), {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False),  # NO_COLOR wins
        (("--no-color",), {"FORCE_COLOR": "1"}, False),
        (("--color", "always"), {"NO_COLOR": "1"}, True),  # the command line wins
        (("--no-color", "--color", "always"), {}, False),  # --no-color is never
    ],
)
def test_precedence_through_the_cli(
    example: Project,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    environ: dict[str, str],
    colored: bool,
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert (ESC in _plan(example, *args)) is colored


def test_color_after_the_command_name(example: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    result = example.run("plan", "--color", "always")
    assert ESC in result.stdout
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert ESC not in example.run("plan", "--color", "never").stdout
    assert ESC not in example.run("plan", "--no-color").stdout


def test_auto_follows_the_terminal() -> None:
    assert use_color(None, environ={}, isatty=True)
    assert not use_color(None, environ={}, isatty=False)
    assert not use_color("auto", environ={"NO_COLOR": "1"}, isatty=True)
    assert use_color("auto", environ={"FORCE_COLOR": "true"}, isatty=False)


def test_an_unknown_color_value_is_a_usage_error_exit_1(example: Project) -> None:
    result = example.run("--color", "sometimes", "plan")
    assert result.exit_code == 1
    assert "--color" in result.output
    assert example.journal() == []
