"""sigmaform.yaml, environments, resource files, and resources rendered for one environment."""

from __future__ import annotations

import dataclasses
import os
import re
import stat
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigmaform import invocation
from sigmaform.endpoint import DEFAULT_KEY_VAR
from sigmaform.errors import ConfigError, Problem
from sigmaform.files import (
    Document,
    JsonPath,
    format_path,
    load_documents,
    load_documents_many,
)
from sigmaform.interpolate import Renderer, SecretsMode, deep_merge, mark_of, suggest
from sigmaform.kinds import KINDS
from sigmaform.lifecycle import ignore_problems, ignored_of
from sigmaform.moves import collisions
from sigmaform.projectfile import PROJECT_FILE, ProjectFile, parse_project_file
from sigmaform.realpaths import RealPaths
from sigmaform.resource import DEFAULT_BASE_URL, Environment, Project, Resource

BASE_URL_VAR = "SIGMAMIND_BASE_URL"
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_ENV_REFERENCE = re.compile(r"\$\{\s*env\.([A-Za-z_][A-Za-z0-9_]*)\s*\}")
DOCUMENT_KEYS = (
    "kind",
    "name",
    "protect",
    "spec",
    "gate",
    "environments",
    "only",
    "ignoreChanges",
)

__all__ = [
    "DEFAULT_BASE_URL",
    "PROJECT_FILE",
    "ProjectFile",
    "RenderedResource",
    "load_project",
    "load_project_file",
    "move_problems",
    "render_resources",
    "resource_files",
    "select_environment",
]


@dataclass(frozen=True)
class RenderedResource:
    """A resource rendered for one environment, with the document it came from (for marks)."""

    resource: Resource
    document: Document
    environment: str
    # Spec paths whose value holds a placeholder or a failed expression: its schema errors
    # would only repeat the problem already reported (or, offline, not be problems at all).
    unresolved: frozenset[JsonPath] = frozenset()


def find_project_root(start: Path) -> Path | None:
    """The nearest directory at or above START holding sigmaform.yaml, as git finds .git."""
    start = start.absolute()
    return next((d for d in (start, *start.parents) if (d / PROJECT_FILE).is_file()), None)


def discover_project_root(start: Path) -> Path:
    """find_project_root, or a ConfigError that says where it looked and what to do."""
    found = find_project_root(start)
    if found is None:
        raise ConfigError(
            f"no {PROJECT_FILE} in {start.absolute()} or any directory above it: run "
            f"sigmaform from inside a project, pass -C DIR (the directory holding "
            f"{PROJECT_FILE}), or create one with `sigmaform init`"
        )
    return found


def load_project_file(root: Path) -> ProjectFile:
    """Read and check `ROOT/sigmaform.yaml`; ConfigError lists every problem."""
    path = root / PROJECT_FILE
    if not path.is_file():
        raise ConfigError(f"no {PROJECT_FILE} in {root} (run `{invocation.command('init')}`)")
    documents = load_documents(path, PROJECT_FILE)
    if len(documents) > 1:
        raise ConfigError(
            documents[1].problem((), f"{PROJECT_FILE} holds one document, found {len(documents)}")
        )
    pf, problems = parse_project_file(root, documents[0])
    if pf is None:
        raise ConfigError(problems)
    return pf


def select_environment(pf: ProjectFile, name: str | None) -> Environment:
    """The environment to work on: the named one, or the only one."""
    known = ", ".join(sorted(pf.environments))
    if name is None:
        if len(pf.environments) == 1:
            return next(iter(pf.environments.values()))
        raise ConfigError(
            f"several environments ({known}): choose one with -e/--env or SIGMAFORM_ENV"
        )
    if name not in pf.environments:
        raise ConfigError(
            f"unknown environment `{name}`{suggest(name, pf.environments)} "
            f"(known: {known}; {PROJECT_FILE} declares them)"
        )
    return pf.environments[name]


def resource_files(root: Path, pf: ProjectFile, paths: Sequence[Path] = ()) -> list[Path]:
    """The files the `resources` globs match, sorted; `paths` (files or dirs) narrow them.

    Relative `paths` are taken from the project directory, as after `git -C`. A file named
    explicitly is included even when no glob matches it: the user asked for it. A match
    that leaves the project (`../x/*.yaml`, a symlink) or is not a regular file (a FIFO
    would block the read forever) is an error, as for `!file`.
    """
    matched: set[Path] = set()
    refused: list[Problem] = []
    inside = root.resolve()
    absolute_root = root.absolute()
    realpaths = RealPaths()
    for i, pattern in enumerate(pf.resources):
        try:
            found = list(root.glob(pattern))
        except (ValueError, NotImplementedError) as error:  # "/abs/*.yaml", "a/**b"
            raise ConfigError(
                pf.document.problem(("resources", i), f"invalid glob `{pattern}`: {error}")
            ) from None
        for path in found:
            path = path.absolute()
            try:
                mode = path.stat().st_mode
            except OSError as error:
                mode = None
                failure = error.strerror
            if mode is not None and stat.S_ISDIR(mode):
                continue  # `agents/**` matches directories too
            if not Path(os.path.normpath(path)).is_relative_to(absolute_root):
                raise ConfigError(
                    pf.document.problem(
                        ("resources", i),
                        f"the glob `{pattern}` reaches outside the project directory; refused",
                    )
                )
            shown = _display(absolute_root, path)
            if mode is None:
                refused.append(
                    Problem(shown, message=f"cannot read: {failure} (a broken symlink?)")
                )
            elif not realpaths.resolve(path).is_relative_to(inside):
                refused.append(
                    Problem(shown, message="a symlink to outside the project directory; refused")
                )
            elif not stat.S_ISREG(mode):
                refused.append(
                    Problem(shown, message="not a regular file (a FIFO, socket or device); refused")
                )
            else:
                matched.add(path)
    if refused:
        raise ConfigError(refused)
    if not paths:
        return sorted(matched)
    chosen: set[Path] = set()
    missing: list[Problem] = []
    for given in paths:
        target = (given if given.is_absolute() else root / given).absolute()
        if target.is_file():
            chosen.add(target)
        elif target.is_dir():
            chosen.update(p for p in matched if p.is_relative_to(target))
        else:
            missing.append(Problem(str(given), message="no such file or directory"))
    if missing:
        raise ConfigError(missing)
    return sorted(chosen)


def unmatched_globs(root: Path, pf: ProjectFile) -> list[Problem]:
    """A `resources` glob that matches no file: a typo, or a directory that was moved."""
    problems: list[Problem] = []
    for i, pattern in enumerate(pf.resources):
        try:
            matches = any(p.is_file() for p in root.glob(pattern))
        except (ValueError, NotImplementedError):
            continue  # reported by resource_files
        if not matches:
            problems.append(
                pf.document.problem(
                    ("resources", i), f"the glob `{pattern}` matches no file; fix or remove it"
                )
            )
    return problems


def load_project(
    root: Path,
    env: str | None,
    *,
    paths: Sequence[Path] = (),
    secrets: SecretsMode = "required",
    environ: Mapping[str, str] | None = None,
    check: Callable[[RenderedResource], list[Problem]] | None = None,
) -> Project:
    """The project rendered for one environment; ConfigError with every problem in every file.

    `check` runs on each rendered resource (the schema check, from validate.py, which
    imports this module) so commands that send requests refuse bad input first.
    """
    environ = os.environ if environ is None else environ
    root = root.absolute()
    pf = with_base_url_override(load_project_file(root), environ)
    environment = select_environment(pf, env)
    everything = resource_files(root, pf)
    documents, problems = load_documents_many(everything, root)
    rendered, render_problems = render_resources(
        pf, documents, environment, secrets=secrets, environ=environ, incomplete=bool(problems)
    )
    problems += render_problems
    problems += move_problems(pf, documents)
    if check is not None:
        for item in rendered:
            problems += check(item)
    if paths:
        # Every file is loaded so references resolve; only the chosen ones are reported.
        chosen = {_display(root, p) for p in resource_files(root, pf, paths)}
        problems = [p for p in problems if p.file in chosen or p.file == PROJECT_FILE]
        rendered = [r for r in rendered if r.resource.source in chosen]
    if problems:
        raise ConfigError(problems)
    return Project(
        root=root,
        environments=pf.environments,
        environment=environment,
        resources=tuple(r.resource for r in rendered),
        state=pf.state,
        moves=pf.moved,
    )


def move_problems(pf: ProjectFile, documents: Sequence[Document]) -> list[Problem]:
    """`moved:` entries that collide, or whose `to` no file declares (in any environment)."""
    if not pf.moved:
        return []
    declared = {
        f"{KINDS[d.data['kind']].prefix}.{d.data['name']}" for d in documents if _renderable(d)
    }
    collided = collisions(pf.moved)
    return [pf.document.problem(("moved", i), why) for i, why in collided] + [
        pf.document.problem(
            ("moved", i, "to"),
            f"`{move.target}` is not declared in any resource file (moved from `{move.source}`)",
        )
        for i, move in enumerate(pf.moved)
        if move.target not in declared and i not in {c for c, _ in collided}
    ]


def with_base_url_override(pf: ProjectFile, environ: Mapping[str, str]) -> ProjectFile:
    """`SIGMAMIND_BASE_URL` replaces every environment's base URL (design 2.3)."""
    override = environ.get(BASE_URL_VAR)
    if not override:
        return pf
    environments = {
        name: dataclasses.replace(e, base_url=override) for name, e in pf.environments.items()
    }
    return dataclasses.replace(pf, environments=environments)


def _display(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def render_resources(
    pf: ProjectFile,
    documents: Sequence[Document],
    environment: Environment,
    *,
    secrets: SecretsMode = "required",
    environ: Mapping[str, str] | None = None,
    files: dict[Path, Any] | None = None,
    incomplete: bool = False,
    env_placeholders: bool = False,
) -> tuple[list[RenderedResource], list[Problem]]:
    """Every document rendered for `environment`, then checked across resources.

    `incomplete`: some resource files could not be read, so a reference to a name found
    nowhere may be declared in one of them and is not reported. `env_placeholders`: an
    unset `${env.X}` is not an error (validate).
    """
    renderer = Renderer(
        root=pf.root,
        environment=environment,
        environ=os.environ if environ is None else environ,
        secrets=secrets,
        files={} if files is None else files,
        forbidden_env=credential_variables(pf),
        env_placeholders=env_placeholders,
    )
    problems: list[Problem] = []
    rendered: list[RenderedResource] = []
    excluded: set[tuple[str, str]] = set()  # left out of this environment by `only:`
    for doc in documents:
        problems += check_document(doc, pf)
        if not _renderable(doc):
            continue
        data = doc.data
        only = data.get("only")
        if isinstance(only, list) and environment.name not in only:
            excluded.add((data["kind"], data["name"]))
            continue
        spec = renderer.render(doc, data["spec"], ("spec",))
        overrides = data.get("environments")
        override = overrides.get(environment.name) if isinstance(overrides, dict) else None
        if isinstance(override, dict):
            spec = deep_merge(
                spec, renderer.render(doc, override, ("environments", environment.name))
            )
        resource = Resource(
            kind=data["kind"],
            name=data["name"],
            spec=spec,
            source=doc.display,
            line=doc.start.line,
            protect=bool(data.get("protect", False)),
            ignore_changes=ignored_of(data),
            gate=dict(data["gate"]) if isinstance(data.get("gate"), dict) else None,
        )
        rendered.append(
            RenderedResource(resource, doc, environment.name, renderer.take_unresolved())
        )
    problems += renderer.problems
    problems += renderer.env_secret_problems()
    declared = excluded | {d for d in map(_declared, documents) if d is not None}
    problems += cross_check(rendered, environment.name, excluded, declared, incomplete)
    return rendered, problems


def credential_variables(pf: ProjectFile) -> dict[str, str]:
    """Process variables that hold a credential, and what each holds (for messages)."""
    held = {DEFAULT_KEY_VAR: "an API key"}
    for name, environment in pf.environments.items():
        if environment.api_key_env:
            held[environment.api_key_env] = f"the API key of environment `{name}`"
    for variable in _ENV_REFERENCE.findall(pf.state.url or ""):
        held[variable] = "the state database URL"
    return held


def _declared(doc: Document) -> tuple[str, str] | None:
    """(kind, name) of a document that names both, renderable or not."""
    data = doc.data
    if isinstance(data, dict) and isinstance(data.get("kind"), str):
        name = data.get("name")
        return (data["kind"], name) if isinstance(name, str) else None
    return None


def _renderable(doc: Document) -> bool:
    """Enough shape to render; what is wrong beyond that is reported without stopping."""
    data = doc.data
    return (
        isinstance(data, dict)
        and isinstance(data.get("kind"), str)
        and data["kind"] in KINDS
        and isinstance(data.get("name"), str)
        and NAME_PATTERN.fullmatch(data["name"]) is not None
        and isinstance(data.get("spec"), dict)
    )


def check_document(doc: Document, pf: ProjectFile) -> list[Problem]:
    """The shape rendering needs: kind, name, spec, and the environment keys used."""
    data = doc.data
    if not isinstance(data, dict):
        return [doc.problem((), "expected a mapping with `kind`, `name` and `spec`")]
    problems: list[Problem] = []
    for key in data:
        if key not in DOCUMENT_KEYS:
            mark = doc.locate_key((key,))
            problems.append(
                Problem(
                    doc.display,
                    mark.line,
                    mark.column,
                    key,
                    f"unknown key `{key}`{suggest(key, list(DOCUMENT_KEYS))} "
                    f"(allowed: {', '.join(DOCUMENT_KEYS)})",
                )
            )
    kind = data.get("kind")
    if kind is None:
        problems.append(doc.problem((), "missing `kind` (one of: " + ", ".join(KINDS) + ")"))
    elif not isinstance(kind, str) or kind not in KINDS:
        problems.append(
            doc.problem(
                ("kind",),
                f"unknown kind `{kind}`{suggest(str(kind), list(KINDS))} "
                f"(known: {', '.join(sorted(KINDS))})",
            )
        )
    name = data.get("name")
    if name is None:
        problems.append(doc.problem((), "missing `name`"))
    elif not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        problems.append(
            doc.problem(
                ("name",),
                f"invalid name `{name}`: lowercase letters, digits and `-`, "
                "starting with a letter or digit, at most 63 characters",
            )
        )
    if "protect" in data and not isinstance(data["protect"], bool):
        problems.append(doc.problem(("protect",), "expected true or false"))
    if "spec" not in data:
        problems.append(doc.problem((), "missing `spec`"))
    elif not isinstance(data["spec"], dict):
        problems.append(doc.problem(("spec",), "expected an object (a mapping of fields)"))
    problems += _check_environment_keys(doc, pf)
    problems += ignore_problems(doc)
    return problems


def _check_environment_keys(doc: Document, pf: ProjectFile) -> list[Problem]:
    data = doc.data
    known = ", ".join(sorted(pf.environments))
    problems: list[Problem] = []
    overrides = data.get("environments")
    if overrides is not None:
        if not isinstance(overrides, dict):
            problems.append(doc.problem(("environments",), "expected a mapping of environments"))
        else:
            for env, override in overrides.items():
                if env not in pf.environments:
                    mark = doc.locate_key(("environments", env))
                    problems.append(
                        Problem(
                            doc.display,
                            mark.line,
                            mark.column,
                            f"environments.{env}",
                            f"unknown environment `{env}`{suggest(env, pf.environments)} "
                            f"(known: {known})",
                        )
                    )
                elif override is not None and not isinstance(override, dict):
                    problems.append(
                        doc.problem(("environments", env), "expected a mapping (a partial spec)")
                    )
    only = data.get("only")
    if only is not None:
        if not isinstance(only, list) or not all(isinstance(e, str) for e in only):
            problems.append(doc.problem(("only",), "expected a list of environment names"))
        elif not only:
            problems.append(
                doc.problem(
                    ("only",),
                    "`only: []` puts the resource in no environment: name at least one "
                    "(or delete the file)",
                )
            )
        else:
            for i, env in enumerate(only):
                if env not in pf.environments:
                    problems.append(
                        doc.problem(
                            ("only", i),
                            f"unknown environment `{env}`{suggest(env, pf.environments)} "
                            f"(known: {known})",
                        )
                    )
    return problems


def cross_check(
    rendered: Sequence[RenderedResource],
    env: str,
    excluded: AbstractSet[tuple[str, str]] = frozenset(),
    declared: AbstractSet[tuple[str, str]] | None = None,
    incomplete: bool = False,
) -> list[Problem]:
    """Names and unique fields unique per kind; references name an Agent in this environment.

    `declared`: every (kind, name) written in a document, even one too broken to render,
    so that its own problem is not followed by "no Agent named X" elsewhere.
    """
    problems = _duplicate_names(rendered)
    problems += _duplicate_fields(rendered, env)
    for item in rendered:
        problems += _duplicate_webhooks(item, env)
    known = {(r.resource.kind, r.resource.name) for r in rendered}
    if declared is None:
        declared = known
    for item in rendered:
        kind = item.resource.kind_info
        for field, (target_kind, _api_field) in sorted(kind.references.items()):
            path = ("spec", field)
            if field not in item.resource.spec or path in item.unresolved:
                continue
            target = item.resource.spec[field]
            if target is None and kind.name == "PhoneNumber":
                continue  # no agent on this side of the number
            if isinstance(target, str) and (target_kind, target) in known:
                continue
            mark = mark_of(item.document, path, env)
            names = {name for k, name in known if k == target_kind}
            if (target_kind, target) in excluded:
                message = f"{target_kind} `{target}` is not in environment `{env}` (its `only:`)"
            elif isinstance(target, str):
                if incomplete or (target_kind, target) in declared:
                    continue  # its own file's problem is reported; this would only repeat it
                message = f"no {target_kind} named `{target}`{suggest(target, names)}"
            else:
                message = f"expected the name of an {target_kind}"
            problems.append(
                Problem(item.document.display, mark.line, mark.column, format_path(path), message)
            )
    return problems


def _duplicate_names(rendered: Sequence[RenderedResource]) -> list[Problem]:
    problems: list[Problem] = []
    first: dict[tuple[str, str], RenderedResource] = {}
    for item in rendered:
        key = (item.resource.kind, item.resource.name)
        other = first.setdefault(key, item)
        if other is item:
            continue
        for here, there in ((item, other), (other, item)):
            mark = here.document.locate(("name",))
            where = f"{there.document.display}:{there.document.locate(('name',)).line}"
            problems.append(
                Problem(
                    here.document.display,
                    mark.line,
                    mark.column,
                    "name",
                    f"duplicate {key[0]} name `{key[1]}` (also in {where})",
                )
            )
    return problems


def _duplicate_fields(rendered: Sequence[RenderedResource], env: str) -> list[Problem]:
    """Two resources of one kind with one agentName, phone number or chat in one environment."""
    problems: list[Problem] = []
    first: dict[tuple[str, Any], RenderedResource] = {}
    for item in rendered:
        field = item.resource.kind_info.unique_field
        if field is None:
            continue
        value = item.resource.spec.get(field)
        path = ("spec", field)
        if not isinstance(value, str) or not value or path in item.unresolved:
            continue  # missing, a secret, or a placeholder: nothing to compare
        other = first.setdefault((item.resource.kind, value), item)
        if other is item:
            continue
        there = mark_of(other.document, path, env)
        mark = mark_of(item.document, path, env)
        problems.append(
            Problem(
                item.document.display,
                mark.line,
                mark.column,
                format_path(path),
                f"{item.resource.kind} `{item.resource.name}` has the same {field} "
                f"{_quoted(value)} as `{other.resource.name}` ({other.document.display}:"
                f"{there.line}) in environment `{env}`; each must be unique",
            )
        )
    return problems


def _duplicate_webhooks(item: RenderedResource, env: str) -> list[Problem]:
    """Webhooks are matched by name (to keep their webhookId): two with one name are ambiguous."""
    settings = item.resource.spec.get("agentSettings")
    hooks = settings.get("webhooks") if isinstance(settings, dict) else None
    if not isinstance(hooks, list):
        return []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for i, hook in enumerate(hooks):
        name = hook.get("name") if isinstance(hook, dict) else None
        if not isinstance(name, str):
            continue
        if name in seen:
            path = ("spec", "agentSettings", "webhooks", i, "name")
            mark = mark_of(item.document, path, env)
            problems.append(
                Problem(
                    item.document.display,
                    mark.line,
                    mark.column,
                    format_path(path),
                    f"duplicate webhook name `{name}` (also webhooks[{seen[name]}]): "
                    "webhooks are matched by name",
                )
            )
        else:
            seen[name] = i
    return problems


def _quoted(value: str) -> str:
    return '"' + (value if len(value) <= 60 else value[:57] + "...") + '"'
