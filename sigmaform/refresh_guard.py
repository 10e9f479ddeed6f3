"""What a refreshed plan checks before it is believed: the right workspace, objects that exist.

An API key of another workspace makes every managed resource read as "deleted outside
sigmaform", and a plan built on that would re-create them all there. So, before a plan
is made from what the API said:

- where the API names the workspace (`workspaceId`) and state recorded another, refuse;
- when every managed resource (of at least one) is missing, or more than half of at least
  four, refuse unless `--allow-recreate` says the deletions are real;
- an object the files adopt (a PhoneNumber, a Chat) that does not exist is an error that
  names it: sigmaform cannot create it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sigmaform import invocation
from sigmaform.errors import ConfigError, Problem, RefusedError
from sigmaform.resource import Resource
from sigmaform.state import State

if TYPE_CHECKING:
    from sigmaform.client import Client

# From this many managed resources on, "more than half missing" is refused; below it, only
# "all missing" (two agents deleted in a dashboard out of three is plausible).
MANY = 4


def read_adoptions(
    resources: Sequence[Resource], state: State, client: Client, targets: Sequence[str] = ()
) -> dict[str, Mapping[str, Any] | None]:
    """The remote objects the files adopt and state does not manage yet (None: not found)."""
    items = [
        r
        for r in resources
        if not r.kind_info.creatable
        and r.address not in state.resources
        and (not targets or r.address in targets)
    ]

    def read(resource: Resource) -> Mapping[str, Any] | None:
        ident = str(resource.spec.get(resource.kind_info.identity_field or ""))
        return resource.kind_info.get(client, ident)

    found: dict[str, Mapping[str, Any] | None] = {}
    for resource, result in zip(items, client.map_concurrent(read, items), strict=True):
        if isinstance(result, BaseException):
            raise result
        found[resource.address] = result
    return found


def workspace_in(bodies: Iterable[Mapping[str, Any] | None]) -> str | None:
    """The first `workspaceId` any response carries, if one does."""
    for body in bodies:
        if body is not None and isinstance(body.get("workspaceId"), str):
            return str(body["workspaceId"])
    return None


def check_workspace(
    state: State,
    remote: Mapping[str, Mapping[str, Any] | None],
    *,
    key_label: str,
    ask_workspace: Callable[[], str | None],
    allow_recreate: bool,
    on_purpose: str | None = None,
) -> None:
    """Refuse (exit 3) a plan whose API key does not reach the resources state manages.

    `on_purpose` says how to proceed when they really were deleted (default: plan and
    apply with --allow-recreate)."""
    env = state.environment
    managed = [a for a in remote if a in state.resources]
    missing = sorted(a for a in managed if remote[a] is None)
    seen = workspace_in(remote.values())
    if seen is None and missing and state.workspace:
        seen = ask_workspace()  # one read, only when something looks deleted
    if state.workspace and seen and seen != state.workspace:
        raise RefusedError(
            f"environment `{env}`: the API key from {key_label} belongs to workspace {seen}, "
            f"but this environment's state was applied in workspace {state.workspace}; "
            f"set {key_label} to a key of {state.workspace}. Nothing was sent. "
            "(--allow-recreate does not override this: to start the environment over in "
            "the other workspace, move its state aside first.)"
        )
    total, gone = len(managed), len(missing)
    if allow_recreate or not total:
        return
    if gone == total or (total >= MANY and 2 * gone > total):
        shown = ", ".join(missing[:5]) + (f" and {gone - 5} more" if gone > 5 else "")
        key = _key_words(key_label)
        raise RefusedError(
            f"environment `{env}`: {gone} of {total} managed resources are missing remotely "
            f"({shown}) with {key}. A key of another workspace (or a base URL pointing "
            "elsewhere) looks like this, and re-creating them would duplicate them there. "
            f"Check {key}; if they really were deleted, "
            + (
                "plan and apply again with --allow-recreate. Nothing was sent."
                if on_purpose is None
                else f"{on_purpose}. Nothing was sent."
            )
        )


def check_destroy_reaches(state: State, client: Client) -> None:
    """Refuse (exit 3) a destroy whose API key does not reach the agents state manages.

    Under a key of another workspace every delete answers 404, which a destroy takes for
    "already gone": state would forget the agents and they would stay live, unmanaged, in
    the workspace they really are in. Read (never write) each one first.
    """
    agents = [(a, r.id) for a, r in sorted(state.resources.items()) if r.kind == "Agent"]
    results = client.map_concurrent(lambda item: client.get_agent(item[1]), agents)
    remote: dict[str, Mapping[str, Any] | None] = {}
    for (address, _), result in zip(agents, results, strict=True):
        if isinstance(result, BaseException):
            raise result
        remote[address] = result
    check_workspace(
        state,
        remote,
        key_label=client.key_variable,
        ask_workspace=client.workspace_id,
        allow_recreate=False,
        on_purpose=(
            "remove them from state with "
            f"`{invocation.command('state', 'rm', 'ADDRESS')}` instead of destroying"
        ),
    )


def check_unrefreshed_reaches(state: State, client: Client, *, allow_recreate: bool) -> None:
    """Refuse (exit 3) an apply without refresh whose API key does not reach state's agents.

    Without refresh nothing is read, so a key of another workspace would have its creates
    sent there and recorded beside the old workspace's ids. One managed agent is read first
    (a canary, not a refresh): if it is gone, the plan cannot be trusted without a refresh.
    """
    agents = sorted((a, r.id) for a, r in state.resources.items() if r.kind == "Agent")
    if not agents:
        return
    address, agent_id = agents[0]
    check_workspace(
        state,
        {address: client.get_agent(agent_id)},
        key_label=client.key_variable,
        ask_workspace=client.workspace_id,
        allow_recreate=allow_recreate,
        on_purpose=(
            f"run `{invocation.command('plan')}` (with refresh) to see what is missing, "
            "then apply with refresh and --allow-recreate"
        ),
    )


def _key_words(label: str) -> str:
    """`the API key from VAR`, or the label itself when it is already a phrase."""
    return label if label.startswith("the ") else f"the API key from {label}"


def check_adoptions_exist(
    resources: Sequence[Resource], remote: Mapping[str, Mapping[str, Any] | None]
) -> None:
    """Refuse (exit 1) objects the files adopt that the workspace does not have."""
    problems = []
    for resource in resources:
        kind = resource.kind_info
        if kind.creatable or resource.address not in remote or remote[resource.address]:
            continue
        field = kind.identity_field or ""
        problems.append(
            Problem(
                resource.source,
                resource.line,
                1 if resource.line else 0,
                path=f"spec.{field}",
                message=(
                    f"{resource.address}: {kind.name} {resource.spec.get(field)} does not "
                    "exist in this workspace, and sigmaform cannot create one; create or "
                    "import it in SigmaMind first, or remove the file"
                ),
            )
        )
    if problems:
        raise ConfigError(problems)


__all__ = [
    "check_adoptions_exist",
    "check_destroy_reaches",
    "check_unrefreshed_reaches",
    "check_workspace",
    "read_adoptions",
    "workspace_in",
]
