"""Offline validation: YAML, the project file, schemas, names and references -> every problem."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigmaform.endpoint import normalise_base_url
from sigmaform.errors import ConfigError, Problem
from sigmaform.files import Document, JsonPath, Mark, format_path
from sigmaform.interpolate import deep_merge, mark_of
from sigmaform.kinds import KINDS, SENSITIVE_KEYS
from sigmaform.project import (
    PROJECT_FILE,
    RenderedResource,
    declared_addresses,
    load_project_file,
    move_problems,
    render_resources,
    resource_files,
    select_environment,
    unmatched_globs,
    with_base_url_override,
)
from sigmaform.projectfile import ProjectFile
from sigmaform.schemacheck import check_instance, load_schema, schema_exists
from sigmaform.yamlload import load_documents_many

__all__ = ["Report", "check_project", "load_schema", "schema_problems", "validate_project"]


@dataclass(frozen=True)
class Report:
    """What `validate` found: problems sorted by place, and how many resources were read."""

    problems: tuple[Problem, ...]
    resources: int

    @property
    def errors(self) -> int:
        return sum(1 for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for p in self.problems if p.severity == "warning")

    @property
    def valid(self) -> bool:
        return self.errors == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "errors": self.errors,
            "warnings": self.warnings,
            "problems": [p.to_dict() for p in self.problems],
        }


def validate_project(
    root: Path,
    env: str | None,
    paths: Sequence[Path] = (),
    environ: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Every problem (errors and warnings), sorted by file, line and column."""
    return list(check_project(root, env, paths, environ).problems)


def check_project(
    root: Path,
    env: str | None,
    paths: Sequence[Path] = (),
    environ: Mapping[str, str] | None = None,
) -> Report:
    """Validate for the environment `env`, or for every environment when it is None.

    Secrets, and `${env.X}` that are unset, are placeholders: validation runs offline, in a
    pull request or a pre-commit hook with nothing set; plan and apply are where a missing
    value is an error.
    """
    environ = os.environ if environ is None else environ
    root = root.absolute()
    try:
        written = load_project_file(root)
        pf = with_base_url_override(written, environ)
        # One environment needs no -e (as for plan), so it is checked as if selected.
        selected = env is not None or len(pf.environments) == 1
        environments = [select_environment(pf, env)] if selected else list(pf.environments.values())
        chosen = resource_files(root, pf, paths)
        everything = resource_files(root, pf)
    except ConfigError as error:
        return Report(tuple(sorted(set(error.problems))), 0)
    documents, problems = load_documents_many(everything, root)
    found: set[Problem] = set(problems)
    found.update(_project_problems(written))
    found.update(unmatched_globs(root, pf))
    found.update(move_problems(pf, declared_addresses(documents)))
    files: dict[str, Any] = {}
    by_env: dict[str, list[Problem]] = {}
    for environment in environments:
        rendered, env_problems = render_resources(
            pf,
            documents,
            environment,
            secrets="placeholder",  # offline: CI validates without any secret set
            environ=environ,
            files=files,
            incomplete=bool(problems),
            env_placeholders=True,  # and so is an unset ${env.X}
        )
        for item in rendered:
            env_problems += schema_problems(item)
        by_env[environment.name] = env_problems
    found.update(_merge_environments(by_env))
    for doc in documents:
        found.update(_literal_secret_warnings(doc))
        found.update(_unknown_override_keys(doc, pf))
    # A warning where an error already stands (a literal secret, in a non-local environment)
    # says less than the error.
    errors = {(p.file, p.line, p.column) for p in found if p.severity == "error"}
    found = {p for p in found if p.severity == "error" or (p.file, p.line, p.column) not in errors}
    if paths:
        # Every file is loaded so that references resolve; only the chosen ones are reported.
        shown = {_display(root, p) for p in chosen}
        found = {p for p in found if p.file in shown or p.file == PROJECT_FILE}
        documents = [d for d in documents if d.display in shown]
    return Report(tuple(sorted(found)), _count_resources(documents))


def _merge_environments(by_env: dict[str, list[Problem]]) -> set[Problem]:
    """One problem per place, naming the environments it occurs in.

    Rendering every environment finds the same mistake once per environment; a problem
    found in all of them needs no environment at all.
    """
    if len(by_env) == 1:
        return {p for problems in by_env.values() for p in problems}
    names: dict[Problem, list[str]] = {}
    for env, problems in by_env.items():
        for problem in set(problems):
            message = problem.message
            if f"environment `{env}`" not in message:
                message += f" (environment `{env}`)"
            key = dataclasses.replace(
                problem, message=message.replace(f"environment `{env}`", "\0")
            )
            names.setdefault(key, []).append(env)
    merged: set[Problem] = set()
    for key, envs in names.items():
        if len(envs) == len(by_env):
            text = key.message.replace(" (\0)", "").replace("\0", "any environment")
        else:
            shown = ", ".join(f"`{e}`" for e in envs)
            text = key.message.replace("\0", f"environment{'s' if len(envs) > 1 else ''} {shown}")
        merged.add(dataclasses.replace(key, message=text))
    return merged


def _display(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _count_resources(documents: Sequence[Document]) -> int:
    return len(
        {
            (d.data["kind"], str(d.data.get("name")))
            for d in documents
            if isinstance(d.data, dict) and isinstance(d.data.get("kind"), str)
            if d.data["kind"] in KINDS
        }
    )


def schema_problems(item: RenderedResource) -> list[Problem]:
    """The rendered document (spec after overrides) against its kind's schema."""
    resource, doc = item.resource, item.document
    schema = resource.kind_info.schema
    if not schema_exists(schema):
        return []
    instance: dict[str, Any] = {"kind": resource.kind, "name": resource.name}
    # A wrong `protect` or `only` is already reported by the project's own checks.
    if isinstance(doc.data.get("protect"), bool):
        instance["protect"] = doc.data["protect"]
    if isinstance(doc.data.get("only"), list):
        instance["only"] = doc.data["only"]
    instance["spec"] = resource.spec
    if "gate" in doc.data:  # TestCase only: any other kind's schema refuses it
        instance["gate"] = doc.data["gate"]

    def locate(path: JsonPath, is_key: bool) -> Mark:
        if is_key and path and path[0] == "spec":
            override = ("environments", item.environment, *path[1:])
            if override in doc.key_marks:
                return doc.key_marks[override]
            if path in doc.key_marks:
                return doc.key_marks[path]
        return mark_of(doc, path, item.environment)

    problems = check_instance(instance, schema, file=doc.display, locate=locate)
    if not item.unresolved or not problems:
        return problems
    # A value that holds a placeholder or a failed `${...}` is checked by what it resolves
    # to, which is not known: its problem is the expression's, reported already.
    unresolved = {format_path(path) for path in item.unresolved}
    return [p for p in problems if p.path not in unresolved]


def _unknown_override_keys(doc: Document, pf: ProjectFile) -> list[Problem]:
    """Unknown fields inside an override for an unknown environment (its name is reported
    too): a typo there would otherwise surface only once the environment exists."""
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("environments"), dict):
        return []
    kind_name = data.get("kind")
    kind = KINDS.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None or not schema_exists(kind.schema):
        return []
    spec = data["spec"] if isinstance(data.get("spec"), dict) else {}
    problems: list[Problem] = []
    for env, override in data["environments"].items():
        if env in pf.environments or not isinstance(override, dict):
            continue
        prefix = ("environments", env)
        # Only keys written in the override: the spec's own are checked per environment.
        written = {format_path(("spec", *path[2:])) for path in doc.key_marks if path[:2] == prefix}
        instance = {"kind": kind.name, "name": "x", "spec": deep_merge(spec, override)}

        def locate(path: JsonPath, is_key: bool, prefix: JsonPath = prefix) -> Mark:
            return doc.locate_key((*prefix, *path[1:]))

        problems += [
            problem
            for problem in check_instance(
                instance, kind.schema, file=doc.display, locate=locate, keys_only=True
            )
            if problem.path in written
        ]
    return problems


def _literal_secret_warnings(doc: Document) -> list[Problem]:
    """A webhook `secret` written as its value belongs in `${secret.NAME}` instead."""
    if not isinstance(doc.data, dict):
        return []
    warnings: list[Problem] = []
    for root_key in ("spec", "environments"):
        if root_key in doc.data:
            for path, value in _walk(doc.data[root_key], (root_key,)):
                if (
                    path[-1] in SENSITIVE_KEYS
                    and isinstance(value, str)
                    and value
                    and "${secret." not in value
                    and "${env." not in value
                ):
                    warnings.append(
                        doc.problem(
                            path,
                            "a literal secret in a file ends up in git: "
                            'write "${secret.NAME}" and set NAME in the environment',
                            severity="warning",
                        )
                    )
    return warnings


def _walk(value: Any, path: JsonPath) -> list[tuple[JsonPath, Any]]:
    found: list[tuple[JsonPath, Any]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            found.append(((*path, key), child))
            found.extend(_walk(child, (*path, key)))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found.extend(_walk(child, (*path, i)))
    return found


def _project_problems(pf: ProjectFile) -> list[Problem]:
    """A base URL plan would refuse; `secretDefaults` outside the local emulator (a warning:
    they hide a missing secret)."""
    problems: list[Problem] = []
    for name, environment in pf.environments.items():
        if not environment.is_local:
            try:
                normalise_base_url(environment.base_url)
            except ConfigError as error:
                problems.append(pf.document.problem(("environments", name, "baseUrl"), str(error)))
        if environment.secret_defaults and not environment.is_local:
            problems.append(
                pf.document.problem(
                    ("environments", name, "secretDefaults"),
                    f"secretDefaults on `{name}`, whose baseUrl is not local: a missing secret "
                    "would silently use the default; set the variables instead",
                    severity="warning",
                )
            )
    return problems
