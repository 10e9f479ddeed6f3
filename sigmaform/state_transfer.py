"""`state push` and `state pull`: copy state between the local file and a shared backend.

A copy never silently replaces a different state: a different lineage, a newer serial, or
the same serial with other content is refused unless forced. The written serial is past
both sides' serials, so a plan saved against either side no longer applies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from sigmaform.errors import ConfigError, RefusedError
from sigmaform.resource import Project
from sigmaform.state import LockInfo, State, StateBackend, local_backend


@runtime_checkable
class SharedBackend(StateBackend, Protocol):
    """A backend that can take a state as it is, replacing a known (lineage, serial)."""

    def store(self, state: State, expected: tuple[str, int] | None) -> State: ...


@dataclass(frozen=True)
class Transfer:
    """What a push or pull did."""

    source: str
    destination: str
    serial: int
    resources: int
    written: bool


def serial_to_write(
    source: State, source_name: str, target: State | None, target_name: str, force: bool
) -> int | None:
    """The serial the copy gets, None when `target` already holds `source`; or refuse."""
    if target is None:
        return source.serial
    advice = "pass --force to replace it"
    if target.lineage != source.lineage:
        if not force:
            raise RefusedError(
                f"refusing to overwrite {target_name} (lineage {target.lineage}) with "
                f"{source_name} (lineage {source.lineage}): they are different states; {advice}"
            )
    elif target.serial > source.serial:
        if not force:
            raise RefusedError(
                f"{target_name} is newer than {source_name} (serial {target.serial} > "
                f"{source.serial}): copy it the other way first, or {advice}"
            )
    elif target.serial == source.serial:
        if target.to_dict() == source.to_dict():
            return None
        if not force:
            raise RefusedError(
                f"{target_name} and {source_name} both have serial {source.serial} but differ; "
                f"{advice}"
            )
    return max(source.serial, target.serial + 1)


def _check_environment(state: State, name: str, environment: str) -> None:
    if state.environment != environment:
        raise ConfigError(
            f"{name} belongs to environment `{state.environment}`, not `{environment}`"
        )


def _shared(backend: StateBackend, project: Project) -> SharedBackend:
    if project.state.backend == "local" or not isinstance(backend, SharedBackend):
        raise ConfigError(
            "state push/pull copy state between the local file (state.path) and a shared "
            f"backend, but this project's state.backend is `{project.state.backend}`"
        )
    return backend


def push(
    project: Project, backend: StateBackend, *, force: bool = False, lock_timeout: float = 0.0
) -> Transfer:
    """The local state file -> the configured shared backend, under its lock."""
    shared = _shared(backend, project)
    local = local_backend(project)

    def store(state: State, serial: int, target: State | None) -> None:
        expected = None if target is None else (target.lineage, target.serial)
        shared.store(replace(state, serial=serial), expected)

    missing = f"no local state at {local.describe()} to push"
    return _copy(local, shared, project, "state push", missing, store, force, lock_timeout)


def pull(
    project: Project, backend: StateBackend, *, force: bool = False, lock_timeout: float = 0.0
) -> Transfer:
    """The configured shared backend -> the local state file, under the file's lock."""
    shared = _shared(backend, project)
    local = local_backend(project)

    def store(state: State, serial: int, target: State | None) -> None:
        # LocalBackend.write stores serial + 1: ask for one less to get `serial` exactly.
        local.write(replace(state, serial=serial - 1))

    missing = f"no state in {shared.describe()} to pull"
    return _copy(shared, local, project, "state pull", missing, store, force, lock_timeout)


def _copy(
    source_backend: StateBackend,
    target_backend: StateBackend,
    project: Project,
    operation: str,
    missing: str,
    store: Callable[[State, int, State | None], None],
    force: bool,
    lock_timeout: float,
) -> Transfer:
    """Copy one environment's state, under the target's lock, refusing to lose history."""
    env = project.environment.name
    source = source_backend.read()
    if source is None:
        raise ConfigError(missing)
    _check_environment(source, source_backend.describe(), env)
    with target_backend.lock(LockInfo(operation), lock_timeout):
        target = target_backend.read()
        if target is not None:
            _check_environment(target, target_backend.describe(), env)
        serial = serial_to_write(
            source, source_backend.describe(), target, target_backend.describe(), force
        )
        if serial is not None:
            store(source, serial, target)
    return Transfer(
        source_backend.describe(),
        target_backend.describe(),
        source.serial if serial is None else serial,
        len(source.resources),
        serial is not None,
    )
