"""The one error family sigmaform raises; the CLI catches it once.

    SigmaformError                 exit 1, str(error) is what the user reads
    ├── ConfigError                bad input: a list of Problems, each with file:line:col
    ├── ApiError                   the service refused or failed (method, path, status, message)
    ├── ApplyError                 an apply that could not finish or be verified
    ├── LockLostError              the state lock ended while an apply held it
    └── RefusedError               exit 3: a safety rail said no
        ├── LockHeldError          another apply holds the state lock
        ├── StalePlanError         a saved plan no longer matches state or config
        └── PromotionGateError     promote found resources the source env never applied

A message never contains a secret value or an API key: callers build messages from
names and paths, and ApiError drops request bodies and headers.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2
EXIT_REFUSED = 3


# Control characters, line separators, and lone surrogates (which no output can encode).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def printable(text: str) -> str:
    """`text` on one line, control characters escaped: for values a server or file chose."""
    return _CONTROL.sub(_escape, text)


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the user's input, located as precisely as we can."""

    file: str
    line: int = 0
    column: int = 0
    path: str = ""
    message: str = ""
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}:{self.column}"
        prefix = f"{where}: " if where else ""
        path = f"{self.path}: " if self.path else ""
        tag = "warning: " if self.severity == "warning" else ""
        # Paths and messages echo the user's keys: one problem stays one line, and no
        # control character (a terminal escape) reaches the terminal raw.
        return _CONTROL.sub(_escape, f"{prefix}{tag}{path}{self.message}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
            "severity": self.severity,
        }


MAX_ALIKE = 3  # problems with the same message shown before the rest are counted


def problem_lines(problems: Sequence[Problem]) -> list[str]:
    """One line per problem, except that a message repeated many times (one unset secret
    used by 10,000 agents) shows its first few places and then a count."""
    total = Counter((p.severity, p.message) for p in problems)
    seen: Counter[tuple[str, str]] = Counter()
    lines = []
    for problem in problems:
        key = (problem.severity, problem.message)
        seen[key] += 1
        if seen[key] <= MAX_ALIKE:
            lines.append(str(problem))
        if seen[key] == MAX_ALIKE and total[key] > MAX_ALIKE:
            lines.append(f"... and {total[key] - MAX_ALIKE} more with the same message")
    return lines


class SigmaformError(Exception):
    """Base of every error a user can see; `exit_code` is what the process returns."""

    exit_code = EXIT_ERROR


class ConfigError(SigmaformError):
    """Bad input. Carries every problem found, one per line in the message."""

    def __init__(self, problems: list[Problem] | Problem | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(file="", message=problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = sorted(problems)
        super().__init__("\n".join(problem_lines(self.problems)))


@dataclass
class ApiError(SigmaformError):
    """The SigmaMind API answered with an error, or could not be reached."""

    method: str
    path: str
    status: int | None
    message: str
    body: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        status = f" -> {self.status}" if self.status is not None else ""
        return f"{self.method} {self.path}{status}: {self.message}"


class ApplyError(SigmaformError):
    """An apply finished with resources that failed or could not be verified."""


class LockLostError(SigmaformError):
    """The apply lock was lost while held (its database session ended): stop sending."""


class RefusedError(SigmaformError):
    """A safety rail refused the operation."""

    exit_code = EXIT_REFUSED


class LockHeldError(RefusedError):
    """Another process holds the state lock."""


class StalePlanError(RefusedError):
    """A saved plan no longer matches state or config."""


class PromotionGateError(RefusedError):
    """Promotion refused: the source environment did not apply the current config."""
