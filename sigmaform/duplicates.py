"""Possible duplicates: unmanaged remote agents that carry a managed agent's `agentName`.

Whatever made one -- two applies that raced, a lock that was lost, a create sent twice by
hand -- it stays invisible to a plan that only reads what state names. Every refreshed
plan (and `drift`) lists them, from the agent listing it reads anyway, so the damage of
any past race shows up and can be removed or imported.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sigmaform.resource import Resource
from sigmaform.state import State


@dataclass(frozen=True, order=True)
class PossibleDuplicate:
    """A remote agent sigmaform does not manage, named like the managed `address`."""

    address: str
    id: str
    agent_name: str

    def line(self) -> str:
        return f"possible duplicate of {self.address}: {self.id}"

    def to_dict(self) -> dict[str, str]:
        return {"address": self.address, "id": self.id, "agentName": self.agent_name}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PossibleDuplicate:
        return cls(str(data["address"]), str(data["id"]), str(data["agentName"]))


def find_possible_duplicates(
    resources: Sequence[Resource],
    state: State,
    agents: Sequence[Mapping[str, Any]],
    *,
    targets: Collection[str] = (),
    claimed: Collection[str] = (),
) -> tuple[PossibleDuplicate, ...]:
    """The agents of `agents` (the remote listing) that no state entry holds and whose
    `agentName` is a managed agent's: as the files declare it now, or as last applied.

    `claimed` are ids the plan already accounts for (an interrupted create it recovers).
    """
    names = {r.address: r.spec.get("agentName") for r in resources if r.kind == "Agent"}
    by_name: dict[str, str] = {}
    for address, recorded in sorted(state.resources.items()):
        if recorded.kind != "Agent" or (targets and address not in targets):
            continue
        for name in (names.get(address), recorded.applied.get("agentName")):
            if isinstance(name, str):
                by_name.setdefault(name, address)
    known = {r.id for r in state.resources.values() if r.kind == "Agent"} | set(claimed)
    found = []
    for agent in agents:
        agent_id, name = agent.get("agentId"), agent.get("agentName")
        if not isinstance(agent_id, str) or agent_id in known or name not in by_name:
            continue
        assert isinstance(name, str)
        found.append(PossibleDuplicate(by_name[name], agent_id, name))
    return tuple(sorted(found))
