"""What the project commands do, between parsing options and echoing results.

Each function takes the loaded project and returns values (plans, reports); the CLI
renders them. Interaction (confirmation, progress) comes in as callbacks so that this
module never prints.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sigmaform import invocation
from sigmaform.destroy import destroy_plan
from sigmaform.diff import iter_units, share_equal
from sigmaform.digest import plan_digest
from sigmaform.errors import ConfigError, RefusedError, SigmaformError, StalePlanError
from sigmaform.files import gc_paused, write_atomic
from sigmaform.kinds import KINDS
from sigmaform.lifecycle import without_units
from sigmaform.lost_creates import scoped_unknowns
from sigmaform.moves import move_state, retarget_state
from sigmaform.plan import Action, Plan, build_plan, normalise_targets
from sigmaform.project import (
    load_project,
    load_project_file,
    select_environment,
    with_base_url_override,
)
from sigmaform.refresh_guard import (
    check_adoptions_exist,
    check_destroy_reaches,
    check_unrefreshed_reaches,
    check_workspace,
    read_adoptions,
)
from sigmaform.remote import MERGED_OBJECTS, comparable_desired
from sigmaform.render import plan_json
from sigmaform.resource import Project, Resource
from sigmaform.saved_plan import authorise, read_plan_file
from sigmaform.sensitive import (
    has_legacy,
    legacy_fingerprint_key,
    stretch_soon,
    upgrade_fingerprints,
)
from sigmaform.state import LockInfo, ResourceState, State, StateBackend, local_backend
from sigmaform.targets import check_targets, referenced_by_targets

if TYPE_CHECKING:  # httpx (and apply's machinery) load only when a command talks to the API
    from sigmaform.apply import ApplyOptions, ApplyReport, Outcome
    from sigmaform.client import Client, RetryPolicy


def open_project(
    root: Path,
    env: str | None,
    *,
    secrets: str = "required",
    environ: Mapping[str, str] | None = None,
    lazy_files: bool = False,
) -> Project:
    """The project for one environment, schema-checked: bad input never reaches the API.

    `lazy_files`: long `!file` texts are held by digest and read again when needed (apply:
    see spec_text.py); only code that materializes values may take such a project."""
    from sigmaform.validate import schema_problems

    return load_project(
        root,
        env,
        secrets=secrets,  # type: ignore[arg-type]
        environ=environ,
        check=schema_problems,
        lazy_files=lazy_files,
    )


def open_project_and_state(
    root: Path, env: str | None, *, environ: Mapping[str, str] | None = None
) -> tuple[Project, State]:
    """The project (as `open_project` gives it) and its state: what a plan starts from.

    A local state file is read before the resource files, because its lineage keys the
    secrets' fingerprints: each secret the files name is then stretched (scrypt, tens of
    milliseconds) on another thread while the other files load, instead of after. Its
    problems are still reported after the files' own. A shared backend is read after
    the files, as before: bad files are reported without a round trip to it.
    """
    from sigmaform.validate import schema_problems

    root = root.absolute()
    pf = with_base_url_override(load_project_file(root), os.environ if environ is None else environ)
    environment = select_environment(pf, env)
    early: State | SigmaformError | OSError | None = None
    on_secret: Callable[[str], None] | None = None
    if pf.state.backend == "local":
        shell = Project(root, pf.environments, environment, (), pf.state, pf.moved)
        try:
            with gc_paused():  # a state is many small acyclic objects, as the files are
                early = read_state(local_backend(shell), environment.name)
        except (SigmaformError, OSError) as error:
            early = error
        else:
            on_secret = partial(stretch_soon, key=early.fingerprint_key)
    project = load_project(
        root,
        env,
        environ=environ,
        check=schema_problems,
        project_file=pf,
        on_secret=on_secret,
    )
    if isinstance(early, BaseException):
        raise early
    if early is None:
        early = read_state(backend_for(project), environment.name)
    return project, early


def backend_for(project: Project) -> StateBackend:
    if project.state.backend == "postgres":
        try:  # psycopg is an optional extra: imported only by projects that use it
            from sigmaform.state_postgres import backend_for_project
        except ModuleNotFoundError as error:
            if not (error.name or "").startswith("psycopg"):
                raise
            raise ConfigError(
                "the postgres state backend needs psycopg: pip install 'psycopg[binary]>=3.1'"
            ) from None
        return backend_for_project(project)
    if project.state.backend == "s3":
        try:  # boto3 is an optional extra: imported only by projects that use it
            from sigmaform.state_s3 import backend_for_project as s3_backend
        except ModuleNotFoundError as error:
            if not (error.name or "").startswith(("boto3", "botocore")):
                raise
            raise ConfigError(
                "the s3 state backend needs boto3: pip install 'boto3>=1.36'"
            ) from None
        return s3_backend(project)
    if project.state.backend != "local":
        raise ConfigError(f"state backend `{project.state.backend}` is not supported yet")
    return local_backend(project)


def read_state(backend: StateBackend, environment: str) -> State:
    state = backend.read()
    if state is None:
        return State.new(environment)
    if state.environment != environment:
        raise ConfigError(
            f"state {backend.describe()} belongs to environment `{state.environment}`, "
            f"not `{environment}`: check `state.path` in sigmaform.yaml"
        )
    return state


def client_for(project: Project, parallelism: int, retry: RetryPolicy | None = None) -> Client:
    from sigmaform.client import Client

    kwargs: dict[str, Any] = {"parallelism": parallelism}
    if retry is not None:
        kwargs["retry"] = retry
    return Client.for_environment(project.environment, project.root, **kwargs)


# From this many managed agents on, one paginated listing (100 per request) is read
# instead of a GET per agent: 1,000 agents cost 10 requests, not 1,000.
LIST_REFRESH_MIN = 50


def fetch_remote(
    resources: Sequence[Resource],
    state: State,
    client: Client,
    targets: Sequence[str] = (),
    list_agents: Callable[[], Sequence[Mapping[str, Any]]] | None = None,
) -> dict[str, Mapping[str, Any] | None]:
    """Read every managed resource that the plan will look at, concurrently.

    Agents come from the listing when there are many of them; an agent the listing does
    not hold (deleted, or moved between pages while we read) or holds only in part is
    read on its own, so a shifting list can never make a live agent look deleted.
    """
    from sigmaform.api_profile import profile_of  # here: only a refresh needs it

    declared = {r.address: tuple(r.spec) for r in resources}
    items = [
        (address, rs)
        for address, rs in sorted(state.resources.items())
        if address in declared and (not targets or address in targets)
    ]
    remote: dict[str, Mapping[str, Any] | None] = {}
    many = sum(1 for _, rs in items if rs.kind == "Agent") >= LIST_REFRESH_MIN
    if many and profile_of(client).whole_list_items:
        listed = {str(a.get("agentId")): a for a in (list_agents or client.list_agents)()}
        alone = []
        for address, rs in items:
            found = listed.get(rs.id) if rs.kind == "Agent" else None
            if found is not None and all(key in found for key in declared[address]):
                remote[address] = found
            else:
                alone.append((address, rs))
        items = alone

    def fetch(item: tuple[str, Any]) -> Mapping[str, Any] | None:
        address, rs = item
        kind = KINDS[rs.kind]
        return kind.get(client, rs.id, kind.scope_params(rs.applied, resolver(state), address))

    results = client.map_concurrent(fetch, items)
    for (address, _), result in zip(items, results, strict=True):
        if isinstance(result, BaseException):
            raise result
        remote[address] = result
    return remote


def resolver(state: State) -> Callable[[str, str], str | None]:
    """Looks up a managed resource's remote id in `state` by kind and logical name."""

    def resolve(kind: str, name: str) -> str | None:
        found = state.resources.get(f"{KINDS[kind].prefix}.{name}")
        return found.id if found is not None else None

    return resolve


def make_plan(
    project: Project,
    state: State,
    client: Client | None,
    targets: Sequence[str] = (),
    *,
    allow_delete: bool = False,
    allow_recreate: bool = False,
    digests: bool = True,
) -> Plan:
    """Plan the project against state, refreshing from the API when a client is given.

    `digests` off (a plan only shown as text or markdown): see `build_plan`.

    A refresh that finds the managed resources gone (a key of another workspace) or an
    adopted object missing is refused here, before any plan is shown or applied.
    """
    wanted = normalise_targets(targets)
    moves = project.moves
    # Addresses as the moves give them, without the adopted objects whose file now names
    # another one (adopted afresh); build_plan does both too.
    moved = retarget_state(project.resources, move_state(state, moves)[0])[0]
    check_targets(wanted, {r.address for r in project.resources} | set(moved.resources))
    if client is None:
        with gc_paused():  # the plan's records are acyclic: no cycle collection passes
            return build_plan(
                project.resources,
                state,
                None,
                targets=wanted,
                moves=moves,
                allow_delete=allow_delete,
                digests=digests,
            )
    reach = (*wanted, *referenced_by_targets(project.resources, wanted))
    listing: list[Mapping[str, Any]] = []
    # A listed agent's texts equal to its file's are held as the file's objects, page by
    # page (apply's prompts held by digest too): a listing of 10,000 agents would otherwise
    # hold ~100 MB of prompts twice.
    declared = {
        held.id: r.spec
        for r in project.resources
        if r.kind == "Agent" and (held := moved.resources.get(r.address)) is not None
    }

    def held_once(agent: dict[str, Any]) -> dict[str, Any]:
        like = declared.get(str(agent.get("agentId")))
        return agent if like is None else share_equal(agent, like)

    def list_once() -> list[Mapping[str, Any]]:
        # Refresh and the duplicate-name check share one listing.
        if not listing:
            listing.extend(client.list_agents(then=held_once))
        return listing

    remote = fetch_remote(project.resources, moved, client, reach, list_once)
    check_workspace(
        moved,
        remote,
        key_label=client.key_variable,
        ask_workspace=client.workspace_id,
        allow_recreate=allow_recreate,
    )
    remote.update(read_adoptions(project.resources, moved, client, reach))
    check_adoptions_exist(project.resources, remote)
    unmanaged: dict[str, list[Mapping[str, Any]]] = {}
    creating = {
        str(r.spec.get("agentName"))
        for r in project.resources
        if r.kind == "Agent"
        and (r.address not in state.resources or (r.address in remote and not remote[r.address]))
    }
    if creating:  # one listing, only when an agent may be created
        known = {r.id for r in state.resources.values() if r.kind == "Agent"}
        for agent in list_once():
            if agent.get("agentId") not in known and agent.get("agentName") in creating:
                unmanaged.setdefault(str(agent["agentName"]), []).append(agent)
        # A listing may hold summaries: the one agent that may be recovered is read whole.
        for name, found in unmanaged.items():
            if len(found) == 1 and isinstance(found[0].get("agentId"), str):
                full = client.get_agent(found[0]["agentId"])
                unmanaged[name] = [full] if full is not None else []
    scoped = scoped_unknowns(project.resources, moved, remote, client, resolver(moved), reach)
    plan = build_plan(
        project.resources,
        state,
        remote,
        targets=wanted,
        unmanaged_agents=unmanaged,
        scoped_unmanaged=scoped,
        moves=moves,
        allow_delete=allow_delete,
        agents=list_once() if any(r.kind == "Agent" for r in state.resources.values()) else None,
        digests=digests,
    )
    if allow_delete or plan.destroy:
        from sigmaform.api_profile import profile_of

        profile_of(client).check_plan(plan, project.environment.name)
    return plan


def agent_listing(client: Client, state: State) -> list[Mapping[str, Any]] | None:
    """Every remote agent, when state manages any: what `drift` refreshes from (when there
    are many) and checks for possible duplicates. None when nothing needs it."""
    if not any(r.kind == "Agent" for r in state.resources.values()):
        return None
    return list(client.list_agents())


def save_plan(plan: Plan, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Readable by its owner only, like state: a plan shows the whole configuration.
    write_atomic(path, plan_json(plan), mode=0o600)


def load_plan(path: Path) -> Plan:
    return read_plan_file(path)


def ensure_plan_current(plan: Plan, state: State | None, project: Project) -> State:
    """Refuse (exit 3) a saved plan that no longer matches state or config."""
    env = project.environment.name
    if plan.environment != env:
        raise StalePlanError(
            f"this plan was made for environment `{plan.environment}`, not `{env}`"
        )
    if state is None:
        if plan.serial != 0:
            raise StalePlanError("the state this plan was made against no longer exists")
        # No state yet: the plan's lineage becomes the new state's, so fingerprints match.
        state = State(environment=env, lineage=plan.lineage)
    if state.lineage != plan.lineage or state.serial != plan.serial:
        raise StalePlanError(
            f"state changed since this plan was made (serial {plan.serial} -> {state.serial}"
            + ("" if state.lineage == plan.lineage else ", different lineage")
            + f"): run `{invocation.command('plan')}` again"
        )
    if plan_digest(project.resources, state.fingerprint_key) != plan.config_digest:
        raise StalePlanError(
            "the configuration changed since this plan was made: "
            f"run `{invocation.command('plan')}` again"
        )
    return state


def check_destroy_said(saved: Plan, request: ApplyRequest) -> None:
    """Refuse (exit 3) a saved destroy plan applied without `--destroy`, and the reverse.

    A saved plan is applied without a prompt, so a plan file swapped for a destroy plan
    (an artifact between CI jobs) would end the environment; saying `--destroy` keeps
    that decision in the command a person wrote.
    """
    name = str(request.plan_file)
    if saved.destroy and not request.destroy:
        raise RefusedError(
            f"{name} is a destroy plan: it deletes every managed agent of `{saved.environment}`"
            f" and forgets every adopted object. Apply it on purpose with "
            f"`{invocation.command('apply', '--destroy', name)}`. Nothing was sent."
        )
    if request.destroy and not saved.destroy:
        raise RefusedError(
            f"--destroy was given, but {name} is not a destroy plan (make one with "
            f"`{invocation.command('plan', '--destroy', '--out', name)}`). Nothing was sent."
        )


@dataclass(frozen=True)
class ApplyRequest:
    plan_file: Path | None = None
    targets: tuple[str, ...] = ()
    refresh: bool = True
    options: ApplyOptions = field(default_factory=lambda: _default_options())
    destroy: bool = False  # `destroy`, or `apply --destroy PLANFILE`: a destroy on purpose
    allow_recreate: bool = False  # re-create managed resources even when most are missing
    lock_timeout: float = 0.0  # seconds to wait for the state lock


def _default_options() -> ApplyOptions:
    from sigmaform.apply import ApplyOptions

    return ApplyOptions()


def apply_project(
    project: Project,
    request: ApplyRequest,
    *,
    confirm: Callable[[Plan], bool],
    on_outcome: Callable[[Outcome], None],
    retry: RetryPolicy | None = None,
) -> tuple[Plan, ApplyReport | None]:
    """Lock, plan (or load the saved plan), confirm, check safety, execute. None: nothing done."""
    from sigmaform.api_profile import profile_of
    from sigmaform.apply import check_safety, execute

    backend = backend_for(project)
    with (
        backend.lock(LockInfo("apply"), request.lock_timeout),
        client_for(project, request.options.parallelism, retry) as client,
    ):
        options = request.options
        saved = None if request.plan_file is None else load_plan(request.plan_file)
        if saved is not None:
            check_destroy_said(saved, request)
            state = ensure_plan_current(saved, backend.read(), project)
            # The saved plan only authorises: what runs is recomputed from state and the
            # files (and the remote, as the saved plan was), and must match it exactly.
            destroy, refresh, targets = saved.destroy, saved.refreshed, saved.targets
            allow_delete = saved.allow_delete
        else:
            state = read_state(backend, project.environment.name)
            destroy, refresh, targets = request.destroy, request.refresh, request.targets
            allow_delete = options.allow_delete
        if destroy:
            plan = destroy_plan(project.resources, state)
        else:
            plan = make_plan(
                project,
                state,
                client if refresh else None,
                targets,
                allow_delete=allow_delete,
                allow_recreate=request.allow_recreate,
            )
        if saved is not None:
            authorise(saved, plan)
            # A plan made with --allow-delete shows deletes: applying it exactly runs them.
            options = replace(options, allow_delete=options.allow_delete or plan.allow_delete)
        if options.allow_delete or plan.destroy:
            # Before the prompt: a delete the server cannot do is refused, not half-run.
            profile_of(client).check_plan(plan, project.environment.name)
        if not plan.has_changes:
            record_unchanged(plan, state, backend, project.resources)
            return plan, None
        if plan.destroy:  # a destroy plan reads nothing: check the key reaches its agents
            check_destroy_reaches(state, client)
        elif not plan.refreshed:  # neither does --no-refresh: one agent read as a canary
            check_unrefreshed_reaches(state, client, allow_recreate=request.allow_recreate)
        if not confirm(plan):
            return plan, None
        check_safety(plan, state, project.environment, options, len(project.resources))
        # A shared backend's lock can be lost while held (its session ends): apply asks
        # before every write and stops at once when it is gone.
        guard = getattr(backend, "ensure_locked", lambda: None)
        report = execute(
            plan,
            project.resources,
            backend,
            state,
            client,
            options,
            on_outcome,
            guard,
            settle=lambda done: with_workspace(plan, state, done, client),
        )
        final = record_unchanged(plan, report.state, backend, project.resources)
        return plan, replace(report, state=final)


def with_workspace(plan: Plan, before: State, state: State, client: Client) -> State:
    """`state` knowing which workspace this environment's resources live in, once the API
    says (apply saves it with its last write).

    Asked after an apply that wrote something, while state does not know it yet or after
    resources were re-created (they may now live elsewhere): one read, not one per plan.
    """
    recreated = any(
        r.action is Action.CREATE and r.address in before.resources for r in plan.resources
    )
    if state.workspace is not None and not recreated:
        return state
    if state.serial == before.serial:
        return state  # nothing was written
    workspace = client.workspace_id()
    if workspace is None or workspace == state.workspace:
        return state
    return replace(state, workspace=workspace)


def record_unchanged(
    plan: Plan, state: State, backend: StateBackend, desired: Sequence[Resource] = ()
) -> State:
    """Record the current config digest of resources the plan leaves alone.

    A no-op can still follow a file change: a field removed from YAML stops being managed,
    or the file now declares what the server already holds. State must then say that this
    config is what the environment runs, or `promote` would refuse the resource forever.
    A refreshed no-op with drift means the server already holds the files' values while
    state still has older ones (an apply died between the write and the save, or someone
    made the same change by hand): state takes the declared values, or that drift would be
    reported forever.
    """
    resources = dict(state.resources)
    specs = {r.address: r for r in desired}
    for rp in plan.resources:
        recorded = resources.get(rp.address)
        quiet = rp.action in (Action.NOOP, Action.MOVE)
        if not quiet or recorded is None or not rp.config_digest:
            continue
        resource = specs.get(rp.address)
        # A refreshed no-op means the remote holds every declared value, so a field that
        # is declared again (or was never recorded) is recorded now: otherwise a later
        # change to it in the dashboard would never show as drift.
        if (
            plan.refreshed
            and resource is not None
            and (rp.drift or _unrecorded(recorded, resource))
        ):
            held = comparable_desired(resource.spec, state.fingerprint_key)
            held = without_units(held, resource.ignore_changes)
            recorded = replace(recorded, applied=held)
            resources[rp.address] = recorded
        if has_legacy(recorded.applied) and rp.address in specs:
            # Old-format fingerprints the files' secrets still match: stored in the new form.
            upgraded = upgrade_fingerprints(
                recorded.applied,
                (specs[rp.address].spec,),
                legacy_fingerprint_key(state.lineage),
                state.fingerprint_key,
            )
            recorded = replace(recorded, applied=upgraded)
            resources[rp.address] = recorded
        if rp.unmanaged:
            # Reported once by this plan; forgetting them keeps later plans quiet.
            recorded = replace(recorded, applied=without_units(recorded.applied, rp.unmanaged))
            resources[rp.address] = recorded
        # An unverified apply (empty digest) counts as verified only once the API was read.
        if recorded.config_digest != rp.config_digest and (
            recorded.config_digest or plan.refreshed
        ):
            resources[rp.address] = replace(recorded, config_digest=rp.config_digest)
    if resources == state.resources:
        return state
    return backend.write(replace(state, resources=resources))


def _unrecorded(recorded: ResourceState, resource: Resource) -> bool:
    """Whether a declared (not ignored) unit is missing from the recorded applied values."""
    merged = MERGED_OBJECTS[resource.kind]
    applied = {u for u, _ in iter_units(recorded.applied, merged)}
    declared = without_units(dict(resource.spec), resource.ignore_changes)
    return any(u not in applied for u, _ in iter_units(declared, merged))


__all__ = [
    "ApplyRequest",
    "agent_listing",
    "apply_project",
    "backend_for",
    "ensure_plan_current",
    "load_plan",
    "make_plan",
    "open_project",
    "open_project_and_state",
    "read_state",
    "record_unchanged",
    "save_plan",
]
