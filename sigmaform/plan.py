"""The plan: a value computed without side effects from desired, state and remote.

    build_plan(resources, state, remote) -> Plan

`remote` is None without refresh (state is trusted), or a mapping from address to the
remote object (None when it is gone). The plan records, per resource, the action and the
field units that change; values of secrets are never in it, only `(sensitive)` marks.
Apply re-renders the same config, checks its digest against the plan's, and sends
exactly the recorded units.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from sigmaform import invocation
from sigmaform.diff import (
    MISSING,
    Detail,
    Unit,
    UnitDelta,
    changed_units,
    details,
    get_unit,
    iter_units,
    project,
    union_shape,
    unit_name,
)
from sigmaform.digest import config_digest, plan_digest
from sigmaform.errors import ConfigError, Problem
from sigmaform.kinds import KINDS, Kind, canonical_address
from sigmaform.lifecycle import is_removal, without_units
from sigmaform.moves import Move, move_state
from sigmaform.remote import MERGED_OBJECTS, comparable_desired, observed, remote_to_spec
from sigmaform.resource import Resource
from sigmaform.sensitive import is_fingerprint, mask_tree
from sigmaform.state import State

PLAN_FORMAT_VERSION = 1
KNOWN_AFTER_APPLY = "(known after apply)"
CONFLICT_NOTE = "conflict"
RECOVERED_NOTE = "recovered an agent created by an interrupted apply"


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    NOOP = "no-op"
    MOVE = "move"  # only the address changes (a `moved:` entry): state is rewritten
    FORGET = "forget"  # removed from state, left remotely (an adopted object on destroy)


@dataclass(frozen=True)
class FieldChange:
    """One unit that changes (or drifted). Values are masked when sensitive."""

    path: str
    before: Any  # MISSING when the field is new
    after: Any  # MISSING when the field is gone
    sensitive: bool = False
    details: tuple[Detail, ...] = ()

    @property
    def unit(self) -> tuple[str, ...]:
        return tuple(self.path.split("."))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "sensitive": self.sensitive}
        if self.before is not MISSING:
            out["before"] = self.before
        if self.after is not MISSING:
            out["after"] = self.after
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FieldChange:
        return cls(
            path=str(data["path"]),
            before=data.get("before", MISSING),
            after=data.get("after", MISSING),
            sensitive=bool(data.get("sensitive", False)),
        )


@dataclass(frozen=True)
class ResourcePlan:
    address: str
    kind: str
    name: str
    action: Action
    id: str | None = None
    changes: tuple[FieldChange, ...] = ()
    drift: tuple[FieldChange, ...] = ()
    unmanaged: tuple[str, ...] = ()  # fields removed from YAML: no longer managed, left alone
    notes: tuple[str, ...] = ()
    protect: bool = False
    depends_on: tuple[str, ...] = ()
    config_digest: str = ""
    source: str = ""
    moved_from: str | None = None  # the old address, when a `moved:` entry renamed it
    # Fields removed from YAML whose remote value stays (before = the value that stays).
    kept: tuple[FieldChange, ...] = ()

    @property
    def kind_info(self) -> Kind:
        return KINDS[self.kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "kind": self.kind,
            "name": self.name,
            "action": self.action.value,
            "id": self.id,
            "changes": [c.to_dict() for c in self.changes],
            "drift": [c.to_dict() for c in self.drift],
            "unmanaged": list(self.unmanaged),
            "notes": list(self.notes),
            "protect": self.protect,
            "dependsOn": list(self.depends_on),
            "configDigest": self.config_digest,
            "source": self.source,
            "movedFrom": self.moved_from,
            "kept": [c.to_dict() for c in self.kept],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResourcePlan:
        return cls(
            address=str(data["address"]),
            kind=str(data["kind"]),
            name=str(data["name"]),
            action=Action(data["action"]),
            id=data.get("id"),
            changes=tuple(FieldChange.from_dict(c) for c in data.get("changes", ())),
            drift=tuple(FieldChange.from_dict(c) for c in data.get("drift", ())),
            unmanaged=tuple(data.get("unmanaged", ())),
            notes=tuple(data.get("notes", ())),
            protect=bool(data.get("protect", False)),
            depends_on=tuple(data.get("dependsOn", ())),
            config_digest=str(data.get("configDigest", "")),
            source=str(data.get("source", "")),
            moved_from=data.get("movedFrom"),
            kept=tuple(FieldChange.from_dict(c) for c in data.get("kept", ())),
        )


@dataclass(frozen=True)
class Summary:
    create: int = 0
    update: int = 0
    delete: int = 0
    unchanged: int = 0
    drifted: int = 0
    move: int = 0
    forget: int = 0

    def line(self) -> str:
        extra = "".join(
            f"{n} to {what}, " for n, what in ((self.move, "move"), (self.forget, "forget")) if n
        )
        return (
            f"Plan: {self.create} to create, {self.update} to update, "
            f"{self.delete} to delete, {extra}{self.unchanged} unchanged."
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "create": self.create,
            "update": self.update,
            "delete": self.delete,
            "unchanged": self.unchanged,
            "drifted": self.drifted,
            "move": self.move,
            "forget": self.forget,
        }


@dataclass(frozen=True)
class Plan:
    environment: str
    lineage: str
    serial: int
    config_digest: str
    refreshed: bool
    resources: tuple[ResourcePlan, ...]
    targets: tuple[str, ...] = ()
    destroy: bool = False  # `plan --destroy`: everything managed is deleted or forgotten

    @property
    def summary(self) -> Summary:
        count = {a: 0 for a in Action}
        for r in self.resources:
            count[r.action] += 1
        return Summary(
            create=count[Action.CREATE],
            update=count[Action.UPDATE],
            delete=count[Action.DELETE],
            unchanged=count[Action.NOOP],
            drifted=sum(1 for r in self.resources if r.drift),
            # A moved resource that also changes counts as an update and as a move.
            move=sum(1 for r in self.resources if r.moved_from),
            forget=count[Action.FORGET],
        )

    @property
    def has_changes(self) -> bool:
        return any(r.action is not Action.NOOP for r in self.resources)

    def conflicts(self) -> list[ResourcePlan]:
        """Creates that would duplicate an existing, unmanaged remote object."""
        return [
            r
            for r in self.resources
            if r.action is Action.CREATE and any(n.startswith(CONFLICT_NOTE) for n in r.notes)
        ]

    def pending(self) -> list[ResourcePlan]:
        return [r for r in self.resources if r.action is not Action.NOOP]

    def to_dict(self) -> dict[str, Any]:
        return {
            "formatVersion": PLAN_FORMAT_VERSION,
            "environment": self.environment,
            "lineage": self.lineage,
            "serial": self.serial,
            "configDigest": self.config_digest,
            "refreshed": self.refreshed,
            "targets": list(self.targets),
            "destroy": self.destroy,
            "summary": self.summary.to_dict(),
            "resources": [r.to_dict() for r in self.resources],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str) -> Plan:
        if not isinstance(data, Mapping) or data.get("formatVersion") != PLAN_FORMAT_VERSION:
            raise ConfigError(
                Problem(source, message="not a sigmaform plan file (formatVersion 1)")
            )
        try:
            return cls(
                environment=str(data["environment"]),
                lineage=str(data["lineage"]),
                serial=int(data["serial"]),
                config_digest=str(data["configDigest"]),
                refreshed=bool(data["refreshed"]),
                targets=tuple(data.get("targets", ())),
                destroy=bool(data.get("destroy", False)),
                resources=tuple(ResourcePlan.from_dict(r) for r in data["resources"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ConfigError(Problem(source, message=f"plan file is damaged: {error!r}")) from None


def _has_secret(value: Any) -> bool:
    if is_fingerprint(value):
        return True
    if isinstance(value, dict):
        return any(_has_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secret(v) for v in value)
    return False


def _field_change(delta: UnitDelta) -> FieldChange:
    sensitive = _has_secret(delta.before) or _has_secret(delta.after)
    before, after = mask_tree(delta.before), mask_tree(delta.after)
    inner: tuple[Detail, ...] = ()
    if isinstance(delta.after, (list, dict)) and isinstance(delta.before, (list, dict)):
        inner = tuple(
            Detail(d.path, mask_tree(d.before), mask_tree(d.after))
            for d in details(delta.before, delta.after)
        )
    return FieldChange(unit_name(delta.unit), before, after, sensitive, inner)


def _references(resource: Resource) -> tuple[str, ...]:
    deps = []
    for spec_field, (target_kind, _) in resource.kind_info.references.items():
        name = resource.spec.get(spec_field)
        if isinstance(name, str):
            deps.append(f"{KINDS[target_kind].prefix}.{name}")
    return tuple(sorted(set(deps)))


def _matches_target(address: str, targets: Collection[str]) -> bool:
    if not targets:
        return True
    return address in targets


def normalise_targets(targets: Sequence[str]) -> tuple[str, ...]:
    """Accept `Agent.support`, `agent.support` or `phone-number.x` / `PhoneNumber.x`."""
    out = []
    for target in targets:
        address = canonical_address(target)
        if address is None:
            known = ", ".join(f"{k.name}.NAME" for k in KINDS.values())
            raise ConfigError(f"--target {target!r}: expected KIND.NAME ({known})")
        out.append(address)
    return tuple(sorted(set(out)))


def build_plan(
    resources: Sequence[Resource],
    state: State,
    remote: Mapping[str, Mapping[str, Any] | None] | None = None,
    *,
    targets: Sequence[str] = (),
    unmanaged_agents: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    moves: Sequence[Move] = (),
) -> Plan:
    """Compare desired resources with state (and remote, when refreshed). Pure.

    `unmanaged_agents` maps an `agentName` to the remote agents of that name that state
    does not know. Creating another would make a duplicate. When exactly one exists and
    it already holds every declared field, it is our own create whose apply died before
    state was saved: it is recovered (planned as a create with its id, nothing sent).
    Otherwise the create is marked as a conflict (apply refuses it and suggests `import`).
    `moves` (sigmaform.yaml's `moved:`) rename addresses in state before comparing.
    """
    state, moved_from = move_state(state, moves)
    key = state.fingerprint_key
    id_to_name = {
        r.id: addr.split(".", 1)[1] for addr, r in state.resources.items() if r.kind == "Agent"
    }
    desired_addresses = {r.address for r in resources}
    plans: list[ResourcePlan] = []

    for resource in resources:
        if not _matches_target(resource.address, targets):
            continue
        kind = resource.kind_info
        merged = MERGED_OBJECTS[kind.name]
        desired = comparable_desired(resource.spec, key)
        applied_state = state.resources.get(resource.address)
        notes: list[str] = []
        remote_body = remote.get(resource.address) if remote is not None else None
        refreshed = remote is not None and resource.address in remote
        common = {
            "address": resource.address,
            "kind": resource.kind,
            "name": resource.name,
            "protect": resource.protect,
            "depends_on": _references(resource),
            "config_digest": config_digest(resource),
            "source": resource.source,
        }

        if applied_state is None or (refreshed and remote_body is None):
            if applied_state is not None:
                notes.append("deleted outside sigmaform: it will be created again")
            namesakes = (unmanaged_agents or {}).get(str(resource.spec.get("agentName")), ())
            if kind.name == "Agent" and namesakes:
                ours = _recovered_create(kind, namesakes, desired, key, id_to_name)
                if ours is not None:
                    plans.append(
                        ResourcePlan(
                            action=Action.CREATE,
                            id=ours,
                            notes=(
                                f"{RECOVERED_NOTE} (id {ours}): it matches the files, so it is "
                                "recorded in state and nothing is sent",
                            ),
                            **common,  # type: ignore[arg-type]
                        )
                    )
                    continue
            if kind.name == "Agent" and applied_state is None:
                notes += renamed_without_move(resource, state)
            if kind.name == "Agent" and namesakes and applied_state is None:
                clash = namesakes[0].get(kind.id_field)
                notes.append(
                    f"{CONFLICT_NOTE}: an agent named {resource.spec.get('agentName')!r} already "
                    f"exists remotely (id {clash}) and is not managed; adopt it with "
                    f"`{invocation.command('import', str(clash), '--name', resource.name)}`"
                )
            if not kind.creatable:
                ident = resource.spec.get(kind.identity_field or "")
                notes.append(f"adopts the existing {kind.name} {ident}; nothing is created")
                # Adopting writes an object that already exists: ignored paths stay as they are.
                desired = without_units(desired, resource.ignore_changes)
            changes = tuple(
                _field_change(UnitDelta(unit, MISSING, value))
                for unit, value in iter_units(desired, merged)
            )
            plans.append(
                ResourcePlan(
                    action=Action.CREATE,
                    id=None
                    if kind.creatable
                    else str(resource.spec.get(kind.identity_field or "")),
                    changes=changes,
                    notes=tuple(notes),
                    **common,  # type: ignore[arg-type]
                )
            )
            continue

        applied = applied_state.applied
        if resource.ignore_changes:  # left alone on purpose: not compared at all
            desired = without_units(desired, resource.ignore_changes)
            applied = without_units(applied, resource.ignore_changes)
        declared_units = [u for u, _ in iter_units(desired, merged)]
        drift: list[FieldChange] = []
        current = applied
        remote_spec: dict[str, Any] | None = None
        if refreshed and remote_body is not None:
            remote_spec = remote_to_spec(kind, remote_body, key, id_to_name)
            current = observed(kind, remote_body, desired, key, id_to_name)
            old_shape = project(remote_spec, union_shape(applied, {}, merged))
            drift = [_field_change(d) for d in changed_units(applied, old_shape, merged)]
        deltas = changed_units(current, desired, merged, only=declared_units)
        removed, unmanaged, kept = _undeclared(applied, remote_spec, set(declared_units), merged)
        deltas += removed
        if protect_changed := (applied_state.protect != resource.protect):
            notes.append("protect: " + ("on" if resource.protect else "off"))
        action = Action.UPDATE if deltas or protect_changed else Action.NOOP
        plans.append(
            ResourcePlan(
                action=action,
                id=applied_state.id,
                changes=tuple(_field_change(d) for d in deltas),
                drift=tuple(drift),
                unmanaged=tuple(unmanaged),
                kept=tuple(kept),
                notes=tuple(notes),
                **common,  # type: ignore[arg-type]
            )
        )

    for address, gone in sorted(state.resources.items()):
        if address in desired_addresses or not _matches_target(address, targets):
            continue
        kind = KINDS[gone.kind]
        notes = []
        if gone.protect:
            notes.append("protected: it will not be deleted (protect: true is kept in state)")
        if not kind.deletable:
            notes.append(f"the {kind.name} itself is left as is; sigmaform stops managing it")
        else:
            notes.append("its file is gone; deleted only with --allow-delete")
        plans.append(
            ResourcePlan(
                address=address,
                kind=gone.kind,
                name=address.split(".", 1)[1],
                action=Action.DELETE,
                id=gone.id,
                notes=tuple(notes),
                protect=gone.protect,
                config_digest=gone.config_digest,
            )
        )

    plans = [_with_move(p, moved_from) for p in plans]
    plans.sort(key=_apply_order)
    return Plan(
        environment=state.environment,
        lineage=state.lineage,
        serial=state.serial,
        config_digest=plan_digest(resources, key),
        refreshed=remote is not None,
        resources=tuple(plans),
        targets=tuple(targets),
    )


def _undeclared(
    applied: Mapping[str, Any],
    remote_spec: Mapping[str, Any] | None,
    declared: Collection[Unit],
    merged: Collection[str],
) -> tuple[list[UnitDelta], list[str], list[FieldChange]]:
    """Units applied before but no longer declared: (removals, unmanaged paths, kept values).

    A removable array that still holds items is removed (apply sends []); anything else
    stops being managed, and the value that stays (remote, else last applied) is shown.
    """
    removals: list[UnitDelta] = []
    unmanaged: list[str] = []
    kept: list[FieldChange] = []
    for unit, value in iter_units(applied, merged):
        if unit in declared:
            continue
        now = value if remote_spec is None else get_unit(remote_spec, unit)
        if is_removal(unit, value) and is_removal(unit, now):
            # Shown in the shape that was applied (server-owned item fields left out).
            removals.append(UnitDelta(unit, project(now, value), []))
            continue
        unmanaged.append(unit_name(unit))
        if now is not MISSING:
            kept.append(FieldChange(unit_name(unit), mask_tree(now), MISSING, _has_secret(now)))
    return removals, sorted(unmanaged), kept


def renamed_without_move(resource: Resource, state: State) -> list[str]:
    """A conflict note when another managed agent already has this `agentName`.

    Most often a rename of `name:` without a `moved:` entry: creating would leave two
    agents of one name, the old one deleted only with --allow-delete.
    """
    wanted = resource.spec.get("agentName")
    for address, held in sorted(state.resources.items()):
        if (
            held.kind == "Agent"
            and address != resource.address
            and held.applied.get("agentName") == wanted
        ):
            return [
                f"{CONFLICT_NOTE}: {address} already manages an agent named {wanted!r} "
                f"(id {held.id}); if {resource.address} is {address} renamed, add to "
                f"sigmaform.yaml: moved: [{{from: {address}, to: {resource.address}}}]"
            ]
    return []


def _with_move(plan: ResourcePlan, moved_from: Mapping[str, str]) -> ResourcePlan:
    old = moved_from.get(plan.address)
    if old is None:
        return plan
    action = Action.MOVE if plan.action is Action.NOOP else plan.action
    return replace(plan, moved_from=old, action=action)


def _recovered_create(
    kind: Kind,
    namesakes: Sequence[Mapping[str, Any]],
    desired: Mapping[str, Any],
    key: bytes,
    id_to_name: Mapping[str, str],
) -> str | None:
    """The id of the one unmanaged agent that holds exactly the declared config, if any."""
    if len(namesakes) != 1:
        return None
    body = namesakes[0]
    merged = MERGED_OBJECTS[kind.name]
    held = observed(kind, body, desired, key, id_to_name)
    units = [u for u, _ in iter_units(desired, merged)]
    if changed_units(held, desired, merged, only=units) or not body.get(kind.id_field):
        return None
    return str(body[kind.id_field])


def _apply_order(plan: ResourcePlan) -> tuple[int, int, str]:
    order = KINDS[plan.kind].order
    if plan.action in (Action.DELETE, Action.FORGET):
        return (1, -order, plan.address)
    return (0, order, plan.address)
