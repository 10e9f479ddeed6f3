"""Import, the operation: read agents, write their files, record them in state, all or nothing.

Runs under the state lock: refuse ambiguous names before writing anything, write the
files (`sigmaform.importer` makes them), render them as `plan` would, and record what
the server holds exactly as an apply would, so the next plan is empty.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigmaform import invocation
from sigmaform.digest import config_digest
from sigmaform.errors import ConfigError
from sigmaform.files import display_path, write_atomic
from sigmaform.import_cases import (
    FOLDER as CASES_FOLDER,
)
from sigmaform.import_cases import (
    ImportedCase,
    agent_of,
    case_document,
    case_names,
    case_schema_reference,
    fetch_cases,
    find_cases,
    imported_case,
)
from sigmaform.importer import (
    AGENT,
    ImportedAgent,
    check_writable,
    document_text,
    imported_agent,
    schema_reference,
    slugify,
    unique_name,
)
from sigmaform.kinds import TEST_CASE
from sigmaform.operations import backend_for, client_for, read_state
from sigmaform.project import NAME_PATTERN, load_project, load_project_file, resource_files
from sigmaform.remote import comparable_desired, nested_ids, observed
from sigmaform.resource import Project, Resource
from sigmaform.state import LockInfo, ResourceState, State, utc_now
from sigmaform.yamlload import load_documents_many


@dataclass(frozen=True)
class ImportRequest:
    agent_ids: tuple[str, ...] = ()
    all: bool = False
    name: str | None = None
    out_dir: Path | None = None  # relative to the project directory; default agents/
    parallelism: int = 10
    all_environments: bool = False  # else the files say `only: [ENV]`
    dry_run: bool = False  # show what would be written; write nothing
    lock_timeout: float = 0.0  # seconds to wait for the state lock


@dataclass(frozen=True)
class ImportedFile:
    address: str
    agent_id: str
    files: tuple[str, ...]  # written, relative to the project directory
    dropped: tuple[str, ...]
    adopted_from: str | None = None  # --name of a declared resource: its file, kept as is


@dataclass(frozen=True)
class ImportResult:
    imported: tuple[ImportedFile, ...]
    secret_variables: tuple[str, ...]
    state: str  # where state was written
    # --dry-run: (path relative to the project, text) of every file it would write.
    previews: tuple[tuple[str, str], ...] = ()


def check_request(request: ImportRequest) -> None:
    """Refuse contradictory arguments before anything is read."""
    if request.all and request.agent_ids:
        raise ConfigError("give agent ids or --all, not both")
    if not request.all and not request.agent_ids:
        raise ConfigError("nothing to import: give one or more AGENT_IDs, or --all")
    if request.name is not None:
        if request.all or len(set(request.agent_ids)) != 1:
            raise ConfigError("--name names one agent: use it with exactly one AGENT_ID")
        if not NAME_PATTERN.fullmatch(request.name):
            raise ConfigError(
                f"--name `{request.name}`: use lowercase letters, digits and `-`, starting "
                "with a letter or digit, at most 63 characters"
            )


def _out_dir(project: Project, given: Path | None) -> Path:
    out = project.root / (given if given is not None else Path("agents"))
    out = Path(os.path.normpath(out.absolute()))
    if not out.is_relative_to(project.root):
        raise ConfigError(f"--out-dir {given}: must be inside the project directory")
    return out


def _declared_names(project: Project) -> dict[str, str]:
    """Agent names declared in any resource file (for any environment) -> file."""
    pf = load_project_file(project.root)
    documents, _ = load_documents_many(resource_files(project.root, pf), project.root)
    names: dict[str, str] = {}
    for doc in documents:
        data = doc.data
        if isinstance(data, dict) and data.get("kind") == AGENT.name:
            names.setdefault(str(data.get("name")), doc.display)
    return names


def _fetch(client: Any, ids: Sequence[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The agents among `ids`, and the ids that name no agent."""
    results = client.map_concurrent(client.get_agent, list(ids))
    missing = []
    bodies = []
    for agent_id, result in zip(ids, results, strict=True):
        if isinstance(result, BaseException):
            raise result
        if result is None:
            missing.append(agent_id)
        else:
            check_writable(result)
            bodies.append(result)
    return bodies, missing


def _cases_named(
    client: Any, missing: Sequence[str], state: State, env: str
) -> list[dict[str, Any]]:
    """The ids that name no agent, as test cases of managed agents; any other is an error."""
    owners = [r.id for r in state.resources.values() if r.kind == AGENT.name]
    found = find_cases(client, missing, owners) if owners else {}
    unknown = [i for i in missing if i not in found]
    if unknown:
        raise ConfigError(
            "; ".join(
                f"no agent with id `{i}` in environment `{env}` (nor a test case of an agent"
                " sigmaform manages there)"
                for i in unknown
            )
        )
    return [found[i] for i in missing]


def _choose_names(
    bodies: Sequence[Mapping[str, Any]],
    request: ImportRequest,
    project: Project,
    state: State,
    out_dir: Path,
) -> list[str]:
    """One logical name per agent; refuse one that a file, a resource or state already has.

    The exception: `--name` naming an Agent declared for this environment but not in
    state binds the remote agent to that resource (what the planner's "adopt it with
    `sigmaform import ID --name NAME`" hint means); its file is left as it is.
    """
    declared = _declared_names(project)
    in_state = {a.split(".", 1)[1] for a, r in state.resources.items() if r.kind == AGENT.name}
    chosen: list[str] = []
    problems: list[str] = []
    for body in bodies:
        if request.name is not None:
            name = request.name
            if name not in in_state and _declared_here(project, name) is not None:
                chosen.append(name)
                continue
        else:
            name = unique_name(slugify(str(body.get("agentName") or "")), chosen)
        files = [out_dir / f"{name}.yaml", out_dir / "prompts" / f"{name}.md"]
        existing = next((f for f in files if f.exists()), None)
        if name in declared:
            holder = f"is already declared in {declared[name]}"
        elif name in in_state:
            holder = f"is already in state as {AGENT.prefix}.{name}"
        elif existing is not None:
            holder = f"would overwrite {display_path(existing, project.root)}"
        else:
            chosen.append(name)
            continue
        hint = (
            "choose another with --name"
            if request.name is not None or not request.all
            else "import it on its own: "
            f"`{invocation.command('import', str(body[AGENT.id_field]), '--name', 'NAME')}`"
        )
        problems.append(
            f"agent `{body.get('agentName')}` ({body[AGENT.id_field]}): name `{name}` "
            f"{holder}; {hint}"
        )
        chosen.append(name)
    if problems:
        raise ConfigError("; ".join(problems))
    return chosen


def _declared_here(project: Project, name: str) -> Resource | None:
    address = f"{AGENT.prefix}.{name}"
    return next((r for r in project.resources if r.address == address), None)


@dataclass
class _Written:
    """What one import wrote, so that a failure can take it all back."""

    files: list[list[Path]]  # per agent
    dirs: list[Path]  # directories it created, parents first

    def add(self, other: _Written) -> None:
        self.files += other.files
        self.dirs += other.dirs

    def remove(self) -> None:
        for paths in self.files:
            for path in paths:
                path.unlink(missing_ok=True)
        for directory in reversed(self.dirs):
            with contextlib.suppress(OSError):  # not empty: someone else's files are there
                directory.rmdir()


def _write_files(
    agents: Sequence[ImportedAgent],
    out_dir: Path,
    schema_ref: str | None,
    only: Sequence[str] = (),
) -> _Written:
    missing = [d for d in (*reversed(out_dir.parents), out_dir) if not d.exists()]
    if any(a.prompt is not None for a in agents) and not (out_dir / "prompts").exists():
        missing.append(out_dir / "prompts")
    written = _Written([], missing)
    try:
        for agent in agents:
            paths: list[Path] = []
            written.files.append(paths)
            if agent.prompt is not None:
                prompt = out_dir / "prompts" / f"{agent.name}.md"
                write_atomic(prompt, agent.prompt)
                paths.append(prompt)
            target = out_dir / f"{agent.name}.yaml"
            write_atomic(target, document_text(agent, schema_ref, only))
            paths.append(target)
    except BaseException:
        written.remove()
        raise
    return written


def _rendered(root: Path, env: str, addresses: Sequence[str]) -> dict[str, Resource]:
    """The imported resources as `plan` will see them (secrets as placeholders)."""
    project = load_project(root, env, secrets="placeholder")
    by_address = {r.address: r for r in project.resources}
    out = {}
    for address in addresses:
        if address not in by_address:
            raise ConfigError(
                f"{address}: the written file is not matched by `resources:` "
                "in sigmaform.yaml; choose an --out-dir those globs cover"
            )
        out[address] = by_address[address]
    return out


def _case_path(out_dir: Path, case: ImportedCase) -> Path:
    return out_dir / CASES_FOLDER / f"{case.name}.yaml"


def _cases(
    case_bodies: Sequence[Mapping[str, Any]],
    bodies: Sequence[Mapping[str, Any]],
    names: Sequence[str],
    project: Project,
    state: State,
    out_dir: Path,
) -> list[ImportedCase]:
    """The test cases to write: each bound to its agent's logical name, named afresh."""
    agent_names = {r.id: a.split(".", 1)[1] for a, r in state.resources.items()}
    agent_names.update((str(b[AGENT.id_field]), n) for b, n in zip(bodies, names, strict=True))
    managed = {r.id for r in state.resources.values() if r.kind == TEST_CASE.name}
    fresh = [c for c in case_bodies if str(c[TEST_CASE.id_field]) not in managed]
    for body in fresh:
        check_writable(body)
    declared = {r.name for r in project.resources if r.kind == TEST_CASE.name}
    taken = declared | {
        a.split(".", 1)[1] for a, r in state.resources.items() if r.kind == TEST_CASE.name
    }
    taken |= {p.stem for p in (out_dir / CASES_FOLDER).glob("*.yaml")}
    chosen = case_names(fresh, agent_names, taken)
    return [
        imported_case(body, name, agent_names[agent_of(body) or ""])
        for body, name in zip(fresh, chosen, strict=True)
    ]


def _write_cases(
    cases: Sequence[ImportedCase], out_dir: Path, only: Sequence[str], root: Path
) -> _Written:
    folder = out_dir / CASES_FOLDER
    schema_ref = case_schema_reference(root, folder)
    written = _Written([], [d for d in (folder,) if cases and not d.exists()])
    paths: list[Path] = []
    written.files.append(paths)
    for case in cases:
        path = _case_path(out_dir, case)
        write_atomic(path, case_document(case, only, schema_ref))
        paths.append(path)
    return written


def _recorded_cases(
    state: State,
    case_bodies: Sequence[Mapping[str, Any]],
    cases: Sequence[ImportedCase],
    rendered: Mapping[str, Resource],
) -> State:
    """State with each test case recorded as an apply of its file would have left it."""
    key = state.fingerprint_key
    id_to_name = {r.id: a.split(".", 1)[1] for a, r in state.resources.items()}
    by_id = {str(b[TEST_CASE.id_field]): b for b in case_bodies}
    for case in cases:
        resource = rendered[f"{TEST_CASE.prefix}.{case.name}"]
        desired = comparable_desired(resource.spec, key)
        state = state.with_resource(
            resource.address,
            ResourceState(
                kind=TEST_CASE.name,
                id=case.case_id,
                applied=observed(TEST_CASE, by_id[case.case_id], desired, key, id_to_name),
                config_digest=config_digest(resource),
                applied_at=utc_now(),
                protect=resource.protect,
            ),
        )
    return state


def import_agents(project: Project, request: ImportRequest) -> ImportResult:
    """Read the agents, write their files, record them in state; all or nothing per run."""
    check_request(request)
    env = project.environment.name
    out_dir = _out_dir(project, request.out_dir)
    backend = backend_for(project)
    with (
        backend.lock(LockInfo("import"), request.lock_timeout),
        client_for(project, request.parallelism) as client,
    ):
        state = read_state(backend, env)
        managed = {r.id: a for a, r in state.resources.items() if r.kind == AGENT.name}
        if request.all:
            listed = [
                a
                for a in client.list_agents()
                if a.get(AGENT.id_field) and str(a[AGENT.id_field]) not in managed
            ]
            for agent in listed:  # before its id goes into a request path
                check_writable(agent)
            ids = [str(a[AGENT.id_field]) for a in listed]
        else:
            ids = list(dict.fromkeys(request.agent_ids))
            already = [f"{managed[i]} already manages {i}" for i in ids if i in managed]
            if already:
                raise ConfigError("; ".join(already) + "; nothing imported")
        if not ids:
            return ImportResult((), (), backend.describe())
        bodies, missing = _fetch(client, ids)
        named_cases = _cases_named(client, missing, state, env) if missing else []
        names = _choose_names(bodies, request, project, state, out_dir)
        adopted = {n: r for n in names if (r := _declared_here(project, n)) is not None}
        agents: list[ImportedAgent] = []
        for body, name in zip(bodies, names, strict=True):
            if name not in adopted:
                used = [v for a in agents for v in a.secret_variables]
                agents.append(imported_agent(body, name, used))
        only = () if request.all_environments else (env,)
        schema_ref = schema_reference(project.root, out_dir)
        # An agent comes with its test cases (those of an agent bound to a declared file too).
        case_bodies = named_cases + fetch_cases(client, [str(b[AGENT.id_field]) for b in bodies])
        cases = _cases(case_bodies, bodies, names, project, state, out_dir)
        if request.dry_run:
            return _preview(
                project, bodies, names, agents, adopted, out_dir, schema_ref, only, cases
            )
        written = _write_files(agents, out_dir, schema_ref, only)
        try:
            written.add(_write_cases(cases, out_dir, only, project.root))
            addresses = [f"{AGENT.prefix}.{a.name}" for a in agents]
            addresses += [f"{TEST_CASE.prefix}.{c.name}" for c in cases]
            rendered = _rendered(project.root, env, addresses) if addresses else {}
        except BaseException:
            written.remove()
            raise
        rendered.update({r.address: r for r in adopted.values()})
        state = _recorded(state, bodies, names, rendered, set(adopted))
        state = _recorded_cases(state, case_bodies, cases, rendered)
        backend.write(state)
    # written.files: one list per agent, then the test cases' files.
    files = {a.name: paths for a, paths in zip(agents, written.files[: len(agents)], strict=True)}
    dropped = {a.name: a.dropped for a in agents}
    return ImportResult(
        imported=tuple(
            ImportedFile(
                address=f"{AGENT.prefix}.{name}",
                agent_id=str(body[AGENT.id_field]),
                files=tuple(display_path(p, project.root) for p in files.get(name, ())),
                dropped=dropped.get(name, ()),
                adopted_from=adopted[name].source if name in adopted else None,
            )
            for body, name in zip(bodies, names, strict=True)
        )
        + tuple(
            ImportedFile(
                address=f"{TEST_CASE.prefix}.{case.name}",
                agent_id=case.case_id,
                files=(display_path(_case_path(out_dir, case), project.root),),
                dropped=case.dropped,
            )
            for case in cases
        ),
        secret_variables=tuple(v for a in agents for v in a.secret_variables),
        state=backend.describe(),
    )


def _preview(
    project: Project,
    bodies: Sequence[Mapping[str, Any]],
    names: Sequence[str],
    agents: Sequence[ImportedAgent],
    adopted: Mapping[str, Resource],
    out_dir: Path,
    schema_ref: str | None,
    only: Sequence[str],
    cases: Sequence[ImportedCase] = (),
) -> ImportResult:
    """What an import would write (files and state entries); nothing is written."""
    previews: list[tuple[str, str]] = []
    files: dict[str, tuple[str, ...]] = {}
    for agent in agents:
        mine = []
        if agent.prompt is not None:
            mine.append((out_dir / "prompts" / f"{agent.name}.md", agent.prompt))
        mine.append((out_dir / f"{agent.name}.yaml", document_text(agent, schema_ref, only)))
        shown = [(display_path(p, project.root), text) for p, text in mine]
        previews += shown
        files[agent.name] = tuple(p for p, _ in shown)
    case_files = [display_path(_case_path(out_dir, c), project.root) for c in cases]
    case_ref = case_schema_reference(project.root, out_dir / CASES_FOLDER)
    previews += [
        (p, case_document(c, only, case_ref)) for p, c in zip(case_files, cases, strict=True)
    ]
    dropped = {a.name: a.dropped for a in agents}
    return ImportResult(
        imported=tuple(
            ImportedFile(
                address=f"{AGENT.prefix}.{name}",
                agent_id=str(body[AGENT.id_field]),
                files=files.get(name, ()),
                dropped=dropped.get(name, ()),
                adopted_from=adopted[name].source if name in adopted else None,
            )
            for body, name in zip(bodies, names, strict=True)
        )
        + tuple(
            ImportedFile(f"{TEST_CASE.prefix}.{c.name}", c.case_id, (path,), c.dropped)
            for c, path in zip(cases, case_files, strict=True)
        ),
        secret_variables=tuple(v for a in agents for v in a.secret_variables),
        state=backend_for(project).describe(),
        previews=tuple(previews),
    )


@dataclass(frozen=True)
class RemoteAgent:
    """One remote agent of `import --list`, and the address that manages it (if any)."""

    agent_id: str
    agent_name: str
    address: str | None


def list_remote_agents(project: Project, parallelism: int = 10) -> list[RemoteAgent]:
    """Every agent of the environment's workspace, managed ones with their address."""
    state = read_state(backend_for(project), project.environment.name)
    managed = {r.id: a for a, r in state.resources.items() if r.kind == AGENT.name}
    with client_for(project, parallelism) as client:
        listed = client.list_agents()
    out = [
        RemoteAgent(
            str(a.get(AGENT.id_field)),
            str(a.get("agentName") or ""),
            managed.get(str(a.get(AGENT.id_field))),
        )
        for a in listed
        if a.get(AGENT.id_field)
    ]
    return sorted(out, key=lambda a: (a.address is None, a.agent_name, a.agent_id))


def _recorded(
    state: State,
    bodies: Sequence[Mapping[str, Any]],
    names: Sequence[str],
    rendered: Mapping[str, Resource],
    adopted: set[str],
) -> State:
    """State with each agent recorded as an apply of its file would have left it."""
    key = state.fingerprint_key
    id_to_name = {r.id: a.split(".", 1)[1] for a, r in state.resources.items()}
    for body, name in zip(bodies, names, strict=True):
        resource = rendered[f"{AGENT.prefix}.{name}"]
        # Applied = what the server holds for the declared fields, with the real
        # secret's fingerprint: once the variable holds that secret, plan is empty.
        desired = comparable_desired(resource.spec, key)
        state = state.with_resource(
            resource.address,
            ResourceState(
                kind=AGENT.name,
                id=str(body[AGENT.id_field]),
                applied=observed(AGENT, body, desired, key, id_to_name),
                # An adopted resource's file was never applied: no digest, so promotion
                # does not take it for reviewed-and-applied config.
                config_digest="" if name in adopted else config_digest(resource),
                applied_at=utc_now(),
                protect=resource.protect,
                nested_ids=nested_ids(AGENT, body),
            ),
        )
    return state
