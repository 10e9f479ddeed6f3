"""`validate --format github`: problems as GitHub Actions workflow commands.

`::error file=F,line=L,col=C,title=sigmaform::MESSAGE` makes a problem appear on the
pull request's diff at its line. Workflow commands are parsed from the log, so a message
or a file name must not end the command early: `%`, CR and LF are percent-encoded in the
message, and also `:` and `,` in property values (as @actions/core's toCommandValue and
escapeProperty do).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sigmaform.errors import Problem, printable

TITLE = "sigmaform"


def escape_data(text: str) -> str:
    """The message after `::`: `%`, CR and LF encoded; other control characters shown."""
    encoded = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return printable(encoded)


def escape_property(text: str) -> str:
    """A `key=value` property: as the message, plus `:` and `,`, which end a property."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(problem: Problem, base: Path | None = None) -> str:
    """One workflow command; `base` is prefixed to the problem's file (the project's
    directory as seen from the repository root, where GitHub resolves paths)."""
    command = "warning" if problem.severity == "warning" else "error"
    props: list[str] = []
    if problem.file:
        file = (base / problem.file).as_posix() if base is not None else problem.file
        props.append(f"file={escape_property(file)}")
        if problem.line:
            props.append(f"line={problem.line}")
            if problem.column:
                props.append(f"col={problem.column}")
    props.append(f"title={escape_property(TITLE)}")
    message = f"{problem.path}: {problem.message}" if problem.path else problem.message
    return f"::{command} {','.join(props)}::{escape_data(message)}"


def annotation_lines(problems: Iterable[Problem], base: Path | None = None) -> list[str]:
    return [annotation(p, base) for p in problems]
