"""Renames that travel with the code: `moved:` entries in sigmaform.yaml, applied to state.

    collisions(moves) -> [(index, why)]                (validate, with sigmaform.yaml's marks)
    move_state(state, moves) -> (state, {new: old})    (pure; plan and apply share it)
    retarget_state(resources, state) -> (state, {address: old id})

A move changes only a resource's address in state, and every reference to it held in
other resources' applied values (a PhoneNumber's applied `inboundAgent: billing`), so the
next plan neither creates nor deletes anything and shows no false drift. Like Terraform's
`moved` blocks, an entry whose `from` is not in state is a no-op: the same files move
every environment, whenever each one is next planned.

The opposite case, an address that keeps its name but now names another remote object
(a PhoneNumber's `phoneNumber` or a Chat's `chatId` changed in its file), is an adoption
of the object the file names: the old one is forgotten, left as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sigmaform import invocation
from sigmaform.errors import ConfigError
from sigmaform.kinds import BY_PREFIX, KINDS
from sigmaform.state import ResourceState, State

if TYPE_CHECKING:  # resource.py imports Move from here
    from sigmaform.resource import Resource


@dataclass(frozen=True)
class Move:
    """One `moved:` entry: the old address and the new one."""

    source: str  # `from`
    target: str  # `to`

    def to_dict(self) -> dict[str, str]:
        return {"from": self.source, "to": self.target}


def address_problem(address: Any) -> str | None:
    """Why `address` is not PREFIX.NAME, or None."""
    if not isinstance(address, str):
        return "expected an address like agent.support"
    prefix, _, name = address.partition(".")
    if prefix not in BY_PREFIX or not name:
        known = ", ".join(sorted(BY_PREFIX))
        return f"`{address}` is not an address (expected PREFIX.NAME, PREFIX one of {known})"
    return None


def collisions(moves: Sequence[Move]) -> list[tuple[int, str]]:
    """(index, why) of entries that contradict another: same `from`, same `to`, a cycle."""
    found: list[tuple[int, str]] = []
    first_from: dict[str, int] = {}
    first_to: dict[str, int] = {}
    for i, move in enumerate(moves):
        if move.source == move.target:
            found.append((i, f"moves `{move.source}` to itself"))
            continue
        if move.source.split(".")[0] != move.target.split(".")[0]:
            found.append((i, "a move cannot change a resource's kind"))
            continue
        other = first_from.setdefault(move.source, i)
        if other != i:
            found.append((i, f"`{move.source}` is already moved by moved[{other}]"))
            continue
        other = first_to.setdefault(move.target, i)
        if other != i:
            found.append((i, f"`{move.target}` is already the target of moved[{other}]"))
    nexts = {moves[i].source: moves[i].target for i in first_from.values()}
    for i in first_from.values():
        seen = {moves[i].source}
        address = moves[i].target
        while address in nexts:
            if address in seen:
                found.append((i, f"the moves from `{moves[i].source}` form a cycle"))
                break
            seen.add(address)
            address = nexts[address]
    return sorted(found)


def final_targets(moves: Sequence[Move]) -> dict[str, str]:
    """Each `from` mapped to the end of its chain (a -> b, b -> c: a ends at c)."""
    nexts = {m.source: m.target for m in moves}
    out = {}
    for source in nexts:
        address, hops = nexts[source], 0
        while address in nexts and hops <= len(nexts):
            address, hops = nexts[address], hops + 1
        out[source] = address
    return out


def move_state(state: State, moves: Sequence[Move]) -> tuple[State, dict[str, str]]:
    """State with every applicable move made, and {new address: old address}.

    A move whose `from` is not in state does nothing (that environment has moved already,
    or never had it). One whose `to` is already in state too is refused: two remote
    objects cannot share one address.
    """
    if not moves:
        return state, {}
    resources = dict(state.resources)
    done: dict[str, str] = {}
    for source, target in sorted(final_targets(moves).items()):
        if source not in resources:
            continue
        if target in resources:
            raise ConfigError(
                f"moved: cannot move `{source}` to `{target}`: both are in state "
                f"`{state.environment}`; remove one with "
                f"`{invocation.command('state', 'rm', target)}` first"
            )
        resources[target] = resources.pop(source)
        done[target] = source
    if not done:
        return state, {}
    renamed = {old: new for new, old in done.items()}
    resources = {a: rename_references(r, renamed) for a, r in resources.items()}
    return replace(state, resources=resources), done


def rename_references(resource: ResourceState, renamed: Mapping[str, str]) -> ResourceState:
    """`resource` with applied references to a renamed address naming the new one."""
    kind = KINDS.get(resource.kind)
    if kind is None or not kind.references:
        return resource
    applied = dict(resource.applied)
    changed = False
    for spec_field, (target_kind, _) in kind.references.items():
        value = applied.get(spec_field)
        if not isinstance(value, str):
            continue
        prefix = KINDS[target_kind].prefix
        new = renamed.get(f"{prefix}.{value}")
        if new is not None:
            applied[spec_field] = new.split(".", 1)[1]
            changed = True
    return replace(resource, applied=applied) if changed else resource


__all__ = [
    "Move",
    "address_problem",
    "collisions",
    "final_targets",
    "move_state",
    "rename_references",
]


def retarget_state(resources: Sequence[Resource], state: State) -> tuple[State, dict[str, str]]:
    """State without the adopted objects whose file now names another one, and {address:
    the id state had}: each is planned as an adoption of the object its file names."""
    old: dict[str, str] = {}
    for resource in resources:
        kind = resource.kind_info
        held = state.resources.get(resource.address)
        if kind.creatable or not kind.identity_field or held is None:
            continue
        if str(resource.spec.get(kind.identity_field)) != held.id:
            old[resource.address] = held.id
    if not old:
        return state, {}
    kept = {a: r for a, r in state.resources.items() if a not in old}
    return replace(state, resources=kept), old
