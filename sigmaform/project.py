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
from sigmaform.crosscheck import cross_check, duplicate_webhooks, slim
from sigmaform.endpoint import DEFAULT_KEY_VAR
from sigmaform.errors import ConfigError, Problem
from sigmaform.files import Document, JsonPath, display_path, gc_paused, relative_text
from sigmaform.interpolate import Renderer, SecretsMode, deep_merge, suggest
from sigmaform.kinds import KINDS
from sigmaform.lifecycle import ignore_problems, ignored_of
from sigmaform.moves import collisions
from sigmaform.projectfile import PROJECT_FILE, ProjectFile, parse_project_file
from sigmaform.realpaths import RealPaths, within
from sigmaform.resource import DEFAULT_BASE_URL, Environment, Project, Resource
from sigmaform.yamlload import load_documents

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
            if not within(os.path.normpath(path), absolute_root):
                raise ConfigError(
                    pf.document.problem(
                        ("resources", i),
                        f"the glob `{pattern}` reaches outside the project directory; refused",
                    )
                )
            if mode is None:
                why = f"cannot read: {failure} (a broken symlink?)"
            elif not within(realpaths.real(path), inside):
                why = "a symlink to outside the project directory; refused"
            elif not stat.S_ISREG(mode):
                why = "not a regular file (a FIFO, socket or device); refused"
            else:
                matched.add(path)
                continue
            refused.append(Problem(_display(absolute_root, path), message=why))
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
    project_file: ProjectFile | None = None,
    on_secret: Callable[[str], None] | None = None,
    lazy_files: bool = False,
) -> Project:
    """The project rendered for one environment; ConfigError with every problem in every file.

    `check` runs on each rendered resource (the schema check, from validate.py, which
    imports this module) so commands that send requests refuse bad input first.
    `project_file`: sigmaform.yaml as the caller read it already (base URL overridden).
    `on_secret` is called with the text of each sensitive value as it is rendered.
    `lazy_files` (apply): long `!file` values are FileTexts once checked (spec_text.py).
    """
    environ = os.environ if environ is None else environ
    root = root.absolute()
    pf = project_file or with_base_url_override(load_project_file(root), environ)
    environment = select_environment(pf, env)
    renderer = ResourceRenderer(
        pf,
        environment,
        secrets=secrets,
        environ=environ,
        check=check,
        keep_documents=False,
        on_secret=on_secret,
        lazy_files=lazy_files,
    )
    problems: list[Problem] = []
    # One file at a time: it is read, rendered and checked, and only what the checks
    # across files need is kept (peak memory: one file's YAML, not the project's).
    with gc_paused():
        for path in resource_files(root, pf):
            try:
                documents = load_documents(path, display_path(path, root), marks_later=True)
            except ConfigError as error:
                problems += error.problems
                continue
            for doc in documents:
                renderer.add(doc)
    unreadable = bool(problems)
    rendered, render_problems = renderer.finish(incomplete=unreadable)
    problems += render_problems
    problems += move_problems(pf, renderer.declared_renderable)
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


def move_problems(pf: ProjectFile, declared: AbstractSet[str]) -> list[Problem]:
    """`moved:` entries that collide, or whose `to` no file declares (in any environment).

    `declared`: the addresses of every renderable document (`declared_addresses`).
    """
    if not pf.moved:
        return []
    collided = collisions(pf.moved)
    return [pf.document.problem(("moved", i), why) for i, why in collided] + [
        pf.document.problem(
            ("moved", i, "to"),
            f"`{move.target}` is not declared in any resource file (moved from `{move.source}`)",
        )
        for i, move in enumerate(pf.moved)
        if move.target not in declared and i not in {c for c, _ in collided}
    ]


def declared_addresses(documents: Sequence[Document]) -> set[str]:
    """The address of every document that can be rendered, in any environment."""
    return {_address(d) for d in documents if _renderable(d)}


def _address(doc: Document) -> str:
    return f"{KINDS[doc.data['kind']].prefix}.{doc.data['name']}"


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
    return relative_text(path, root)


def render_resources(
    pf: ProjectFile,
    documents: Sequence[Document],
    environment: Environment,
    *,
    secrets: SecretsMode = "required",
    environ: Mapping[str, str] | None = None,
    files: dict[str, Any] | None = None,
    incomplete: bool = False,
    env_placeholders: bool = False,
) -> tuple[list[RenderedResource], list[Problem]]:
    """Every document rendered for `environment`, then checked across resources.

    `incomplete`: some resource files could not be read, so a reference to a name found
    nowhere may be declared in one of them and is not reported. `env_placeholders`: an
    unset `${env.X}` is not an error (validate).
    """
    renderer = ResourceRenderer(
        pf,
        environment,
        secrets=secrets,
        environ=environ,
        files=files,
        env_placeholders=env_placeholders,
        keep_documents=True,
    )
    for doc in documents:
        renderer.add(doc)
    return renderer.finish(incomplete)


class ResourceRenderer:
    """Renders documents for one environment one at a time, then checks across them.

    Each document is checked, rendered and passed to `check` as it is added; unless
    `keep_documents`, a rendered resource then keeps only the marks the cross-resource
    checks may report at (see crosscheck.slim), so a caller that reads one file at a time
    holds one file's YAML data and marks, not the whole project's.
    """

    def __init__(
        self,
        pf: ProjectFile,
        environment: Environment,
        *,
        secrets: SecretsMode = "required",
        environ: Mapping[str, str] | None = None,
        files: dict[str, Any] | None = None,
        env_placeholders: bool = False,
        check: Callable[[RenderedResource], list[Problem]] | None = None,
        keep_documents: bool = False,
        on_secret: Callable[[str], None] | None = None,
        lazy_files: bool = False,
    ) -> None:
        self.pf = pf
        self.environment = environment
        self.check = check
        self.keep_documents = keep_documents
        self.renderer = Renderer(
            root=pf.root,
            environment=environment,
            environ=os.environ if environ is None else environ,
            secrets=secrets,
            files={} if files is None else files,
            forbidden_env=credential_variables(pf),
            env_placeholders=env_placeholders,
            on_secret=on_secret,
            lazy_files=lazy_files,
        )
        self.problems: list[Problem] = []
        self.rendered: list[RenderedResource] = []
        self.excluded: set[tuple[str, str]] = set()  # left out of this environment by `only:`
        self.declared: set[tuple[str, str]] = set()  # written in a document, renderable or not
        self.declared_renderable: set[str] = set()  # addresses, whatever the environment

    def add(self, doc: Document) -> None:
        problems = self.problems
        problems += check_document(doc, self.pf)
        declared = _declared(doc)
        if declared is not None:
            self.declared.add(declared)
        if not _renderable(doc):
            return
        self.declared_renderable.add(_address(doc))
        data = doc.data
        env = self.environment.name
        only = data.get("only")
        if isinstance(only, list) and env not in only:
            self.excluded.add((data["kind"], data["name"]))
            return
        renderer = self.renderer
        spec = renderer.render(doc, data["spec"], ("spec",))
        overrides = data.get("environments")
        override = overrides.get(env) if isinstance(overrides, dict) else None
        if isinstance(override, dict):
            spec = deep_merge(spec, renderer.render(doc, override, ("environments", env)))
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
        item = RenderedResource(resource, doc, env, renderer.take_unresolved())
        problems += duplicate_webhooks(item, env)
        if self.check is not None:
            problems += self.check(item)
        renderer.take_file_texts(spec)  # checked as text; from here on held by digest
        if not self.keep_documents:
            kind = resource.kind_info
            fields = [*kind.references, *([kind.unique_field] if kind.unique_field else [])]
            kept = slim(doc, [("spec", f) for f in fields], env)
            item = RenderedResource(resource, kept, env, item.unresolved)
        self.rendered.append(item)

    def finish(self, incomplete: bool = False) -> tuple[list[RenderedResource], list[Problem]]:
        """The rendered resources, and every problem found (cross-resource ones too)."""
        problems = self.problems
        problems += self.renderer.problems
        problems += self.renderer.env_secret_problems()
        env = self.environment.name
        declared = self.excluded | self.declared
        problems += cross_check(self.rendered, env, self.excluded, declared, incomplete)
        return self.rendered, problems


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
