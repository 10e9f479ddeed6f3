"""The plan: a value computed without side effects from desired, state and remote.

    build_plan(resources, state, remote) -> Plan

`remote` is None without refresh (state is trusted), or a mapping from address to the
remote object (None when it is gone). The plan records, per resource, the action and the
field units that change; values of secrets are never in it, only `(sensitive)` marks.
Apply re-renders the same config, checks its digest against the plan's, and sends
exactly the recorded units.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cached_property
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
    same_units,
    union_shape,
    unit_name,
)
from sigmaform.digest import plan_digests, short_digest
from sigmaform.duplicates import PossibleDuplicate, find_possible_duplicates
from sigmaform.errors import ConfigError, Problem
from sigmaform.kinds import KINDS, REFERENCED, Kind, canonical_address
from sigmaform.lifecycle import is_removal, without_units
from sigmaform.moves import Move, move_state, retarget_state
from sigmaform.remote import (
    MERGED_OBJECTS,
    comparable_desired,
    observed,
    plain_spec,
    remote_to_spec,
)
from sigmaform.resource import Resource
from sigmaform.sensitive import (
    has_legacy,
    is_fingerprint,
    legacy_fingerprint_key,
    mask_tree,
    prefetch_fingerprints,
    sensitive_values,
    upgrade_fingerprints,
)
from sigmaform.state import ResourceState, State
from sigmaform.state_blobs import expand_arrays, materialize
from sigmaform.targets import check_targets, referenced_by_targets

PLAN_FORMAT_VERSION = 1
KNOWN_AFTER_APPLY = "(known after apply)"
CONFLICT_NOTE = "conflict"
RECOVERED_NOTE = "recovered {noun} created by an interrupted apply"


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    NOOP = "no-op"
    MOVE = "move"  # only the address changes (a `moved:` entry): state is rewritten
    FORGET = "forget"  # removed from state, left remotely (an adopted object on destroy)


class Effect(StrEnum):
    """What apply will really do to a resource: the plan's summary counts these apart."""

    CREATE = "create"
    ADOPT = "adopt"  # an existing remote object is taken under management (nothing created)
    UPDATE = "update"
    MOVE = "move"
    DELETE = "delete"
    FORGET = "forget"  # removed from state only; the remote object is left as it is
    SKIPPED = "skipped"  # a delete that needs --allow-delete
    PROTECTED = "protected"  # a delete that `protect: true` refuses
    NOOP = "no-op"


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
        # A text held by digest (apply's lazily loaded `!file`) is written as its text.
        if self.before is not MISSING:
            out["before"] = materialize(self.before)
        if self.after is not MISSING:
            out["after"] = materialize(self.after)
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

    def effect(self, allow_delete: bool) -> Effect:
        """What apply does to this resource, given whether deletes are allowed."""
        if self.action is Action.CREATE:
            # Not creatable, or already holding an id (a recovered agent): nothing is made.
            return Effect.ADOPT if self.id or not self.kind_info.creatable else Effect.CREATE
        if self.action is Action.DELETE:
            if self.protect:
                return Effect.PROTECTED
            if not allow_delete:
                return Effect.SKIPPED
            return Effect.DELETE if self.kind_info.deletable else Effect.FORGET
        return Effect(self.action.value)

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
            config_digest=short_digest(str(data.get("configDigest", ""))),
            source=str(data.get("source", "")),
            moved_from=data.get("movedFrom"),
            kept=tuple(FieldChange.from_dict(c) for c in data.get("kept", ())),
        )


@dataclass(frozen=True)
class Summary:
    create: int = 0
    adopt: int = 0
    update: int = 0
    delete: int = 0
    move: int = 0
    forget: int = 0
    skipped: int = 0
    protected: int = 0
    unchanged: int = 0
    drifted: int = 0
    duplicates: int = 0

    def line(self) -> str:
        """Create, update, delete and unchanged always; the rarer counters when not zero."""
        parts = [
            (f"{self.create} to create", True),
            (f"{self.adopt} to adopt", self.adopt > 0),
            (f"{self.update} to update", True),
            (f"{self.delete} to delete", True),
            (f"{self.move} to move", self.move > 0),
            (f"{self.forget} to forget", self.forget > 0),
            (f"{self.skipped} skipped", self.skipped > 0),
            (f"{self.protected} protected", self.protected > 0),
            (f"{self.unchanged} unchanged", True),
        ]
        return "Plan: " + ", ".join(text for text, shown in parts if shown) + "."

    def to_dict(self) -> dict[str, int]:
        return {
            "create": self.create,
            "adopt": self.adopt,
            "update": self.update,
            "delete": self.delete,
            "move": self.move,
            "forget": self.forget,
            "skipped": self.skipped,
            "protected": self.protected,
            "unchanged": self.unchanged,
            "drifted": self.drifted,
            "possibleDuplicates": self.duplicates,
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
    allow_delete: bool = False  # planned for `apply --allow-delete`: deletes are not skipped

    possible_duplicates: tuple[PossibleDuplicate, ...] = ()

    def effect(self, resource: ResourcePlan) -> Effect:
        return resource.effect(self.allow_delete or self.destroy)

    @property
    def digested(self) -> bool:
        """Whether the config digests were computed (`build_plan(digests=False)`)."""
        return bool(self.config_digest)

    @cached_property
    def creating(self) -> frozenset[str]:
        """Addresses this plan creates: asked once per rendered field, so computed once."""
        return frozenset(r.address for r in self.resources if r.action is Action.CREATE)

    @property
    def summary(self) -> Summary:
        count = {e: 0 for e in Effect}
        for r in self.resources:
            count[self.effect(r)] += 1
        return Summary(
            create=count[Effect.CREATE],
            adopt=count[Effect.ADOPT],
            update=count[Effect.UPDATE],
            delete=count[Effect.DELETE],
            # A moved resource that also changes counts as an update and as a move.
            move=sum(1 for r in self.resources if r.moved_from),
            forget=count[Effect.FORGET],
            skipped=count[Effect.SKIPPED],
            protected=count[Effect.PROTECTED],
            unchanged=count[Effect.NOOP],
            drifted=sum(1 for r in self.resources if r.drift),
            duplicates=len(self.possible_duplicates),
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

    def known_after_apply(self, rp: ResourcePlan, change: FieldChange) -> bool:
        """Whether `change` names a resource this plan creates (its id comes from apply)."""
        if not isinstance(change.after, str):
            return False
        return any(d in self.creating and d.endswith("." + change.after) for d in rp.depends_on)

    def writes(self, rp: ResourcePlan, change: FieldChange) -> bool:
        """Whether apply sends `change`. An adoption lists every declared field; one that
        already holds its value is shown `(unchanged)` and is not sent, unless it names a
        resource created in this apply (the same name may then mean another id)."""
        if rp.action is not Action.CREATE:
            return True
        return change.before != change.after or self.known_after_apply(rp, change)

    def to_dict(self) -> dict[str, Any]:
        if not self.digested:
            # Written out, a plan is compared with the files by its digest (apply PLANFILE).
            raise ValueError("a plan built without its config digests cannot be written")
        return {
            "formatVersion": PLAN_FORMAT_VERSION,
            "environment": self.environment,
            "lineage": self.lineage,
            "serial": self.serial,
            "configDigest": self.config_digest,
            "refreshed": self.refreshed,
            "targets": list(self.targets),
            "destroy": self.destroy,
            "allowDelete": self.allow_delete,
            "summary": self.summary.to_dict(),
            "resources": [{**r.to_dict(), "effect": self.effect(r).value} for r in self.resources],
            "possibleDuplicates": [d.to_dict() for d in self.possible_duplicates],
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
                allow_delete=bool(data.get("allowDelete", False)),
                resources=tuple(ResourcePlan.from_dict(r) for r in data["resources"]),
                possible_duplicates=tuple(
                    PossibleDuplicate.from_dict(d) for d in data.get("possibleDuplicates", ())
                ),
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
    # One string per field name, not one per change: 10,000 creates list ~150,000 changes.
    return FieldChange(sys.intern(unit_name(delta.unit)), before, after, sensitive, inner)


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
    scoped_unmanaged: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    moves: Sequence[Move] = (),
    allow_delete: bool = False,
    agents: Sequence[Mapping[str, Any]] | None = None,
    retarget: bool = True,
    digests: bool = True,
) -> Plan:
    """Compare desired resources with state (and remote, when refreshed). Pure.

    `unmanaged_agents` maps an `agentName` to the remote agents of that name that state
    does not know. Creating another would make a duplicate. When exactly one exists and
    it already holds every declared field, it is our own create whose apply died before
    state was saved: it is recovered (planned as a create with its id, nothing sent).
    Otherwise the create is marked as a conflict (apply refuses it and suggests `import`).
    A re-create (an agent deleted outside sigmaform) follows the same rule.
    `scoped_unmanaged` maps the address of a create of a scoped kind (a test case) to its
    owner's remote objects that state does not know (`lost_creates.py`): the one of them
    that holds every declared field, if exactly one does, is recovered the same way.
    `moves` (sigmaform.yaml's `moved:`) rename addresses in state before comparing.
    An adopted object whose file now names another one is planned as an adoption of that
    one, unless `retarget` is off (drift: it compares the remote with state alone).

    A target that matches nothing is refused; a target takes in what it references.

    `agents`, the whole remote agent listing when it was read, finds possible duplicates
    of managed agents (`duplicates.py`).

    `digests` off: the config digests are left empty. Hashing every prompt twice is a
    tenth of a plan's time, and only a saved or JSON plan, or apply, uses them; such a
    plan cannot be saved (`digested`).
    """
    state, moved_from = move_state(state, moves)
    state, retargeted = retarget_state(resources, state) if retarget else (state, {})
    check_targets(targets, {r.address for r in resources} | set(state.resources))
    taken_in = referenced_by_targets(resources, targets)
    if taken_in:
        targets = (*targets, *taken_in)
    key = state.fingerprint_key
    # Every distinct secret is stretched (scrypt) on other threads while planning goes on.
    prefetch_fingerprints((v for r in resources for v in sensitive_values(r.spec)), key)
    desired_addresses = {r.address for r in resources}
    config_digests, whole_digest = (
        plan_digests(resources, key) if digests else (dict.fromkeys(desired_addresses, ""), "")
    )
    id_to_name = {
        r.id: addr.split(".", 1)[1] for addr, r in state.resources.items() if r.kind in REFERENCED
    }
    plans: list[ResourcePlan] = []
    left_alone: set[str] = set()
    created = {
        r.address
        for r in resources
        if r.kind_info.creatable
        and (
            r.address not in state.resources
            or (remote is not None and r.address in remote and remote[r.address] is None)
        )
    }

    for resource in resources:
        if not _matches_target(resource.address, targets):
            continue
        kind = resource.kind_info
        merged = MERGED_OBJECTS[kind.name]
        desired = comparable_desired(resource.spec, key)
        applied_state = state.resources.get(resource.address)
        notes: list[str] = [taken_in[resource.address]] if resource.address in taken_in else []
        remote_body = remote.get(resource.address) if remote is not None else None
        refreshed = remote is not None and resource.address in remote
        # Scoped to its owner (a test case to its agent), it cannot move to another one:
        # a new owner, or the owner created again, means created again under it.
        owner = _owner_created(resource, created)
        moved_owner = _owner_changed(resource, applied_state)
        if applied_state is not None and moved_owner is not None:
            old, new = moved_owner
            notes.append(
                f"moves from {old} to {new}: created under {new}, and the one under {old}"
                " is deleted"
            )
            remote_body, applied_state = None, None
        elif owner is not None and applied_state is not None:
            notes.append(f"{owner} is created again: created again under it")
            remote_body, applied_state = None, None
        common = {
            "address": resource.address,
            "kind": resource.kind,
            "name": resource.name,
            "protect": resource.protect,
            "depends_on": _references(resource),
            "config_digest": config_digests[resource.address],
            "source": resource.source,
        }

        if applied_state is None or (refreshed and remote_body is None):
            if applied_state is not None:
                notes.append("deleted outside sigmaform: it will be created again")
            if resource.address in retargeted:
                ident = resource.spec.get(kind.identity_field or "")
                notes.append(
                    f"the file now names {kind.name} {ident}; state had {kind.name} "
                    f"{retargeted[resource.address]}, which is no longer managed and is left "
                    "as it is"
                )
            namesakes = (unmanaged_agents or {}).get(str(resource.spec.get("agentName")), ())
            if kind.name == "Agent":
                # agentName is unique: the one namesake is ours, or a conflict.
                alike = _holding(kind, namesakes, desired, key, id_to_name)
                ours = alike[0] if len(namesakes) == 1 and alike else None
                whose = "of the same name"
            else:
                found = (scoped_unmanaged or {}).get(resource.address, ())
                alike = _holding(kind, found, desired, key, id_to_name)
                # Two alike (one made by hand besides): neither is taken, one is created.
                ours = alike[0] if len(alike) == 1 else None
                whose = "of its " + " and ".join(sorted(kind.scope.values()))
            if ours is not None:
                noun = _noun(kind)
                why = (
                    f"{RECOVERED_NOTE.format(noun=noun)} (id {ours})"
                    if applied_state is None
                    else f"deleted outside sigmaform, but an unmanaged {noun.split(' ', 1)[1]}"
                    f" {whose} (id {ours}) holds the declared config"
                )
                kept_notes = [n for n in notes if not n.startswith("deleted outside")]
                plans.append(
                    ResourcePlan(
                        action=Action.CREATE,
                        id=ours,
                        notes=(
                            *kept_notes,
                            f"{why}: it matches the files, so it is recorded in state and "
                            "nothing is sent",
                        ),
                        **common,  # type: ignore[arg-type]
                    )
                )
                continue
            if kind.name == "Agent" and applied_state is None:
                notes += renamed_without_move(resource, state)
            if kind.name == "Agent" and namesakes:
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
            # An adopted object exists already: show what it holds now, field by field.
            held = (
                observed(kind, remote_body, desired, key, id_to_name)
                if remote_body is not None and not kind.creatable
                else {}
            )
            if remote_body is not None and (closed := kind.closed(remote_body)):
                plans.append(_left_alone(common, str(remote_body.get(kind.id_field)), closed))
                left_alone.add(resource.address)
                continue
            changes = tuple(
                _field_change(UnitDelta(unit, get_unit(held, unit), value))
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
        if refreshed:
            # Compared with the server field by field, item by item (and secrets found
            # by the shape of what was applied): long arrays are read from state's blobs.
            applied = expand_arrays(applied)
        if resource.ignore_changes:  # left alone on purpose: not compared at all
            desired = without_units(desired, resource.ignore_changes)
            applied = without_units(applied, resource.ignore_changes)
        # Without a refresh, what was applied is what is held. Most resources did not
        # change: same_units tells so at the cost of one deep `==` (the long texts by
        # digest). Fingerprints in the old form would then be desired as they are: an
        # upgrade (below) re-makes only a value whose old fingerprint its source matches,
        # never the text of that fingerprint itself.
        unchanged = not refreshed and same_units(applied, desired, merged)
        if not unchanged and has_legacy(applied):
            # Fingerprints from before v2: re-made from whichever value they still match.
            sources: tuple[Any, ...] = (resource.spec,)
            if refreshed and remote_body is not None:
                sources += (plain_spec(kind, remote_body, id_to_name),)
            legacy = legacy_fingerprint_key(state.lineage)
            applied = upgrade_fingerprints(applied, sources, legacy, key)
        drift: list[FieldChange] = []
        deltas: list[UnitDelta] = []
        unmanaged: list[str] = []
        kept: list[FieldChange] = []
        if refreshed and remote_body is not None:
            if closed := kind.closed(remote_body):
                plans.append(_left_alone(common, applied_state.id, closed))
                left_alone.add(resource.address)
                continue
            remote_spec = remote_to_spec(kind, remote_body, key, id_to_name, (applied, desired))
            current = observed(kind, remote_body, desired, key, id_to_name)
            old_shape = project(remote_spec, union_shape(applied, {}, merged))
            drift = [_field_change(d) for d in changed_units(applied, old_shape, merged)]
            deltas, unmanaged, kept = _to_apply(current, applied, remote_spec, desired, merged)
        elif not unchanged:
            deltas, unmanaged, kept = _to_apply(applied, applied, None, desired, merged)
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
        elif not kind.deletable:
            notes.append(
                f"its file is gone: with --allow-delete sigmaform stops managing it "
                f"(the {kind.name} itself is left as is)"
            )
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

    plans = _follow_new_agent_ids([_with_move(p, moved_from) for p in plans], resources, left_alone)
    plans.sort(key=_apply_order)
    duplicates: tuple[PossibleDuplicate, ...] = ()
    if agents is not None:
        recovered = [p.id for p in plans if p.action is Action.CREATE and p.id]
        duplicates = find_possible_duplicates(
            resources, state, agents, targets=targets, claimed=recovered
        )
    return Plan(
        environment=state.environment,
        lineage=state.lineage,
        serial=state.serial,
        config_digest=whole_digest,
        refreshed=remote is not None,
        resources=tuple(plans),
        targets=tuple(t for t in targets if t not in taken_in),
        allow_delete=allow_delete,
        possible_duplicates=duplicates,
    )


def _owner_created(resource: Resource, created: set[str]) -> str | None:
    """The address of the resource this one is scoped to, when that one is being created."""
    kind = resource.kind_info
    for spec_field in kind.scope.values():
        name = resource.spec.get(spec_field)
        target = f"{KINDS[kind.references[spec_field][0]].prefix}.{name}"
        if isinstance(name, str) and target in created:
            return target
    return None


def _owner_changed(resource: Resource, applied: ResourceState | None) -> tuple[str, str] | None:
    """(old, new) owner addresses when the file names another owner than state applied."""
    kind = resource.kind_info
    for spec_field in kind.scope.values():
        old, new = (
            (applied.applied.get(spec_field) if applied else None),
            resource.spec.get(spec_field),
        )
        if isinstance(old, str) and isinstance(new, str) and old != new:
            prefix = KINDS[kind.references[spec_field][0]].prefix
            return f"{prefix}.{old}", f"{prefix}.{new}"
    return None


def _left_alone(common: Mapping[str, Any], remote_id: str, why: str) -> ResourcePlan:
    # No digest: state must not record this config as applied (promotion would trust it).
    fields = {**common, "config_digest": ""}
    return ResourcePlan(action=Action.NOOP, id=remote_id, notes=(why,), **fields)


def _follow_new_agent_ids(
    plans: list[ResourcePlan], resources: Sequence[Resource], left_alone: AbstractSet[str]
) -> list[ResourcePlan]:
    """Resources that reference an agent getting a new id send the reference again.

    Their declared value (the agent's logical name) did not change, so no diff shows it;
    but the server holds the old id, which after a re-create names a deleted agent.
    `left_alone`: the addresses of resources the plan leaves as they are (a closed chat).
    """
    renewed = {p.address for p in plans if p.kind == "Agent" and p.action is Action.CREATE}
    if not renewed:
        return plans
    specs = {r.address: r for r in resources}
    out = []
    for rp in plans:
        resource = specs.get(rp.address)
        if (
            resource is None
            or rp.action not in (Action.UPDATE, Action.NOOP, Action.MOVE)
            or rp.address in left_alone
        ):
            out.append(rp)
            continue
        changed = {c.path for c in rp.changes}
        extra = []
        for spec_field, (target_kind, _) in resource.kind_info.references.items():
            name = resource.spec.get(spec_field)
            target = f"{KINDS[target_kind].prefix}.{name}"
            if isinstance(name, str) and target in renewed and spec_field not in changed:
                extra.append((FieldChange(spec_field, name, name), target))
        if not extra:
            out.append(rp)
            continue
        notes = [
            f"{target} gets a new id: {change.path} is sent again with it"
            for change, target in extra
        ]
        out.append(
            replace(
                rp,
                action=Action.UPDATE,
                changes=tuple(sorted((*rp.changes, *(c for c, _ in extra)), key=lambda c: c.path)),
                notes=(*rp.notes, *notes),
            )
        )
    return out


def _to_apply(
    current: Mapping[str, Any],
    applied: Mapping[str, Any],
    remote_spec: Mapping[str, Any] | None,
    desired: Mapping[str, Any],
    merged: Collection[str],
) -> tuple[list[UnitDelta], list[str], list[FieldChange]]:
    """The units to send (changed, then removed), the undeclared ones no longer managed,
    and the values that stay in them (see _undeclared)."""
    declared = [u for u, _ in iter_units(desired, merged)]
    deltas = changed_units(current, desired, merged, only=declared)
    removed, unmanaged, kept = _undeclared(applied, remote_spec, set(declared), merged)
    return deltas + removed, unmanaged, kept


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
        value = materialize(value)  # shown below (units still declared never load a blob)
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


def _holding(
    kind: Kind,
    bodies: Sequence[Mapping[str, Any]],
    desired: Mapping[str, Any],
    key: bytes,
    id_to_name: Mapping[str, str],
) -> list[str]:
    """The ids of the unmanaged remote objects that hold exactly the declared config."""
    merged = MERGED_OBJECTS[kind.name]
    units = [u for u, _ in iter_units(desired, merged)]
    ids = []
    for body in bodies:
        held = observed(kind, body, desired, key, id_to_name)
        if body.get(kind.id_field) and not changed_units(held, desired, merged, only=units):
            ids.append(str(body[kind.id_field]))
    return ids


def _noun(kind: Kind) -> str:
    """`an agent`, `a test case`: the kind as the plan's notes name it."""
    words = kind.prefix.replace("-", " ")
    return f"{'an' if words[0] in 'aeiou' else 'a'} {words}"


def _apply_order(plan: ResourcePlan) -> tuple[int, int, str]:
    order = KINDS[plan.kind].order
    if plan.action in (Action.DELETE, Action.FORGET):
        return (1, -order, plan.address)
    return (0, order, plan.address)
