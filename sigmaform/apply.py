"""Execute a Plan: order, bounded parallelism, minimal bodies, verify, state after each.

Safety rails are checked before anything is sent (`check_safety`). Each resource is
written to state as soon as it succeeds, so an apply that dies halfway loses nothing;
a resource that fails does not stop the others that do not depend on it. What does
stop everything at once is losing the lock or a state write: every request after that
could be one that nothing records, and another apply would repeat it (a duplicate).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Protocol

from sigmaform import invocation
from sigmaform.api_profile import ApiProfile, profile_of
from sigmaform.diff import (
    MISSING,
    Unit,
    changed_units,
    get_unit,
    iter_units,
    share_equal,
    unit_name,
)
from sigmaform.errors import ApiError, LockLostError, RefusedError, SigmaformError
from sigmaform.kinds import KINDS, REFERENCED, Kind
from sigmaform.kinds.base import Api
from sigmaform.lifecycle import REMOVABLE_ARRAYS, is_removal, without_units
from sigmaform.moves import Move, move_state
from sigmaform.plan import CONFLICT_NOTE, Action, Plan, ResourcePlan
from sigmaform.remote import MERGED_OBJECTS, comparable_desired, nested_ids, observed
from sigmaform.resource import Environment, Resource
from sigmaform.sensitive import scrub
from sigmaform.state import AppendingBackend, ResourceState, State, StateBackend, utc_now
from sigmaform.state_blobs import materialize


class ApiClient(Api, Protocol):
    """What apply needs from sigmaform.client.Client (a Protocol keeps apply testable):
    the transport primitives every kind module calls."""


@dataclass(frozen=True)
class ApplyOptions:
    allow_delete: bool = False
    force: bool = False
    parallelism: int = 10


@dataclass(frozen=True)
class Outcome:
    """What happened to one resource."""

    address: str
    action: Action
    status: str  # created | updated | adopted | deleted | forgotten | skipped | failed
    message: str = ""
    id: str | None = None  # the remote id, when known (filled in as the outcome is reported)

    @property
    def failed(self) -> bool:
        return self.status == "failed"


@dataclass(frozen=True)
class ApplyReport:
    outcomes: tuple[Outcome, ...]
    state: State

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.failed]


def check_safety(
    plan: Plan, state: State, env: Environment, options: ApplyOptions, desired_count: int
) -> None:
    """Refuse (exit 3) what the safety rails forbid, before any request is sent."""
    conflicts = plan.conflicts()
    if conflicts:
        raise RefusedError(
            "refusing to create agents that already exist remotely but are not managed: "
            + "; ".join(n for r in conflicts for n in r.notes if n.startswith(CONFLICT_NOTE))
        )
    deletes = [r for r in plan.resources if r.action in REMOVALS]
    if plan.destroy:
        # Destroying is the point: deleting everything and the change share are expected.
        # Protection and an environment's allowDelete: false still hold.
        options = replace(options, allow_delete=True)
    if deletes and options.allow_delete:
        protected = [r.address for r in deletes if r.protect]
        if protected:
            raise RefusedError(
                "refusing to delete protected resources: "
                + ", ".join(protected)
                + ". Set `protect: false` in the file and apply before removing it, "
                "or stop managing it with "
                + " / ".join(f"`{invocation.command('state', 'rm', a)}`" for a in protected)
                + "."
            )
        everything = len(deletes) == len(state.resources) and not plan.destroy
        if state.resources and desired_count == 0 and everything:
            raise RefusedError(
                "refusing to delete every managed resource: no resource files matched; "
                "check `resources:` in sigmaform.yaml"
            )
        if not env.safety.allow_delete and not options.force:
            raise RefusedError(
                f"environment `{env.name}` has safety.allowDelete: false; "
                f"{len(deletes)} resource(s) would be deleted (use --force to override)"
            )
    limit = env.safety.max_change_percent
    existing = len(state.resources)
    if limit is not None and existing >= 10 and not options.force and not plan.destroy:
        touched = sum(
            1
            for r in plan.resources
            if r.action is Action.UPDATE
            or (r.action in REMOVALS and options.allow_delete)
            # Re-creating a managed resource (gone remotely) is as much a change as an update.
            or (r.action is Action.CREATE and r.address in state.resources)
        )
        share = 100.0 * touched / existing
        if share > limit:
            raise RefusedError(
                f"{touched} of {existing} managed resources would change ({share:.0f}%), "
                f"over safety.maxChangePercent {limit:g}% for `{env.name}`; "
                "review the plan and use --force if intended"
            )


# Actions that take a resource out of state (and, for a deletable kind, out of the API).
REMOVALS = (Action.DELETE, Action.FORGET)


class StateRecorder:
    """Saves each success before it is reported, sharing writes between workers.

    A worker's change is durable when `record`/`forget` returns. Workers that finish while
    another's write is in progress are saved together by the next write (group commit).
    A backend that can append (the local file's journal) records only the group's changed
    resources, so recording a success costs the change, not the size of the state; `finish`
    then compacts them into the document once. Other backends get the whole state.
    """

    def __init__(self, backend: StateBackend, state: State) -> None:
        self._backend = backend
        self._appender = backend if isinstance(backend, AppendingBackend) else None
        self._mutex = threading.Lock()  # guards the resources, state and the counters
        self._writer = threading.Lock()  # one backend write at a time
        self._queued = 0  # changes made to the resources
        self._saved = 0  # changes on disk
        self._pending: dict[str, None] = {}  # addresses changed since the last save, in order
        self._whole = False  # the next save must write the whole state (a move, a failed save)
        self._journalled = False  # changes appended that the document does not hold yet
        # Changed in place (under the mutex): copying a 10,000-entry mapping per success
        # would make a wide apply quadratic.
        self._resources = dict(state.resources)
        self._names = {
            r.id: a.split(".", 1)[1] for a, r in state.resources.items() if r.kind in REFERENCED
        }
        self.state = replace(state, resources=self._resources)
        self.failure: SigmaformError | OSError | None = None  # the write that failed, if one did

    def record(self, address: str, resource: ResourceState) -> None:
        self._save(self._change(address, resource))

    def forget(self, address: str) -> None:
        self._save(self._change(address, None))

    def move(self, moves: Sequence[Move]) -> None:
        """Rename addresses (and references to them) in one write; nothing is sent."""
        with self._mutex:
            moved = move_state(replace(self.state, resources=dict(self._resources)), moves)[0]
            self._resources = dict(moved.resources)
            self.state = replace(moved, resources=self._resources)
            self._names.clear()
            self._names.update(
                (r.id, a.split(".", 1)[1])
                for a, r in self._resources.items()
                if r.kind in REFERENCED
            )
            self._whole = True
            self._queued += 1
            mine = self._queued
        self._save(mine)

    def _change(self, address: str, after: ResourceState | None) -> int:
        with self._mutex:
            before = self._resources.get(address)
            if after is None:
                self._resources.pop(address, None)
            else:
                self._resources[address] = after
            if before is not None and before.kind in REFERENCED:
                self._names.pop(before.id, None)
            if after is not None and after.kind in REFERENCED:
                self._names[after.id] = address.split(".", 1)[1]
            self._pending[address] = None
            self._queued += 1
            return self._queued

    def _save(self, mine: int) -> None:
        with self._writer:
            with self._mutex:
                if self._saved >= mine:
                    return  # a write made while this one waited already included it
                upto = self._queued
                changes = None
                if self._appender is not None and not self._whole:
                    changes = [(a, self._resources.get(a)) for a in self._pending]
                snapshot = self.state if changes is not None else self._snapshot()
                self._pending, self._whole = {}, False
            if self.failure is not None:
                raise StateNotSaved(f"state was not saved: {self.failure}")
            try:
                if changes is not None and self._appender is not None:
                    written = self._appender.append(snapshot, changes)
                    self._journalled = True
                else:
                    written = self._backend.write(snapshot)
            except (SigmaformError, OSError) as error:
                self.failure = error
                raise StateNotSaved(f"state was not saved: {error}") from error
            except BaseException:
                with self._mutex:
                    self._whole = True  # what this save lost track of: all of it next time
                raise
            with self._mutex:
                self._saved = upto
                # Later changes were made on the pre-write serial; carry the new one forward.
                self.state = replace(self.state, serial=written.serial)

    def _snapshot(self) -> State:
        """The state with its own copy of the resources (workers go on changing ours)."""
        return replace(self.state, resources=dict(self._resources))

    def settle(self, change: Callable[[State], State]) -> None:
        """A last change to the state as a whole (the workspace, learnt once the writes
        are done), saved like a success: appended where the backend can (no resource
        changes, the header only), so the local document is still written once, at
        `finish`."""
        with self._mutex:
            before = self.state
        after = change(before)  # may ask the API: outside the mutex
        if after is before:
            return
        with self._mutex:
            self.state = replace(after, resources=self._resources)
            self._queued += 1
            mine = self._queued
        self._save(mine)

    def finish(self) -> None:
        """Compact appended changes into the backend's document: one whole write, the same
        serial (the changes were counted as they were appended)."""
        with self._writer:
            with self._mutex:
                if not self._journalled or self.failure is not None:
                    return  # after a failed write the journal stays, replayed on next read
                snapshot = self._snapshot()
            if self._appender is None:
                return
            written = self._appender.compact(snapshot)
            with self._mutex:
                self._journalled = False
                self.state = replace(self.state, serial=written.serial)

    def resolve(self, kind: str, name: str) -> str | None:
        with self._mutex:
            found = self.state.resources.get(f"{KINDS[kind].prefix}.{name}")
        return found.id if found else None

    def id_to_name(self) -> Mapping[str, str]:
        # A live read-only view: only looked up (safe while workers add), never iterated,
        # and a copy per verified resource made a wide apply quadratic.
        return MappingProxyType(self._names)


class _ResourceFailed(SigmaformError):
    pass


class StateNotSaved(SigmaformError):
    """A state write failed: the apply stops, since nothing it sends next could be recorded.
    It exits as its cause does: 3 when a safety rail refused the write (someone else wrote
    state since it was read)."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        if isinstance(cause, SigmaformError):
            self.exit_code = cause.exit_code


class _Stopped(SigmaformError):
    """Raised in a worker after the apply stopped: it sends nothing."""


class _Fence:
    """Every request of an apply passes here: none after a stop, and each write only
    while the lock is still held (`guard` raises LockLostError when it is not)."""

    def __init__(self, client: ApiClient, guard: Callable[[], None]) -> None:
        self._client = client
        self._guard = guard
        self._mutex = threading.Lock()
        self.reason: SigmaformError | None = None

    def stop(self, reason: SigmaformError) -> None:
        with self._mutex:
            if self.reason is None:
                self.reason = reason

    def check(self, *, writing: bool) -> None:
        if self.reason is not None:
            raise _Stopped("not applied: the apply stopped before it")
        if writing:
            try:
                self._guard()
            except LockLostError as lost:
                self.stop(lost)
                raise

    @property
    def profile(self) -> ApiProfile:
        # What doctor found about the server belongs to the client the fence wraps.
        return profile_of(self._client)

    @property
    def stats(self) -> Any:
        return getattr(self._client, "stats", None)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        missing_ok: bool = False,
        recover: Callable[[], Any] | None = None,
    ) -> Any:
        self.check(writing=method != "GET")
        return self._client.request(
            method, path, params=params, body=body, missing_ok=missing_ok, recover=recover
        )

    def list_all(
        self,
        path: str,
        id_field: str,
        params: dict[str, Any] | None = None,
        each: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        self.check(writing=False)
        return self._client.list_all(path, id_field, params, each)


def _request_body(
    resource: Resource,
    units: Sequence[Unit],
    recorder: StateRecorder,
    known_ids: Mapping[str, Mapping[str, str]],
) -> dict[str, Any]:
    """The API body carrying `units` of the resource's spec (secrets still wrapped)."""
    kind = resource.kind_info
    body: dict[str, Any] = {}
    for unit in units:
        top = unit[0]
        if top == kind.identity_field:
            continue
        value = get_unit(resource.spec, unit)
        if value is MISSING:
            if unit not in REMOVABLE_ARRAYS:
                continue
            value = []  # removed from YAML: the API replaces arrays whole, so [] removes it
        if top in kind.references:
            target_kind, api_field = kind.references[top]
            ref_id = None
            if value is not None:
                ref_id = recorder.resolve(target_kind, str(value))
                if ref_id is None:
                    raise _ResourceFailed(
                        f"{top}: {target_kind} `{value}` has no id (it was not applied)"
                    )
            body[api_field] = ref_id
            continue
        value = materialize(value)  # a `!file` text held by digest is read again to be sent
        if len(unit) == 1:
            body[top] = value
        else:
            body.setdefault(top, {})[unit[1]] = value
    return kind.with_nested_ids(body, known_ids)


def _spec_unit(kind: Kind, response: Mapping[str, Any], unit: Unit) -> Any:
    """A unit of an API response, by its canonical (spec) name."""
    return get_unit(kind.from_wire(dict(response)), unit)


def _remote_id(resource: Resource, plan: ResourcePlan) -> str:
    kind = resource.kind_info
    if kind.identity_field:
        return str(resource.spec[kind.identity_field])
    assert plan.id is not None
    return plan.id


def _write(
    client: ApiClient,
    kind: Kind,
    remote_id: str | None,
    body: dict[str, Any],
    params: dict[str, str],
) -> dict[str, Any]:
    if remote_id is None:
        return kind.create(client, body, params)
    return kind.update(client, remote_id, body, params)


class Executor:
    """Applies one plan; `on_outcome` is called as each resource finishes."""

    def __init__(
        self,
        plan: Plan,
        resources: Sequence[Resource],
        recorder: StateRecorder,
        client: ApiClient,
        options: ApplyOptions,
        on_outcome: Callable[[Outcome], None] = lambda _: None,
        guard: Callable[[], None] = lambda: None,
    ) -> None:
        self.plan = plan
        self.resources = {r.address: r for r in resources}
        self.recorder = recorder
        self.fence = _Fence(client, guard)
        self.client: ApiClient = self.fence
        self.options = options
        self.on_outcome = on_outcome
        self.key = recorder.state.fingerprint_key
        self._outcomes: dict[str, Outcome] = {}
        self._lock = threading.Lock()

    def run(self) -> ApplyReport:
        pending = self.plan.pending()
        moves = [Move(rp.moved_from, rp.address) for rp in pending if rp.moved_from]
        if moves:  # state only: the remote objects keep their ids
            self.recorder.move(moves)
        for rp in pending:
            if rp.action is Action.MOVE:
                self._finish(Outcome(rp.address, rp.action, "moved", f"from {rp.moved_from}"))
        pending_writes = [rp for rp in pending if rp.action is not Action.MOVE]
        # Writes in dependency order (agents before what references them), then deletes
        # in reverse; within one level, resources are independent and run concurrently.
        levels: dict[tuple[int, int], list[ResourcePlan]] = {}
        for rp in pending_writes:
            order = KINDS[rp.kind].order
            level = (1, -order) if rp.action in REMOVALS else (0, order)
            levels.setdefault(level, []).append(rp)
        workers = max(1, self.options.parallelism)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for level in sorted(levels):
                list(pool.map(self._run_one, levels[level]))
        if self.fence.reason is not None:
            raise self.fence.reason
        outcomes = tuple(self._outcomes[rp.address] for rp in pending)
        return ApplyReport(outcomes, self.recorder.state)

    def _finish(self, outcome: Outcome) -> None:
        if outcome.id is None:
            outcome = replace(outcome, id=self._remote_id_of(outcome.address))
        with self._lock:
            self._outcomes[outcome.address] = outcome
        self.on_outcome(outcome)

    def _remote_id_of(self, address: str) -> str | None:
        """State's id once recorded (a create's new id), else the plan's (a delete's)."""
        recorded = self.recorder.state.resources.get(address)
        if recorded is not None and recorded.id:
            return str(recorded.id)
        planned = next((rp for rp in self.plan.resources if rp.address == address), None)
        return planned.id if planned is not None else None

    def _run_one(self, rp: ResourcePlan) -> None:
        try:
            blocked = [d for d in rp.depends_on if d in self._outcomes and self._outcomes[d].failed]
            if blocked:
                raise _ResourceFailed("not applied: it depends on " + ", ".join(blocked))
            self.fence.check(writing=False)
            outcome = self._delete(rp) if rp.action in REMOVALS else self._upsert(rp)
        except _Stopped as stopped:
            outcome = Outcome(rp.address, rp.action, "skipped", str(stopped))
        except StateNotSaved as error:
            cause = self.recorder.failure
            self.fence.stop(
                cause
                if isinstance(cause, LockLostError)
                else StateNotSaved(
                    f"{cause}; the apply stopped at once and sends nothing more", cause
                )
            )
            outcome = Outcome(rp.address, rp.action, "failed", scrub(str(error)))
        except (SigmaformError, OSError) as error:
            outcome = Outcome(rp.address, rp.action, "failed", scrub(str(error)))
        self._finish(outcome)

    def _delete(self, rp: ResourcePlan) -> Outcome:
        kind = KINDS[rp.kind]
        if not (self.options.allow_delete or self.plan.destroy):
            return Outcome(rp.address, rp.action, "skipped", "left alone: run with --allow-delete")
        if rp.protect:  # check_safety refuses this first; kept as a second guard
            return Outcome(rp.address, rp.action, "skipped", "protected")
        if kind.deletable and rp.id and rp.action is Action.DELETE:
            held = self.recorder.state.resources.get(rp.address)
            spec = held.applied if held is not None else {}
            kind.delete(
                self.client, rp.id, kind.scope_params(spec, self.recorder.resolve, rp.address)
            )
            self.recorder.forget(rp.address)
            return Outcome(rp.address, rp.action, "deleted")
        self.recorder.forget(rp.address)
        return Outcome(rp.address, rp.action, "forgotten", "no longer managed; left as is")

    def _upsert(self, rp: ResourcePlan) -> Outcome:
        resource = self.resources.get(rp.address)
        if resource is None:
            raise _ResourceFailed("the plan names a resource that is no longer in the files")
        kind = resource.kind_info
        merged = MERGED_OBJECTS[kind.name]
        desired = comparable_desired(resource.spec, self.key)
        if resource.ignore_changes and not (rp.action is Action.CREATE and rp.id is None):
            # Sent on create only; afterwards neither written nor verified.
            desired = without_units(desired, resource.ignore_changes)
        all_units = [u for u, _ in iter_units(desired, merged)]
        removed = [c.unit for c in rp.changes if c.unit not in set(all_units)]
        previous = self.recorder.state.resources.get(rp.address)
        known_ids = previous.nested_ids if previous else {}
        # A create that names an id recovers an agent an interrupted apply created: it
        # already holds the config (the planner checked), so it is only read and recorded.
        recovering = rp.action is Action.CREATE and kind.creatable and rp.id is not None
        creating = rp.action is Action.CREATE and kind.creatable and not recovering
        adopting = rp.action is Action.CREATE and not kind.creatable

        params = kind.scope_params(resource.spec, self.recorder.resolve, rp.address)
        current: dict[str, Any] | None = None
        if creating:
            units = all_units
            remote_id: str | None = None
        else:
            remote_id = _remote_id(resource, rp)
            # What the plan shows changing, nothing more (an adoption's "(unchanged)"
            # fields are verified below, not sent).
            units = [c.unit for c in rp.changes if self.plan.writes(rp, c)]
            if units and kind.whole_updates:  # a PUT replaces the object: send all of it
                units = all_units
            # State keeps nested ids (webhooks) from every response, so only an object
            # we have never written needs a read first.
            if adopting:
                current = kind.get(self.client, remote_id, params)
                if current is None:
                    raise _ResourceFailed(
                        f"{kind.name} {remote_id} does not exist remotely"
                        + ("; create or import it in the workspace first" if adopting else "")
                    )
                known_ids = nested_ids(kind, current) or known_ids

        response: dict[str, Any] | None = None
        if units:
            sent = profile_of(self.client).write_units(kind.name, units)
            body = _request_body(resource, sent, self.recorder, known_ids)
            response = _write(self.client, kind, remote_id, body, params)
            if remote_id is None:
                remote_id = str(response[kind.id_field])
            if kind.verify_by_read:  # what a replace kept shows only in a read
                response = kind.get(self.client, remote_id, params) or response
        else:  # only `protect` changed, or an adopted object already holds it all
            assert remote_id is not None
            response = current if adopting else kind.get(self.client, remote_id, params)
            if response is None:
                raise _ResourceFailed(f"{kind.name} {remote_id} does not exist remotely")
        known_ids = nested_ids(kind, response) or known_ids

        mismatched = self._mismatches(kind, response, desired, all_units)
        if mismatched:
            # The server did not keep what we sent (e.g. it replaced a partial
            # agentSettings instead of merging): resend each whole declared object once.
            resend = sorted({(u[0],) for u in mismatched})
            body = _request_body(resource, resend, self.recorder, known_ids)
            _write(self.client, kind, remote_id, body, params)
            fresh = kind.get(self.client, remote_id, params)
            response = fresh if fresh is not None else response
            known_ids = nested_ids(kind, response) or known_ids
            mismatched = self._mismatches(kind, response, desired, all_units)

        mismatched += [u for u in removed if is_removal(u, _spec_unit(kind, response, u))]
        held = share_equal(
            observed(
                kind,
                response,
                without_units(desired, resource.ignore_changes),
                self.key,
                self.recorder.id_to_name(),
            ),
            desired,  # the response's copy of each unchanged text is not kept
        )
        try:
            self.recorder.record(
                rp.address,
                ResourceState(
                    kind=kind.name,
                    id=remote_id,
                    applied=held,
                    # An unverified apply records no digest, so promotion will not trust it.
                    config_digest="" if mismatched else rp.config_digest,
                    applied_at=utc_now(),
                    protect=resource.protect,
                    nested_ids=known_ids,
                ),
            )
        except StateNotSaved:
            raise StateNotSaved(
                f"applied remotely as {kind.name} {remote_id}, but state was not saved:"
                f" {self.recorder.failure}"
            ) from None
        if mismatched:
            fields = ", ".join(unit_name(u) for u in mismatched)
            return Outcome(
                rp.address,
                rp.action,
                "failed",
                f"the server did not keep {fields} after a resend; state records what it holds",
            )
        if creating and previous is not None and previous.id != remote_id:
            self._delete_left_behind(kind, previous, resource, rp.address)
        status = "created" if creating else "adopted" if adopting or recovering else "updated"
        return Outcome(rp.address, rp.action, status)

    def _delete_left_behind(
        self, kind: Kind, previous: ResourceState, resource: Resource, address: str
    ) -> None:
        """A scoped object created under a new owner: the copy under the old owner goes.

        (Created again under the same owner, the old copy went with the owner.)
        """
        if not kind.scope or not kind.deletable:
            return
        try:
            before = kind.scope_params(previous.applied, self.recorder.resolve, address)
        except SigmaformError:  # the old owner is not managed any more: nothing to reach
            return
        if before != kind.scope_params(resource.spec, self.recorder.resolve, address):
            kind.delete(self.client, previous.id, before)

    def _mismatches(
        self,
        kind: Kind,
        response: Mapping[str, Any],
        desired: Mapping[str, Any],
        units: Sequence[Unit],
    ) -> list[Unit]:
        held = observed(kind, response, desired, self.key, self.recorder.id_to_name())
        return [d.unit for d in changed_units(held, desired, MERGED_OBJECTS[kind.name], only=units)]


def execute(
    plan: Plan,
    resources: Sequence[Resource],
    backend: StateBackend,
    state: State,
    client: ApiClient,
    options: ApplyOptions,
    on_outcome: Callable[[Outcome], None] = lambda _: None,
    guard: Callable[[], None] = lambda: None,
    settle: Callable[[State], State] | None = None,
) -> ApplyReport:
    """Apply `plan`. `guard` raises LockLostError when the lock is gone: asked before each
    write request. A lost lock or a failed state write stops the apply and is raised.
    `settle` makes a last change to the state once every resource is done (saved with the
    final compaction: a 10,000-resource document is not written twice)."""
    recorder = StateRecorder(backend, state)
    try:
        report = Executor(plan, resources, recorder, client, options, on_outcome, guard).run()
        if settle is not None:
            try:
                recorder.settle(settle)
            except StateNotSaved:
                # Every resource is done: the write's own error says it best (a lost
                # lock, someone else's write), as when it was a write of its own.
                if isinstance(recorder.failure, SigmaformError):
                    raise recorder.failure from None
                raise
            report = replace(report, state=recorder.state)
    finally:
        recorder.finish()  # also after a failure: the next read need not replay the journal
    return replace(report, state=recorder.state)


__all__ = [
    "ApiError",
    "ApplyOptions",
    "ApplyReport",
    "Outcome",
    "StateNotSaved",
    "check_safety",
    "execute",
]
