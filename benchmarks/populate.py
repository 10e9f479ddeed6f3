"""Create a benchmark project's agents on an emulator with the real apply, writing state once.

`sigmaform apply` saves the whole state after every resource (so a killed apply loses
nothing); for 10,000 agents with their prompts that is 10,000 rewrites of a ~100 MB file.
A benchmark only needs the end result, so this runs the same planner and executor
(`make_plan` + `execute`: the same requests, verification and state records) with a
backend that keeps state in memory, then writes it once through the real local backend.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from sigmaform.apply import ApplyOptions, ApplyReport, execute
from sigmaform.operations import backend_for, client_for, make_plan, open_project, read_state
from sigmaform.state import LockInfo, State


class MemoryBackend:
    """A StateBackend that keeps each write in memory (the lock is the caller's business)."""

    def __init__(self, state: State) -> None:
        self.state = state

    def describe(self) -> str:
        return "memory"

    def read(self) -> State | None:
        return self.state

    def write(self, state: State) -> State:
        self.state = replace(state, serial=state.serial + 1)
        return self.state

    def lock(self, info: LockInfo) -> object:  # pragma: no cover - not used by execute
        raise NotImplementedError

    def lock_holder(self) -> LockInfo | None:
        return None

    def force_unlock(self) -> LockInfo | None:
        return None


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    """The client reads its endpoint and key from os.environ: set them for the duration."""
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def populate(
    root: Path, env_name: str, environ: Mapping[str, str], parallelism: int = 32
) -> ApplyReport:
    """Plan (no refresh) and apply everything in `root` for `env_name`; state written once."""
    project = open_project(root, env_name, environ=environ)
    backend = backend_for(project)
    state = read_state(backend, env_name)
    with _environ(environ), client_for(project, parallelism) as client:
        plan = make_plan(project, state, None)
        memory = MemoryBackend(state)
        report = execute(
            plan,
            project.resources,
            memory,  # type: ignore[arg-type]
            state,
            client,
            ApplyOptions(parallelism=parallelism),
        )
    if report.failures:
        raise RuntimeError(f"populate: {len(report.failures)} failed, e.g. {report.failures[0]}")
    final = replace(memory.state, serial=state.serial)
    backend.write(final)
    return report
