"""The `sigmaform ...` commands that messages suggest, spelled so that they can be pasted.

A hint such as "run `sigmaform plan` again" is useless when the project needed `-C agents`
and `-e staging`: pasted as printed, it fails or, worse, plans another environment. The CLI
records once per run how this project must be named (`remember`); every hint is built by
`command`, which puts those options in front of the words it is given.
"""

from __future__ import annotations

import shlex
from contextvars import ContextVar
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Invocation:
    """The options a pasted command needs to reach the same project and environment."""

    project_dir: str | None = None  # as the user typed -C; None: found from the cwd
    env: str | None = None  # set only when the project has several environments

    def command(self, *words: str, env: str | None = None) -> str:
        """`sigmaform [-C DIR] [-e ENV] WORDS...`, each word quoted for a POSIX shell."""
        parts = ["sigmaform"]
        if self.project_dir is not None:
            parts += ["-C", self.project_dir]
        chosen = env if env is not None else self.env
        if chosen is not None:
            parts += ["-e", chosen]
        return shlex.join([*parts, *words])


# A context variable, not a module global: two CLI runs in one process (tests, embedding)
# each see their own, and the CLI resets it when its run ends.
_NOWHERE = Invocation()
_current: ContextVar[Invocation] = ContextVar("sigmaform_invocation", default=_NOWHERE)


def command(*words: str, env: str | None = None) -> str:
    """The pasteable command for WORDS in the current run (`env` names another environment)."""
    return _current.get().command(*words, env=env)


def current() -> Invocation:
    return _current.get()


def remember(invocation: Invocation) -> None:
    _current.set(invocation)


def remember_env(env: str | None) -> None:
    """Once the project is read: its environment, when it has several (else None)."""
    _current.set(replace(_current.get(), env=env))


def forget() -> None:
    _current.set(_NOWHERE)
