"""The destroy plan: every managed resource of an environment taken out of management.

    destroy_plan(resources, state) -> Plan

Pure, like `build_plan`. Agents (a deletable kind) are deleted; adopted objects (a phone
number, a chat) existed before sigmaform and are only forgotten: removed from state and
left as they are remotely. `protect: true` (in state or in the files) stays a refusal.
Apply runs deletes in reverse dependency order, so numbers and chats go before agents.
"""

from __future__ import annotations

from collections.abc import Sequence

from sigmaform.digest import plan_digest
from sigmaform.kinds import KINDS
from sigmaform.plan import Action, Plan, ResourcePlan
from sigmaform.resource import Resource
from sigmaform.state import State

PROTECTED_NOTE = "protected: destroy is refused while protect: true (in the file or in state)"


def destroy_plan(resources: Sequence[Resource], state: State) -> Plan:
    """Delete every managed agent, forget every adopted object; nothing is read remotely."""
    declared = {r.address: r for r in resources}
    plans = []
    for address, held in sorted(state.resources.items()):
        kind = KINDS[held.kind]
        resource = declared.get(address)
        protect = held.protect or (resource is not None and resource.protect)
        notes = [PROTECTED_NOTE] if protect else []
        if not kind.deletable:
            notes.append(f"the {kind.name} itself is left as is; sigmaform stops managing it")
        plans.append(
            ResourcePlan(
                address=address,
                kind=held.kind,
                name=address.split(".", 1)[1],
                action=Action.DELETE if kind.deletable else Action.FORGET,
                id=held.id,
                notes=tuple(notes),
                protect=protect,
                config_digest=held.config_digest,
                source=resource.source if resource is not None else "",
            )
        )
    # What references others goes first (numbers, chats), then what they reference.
    plans.sort(key=lambda p: (-KINDS[p.kind].order, p.address))
    return Plan(
        environment=state.environment,
        lineage=state.lineage,
        serial=state.serial,
        config_digest=plan_digest(resources, state.fingerprint_key),
        refreshed=False,
        resources=tuple(plans),
        destroy=True,
    )


__all__ = ["destroy_plan"]
