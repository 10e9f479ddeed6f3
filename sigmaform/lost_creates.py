"""What an interrupted apply may have made under an owner: for each create of a kind scoped
to another resource (a test case under its agent), the owner's objects state does not know.

An apply killed after the server made an object but before state recorded it leaves that
object unmanaged, and a plan that creates it again makes a duplicate. An agent is looked
for by its `agentName` (unique in an environment). A scoped kind has no such name, so its
owner's objects are listed, one request per owner, and `build_plan` recovers the one that
holds exactly the declared config.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sigmaform.errors import ConfigError
from sigmaform.kinds import KINDS
from sigmaform.resource import Resource
from sigmaform.state import State

if TYPE_CHECKING:  # the client (and httpx) load only when a plan refreshes
    from sigmaform.client import Client

Resolve = Callable[[str, str], str | None]
# One owner's listing: the kind listed and its query (`("TestCase", (("agentId", ID),))`).
Listing = tuple[str, tuple[tuple[str, str], ...]]


def _owner_address(resource: Resource) -> str | None:
    """The address of the resource this one is scoped to (`agent.support`), if any."""
    kind = resource.kind_info
    # A scoped kind has one owner (a test case's agent): the first scope parameter's.
    spec_field = next(iter(kind.scope.values()), None)
    if spec_field is None:
        return None
    owner_kind = KINDS[kind.references[spec_field][0]]
    return f"{owner_kind.prefix}.{resource.spec.get(spec_field)}"


def scoped_unknowns(
    resources: Sequence[Resource],
    state: State,
    remote: Mapping[str, Mapping[str, Any] | None],
    client: Client,
    resolve: Resolve,
    targets: Sequence[str] = (),
) -> dict[str, list[Mapping[str, Any]]]:
    """Address of each scoped create -> its owner's remote objects that state does not know.

    Only creates whose owner is managed and still there are looked at: an owner created
    (again) has nothing under it yet.
    """
    wanted: dict[str, tuple[Resource, dict[str, str]]] = {}
    for resource in resources:
        kind = resource.kind_info
        owner = _owner_address(resource)
        if owner is None or not kind.creatable or (targets and resource.address not in targets):
            continue
        held = resource.address in state.resources
        if held and not (resource.address in remote and remote[resource.address] is None):
            continue  # managed and there: an update, not a create
        if owner not in state.resources or (owner in remote and remote[owner] is None):
            continue
        try:
            params = kind.scope_params(resource.spec, resolve, resource.address)
        except ConfigError:
            continue
        wanted[resource.address] = (resource, params)
    if not wanted:
        return {}
    listings = sorted({(r.kind, tuple(sorted(p.items()))) for r, p in wanted.values()})

    def read(listing: Listing) -> list[dict[str, Any]]:
        kind_name, params = listing
        return KINDS[kind_name].list(client, dict(params))

    results = client.map_concurrent(read, listings)
    known = {rs.id for rs in state.resources.values()}
    found: dict[Listing, list[Mapping[str, Any]]] = {}
    for listing, result in zip(listings, results, strict=True):
        if isinstance(result, BaseException):
            raise result
        id_field = KINDS[listing[0]].id_field
        found[listing] = [o for o in result if o.get(id_field) not in known]
    return {
        address: found[(resource.kind, tuple(sorted(params.items())))]
        for address, (resource, params) in wanted.items()
    }


__all__ = ["scoped_unknowns"]
