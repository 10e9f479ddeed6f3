"""Checks across resources: unique names and fields, and references that resolve.

They run after every file is rendered, on what each resource kept of its document: the
marks of its name, its references and its unique fields (`slim`), not the whole file.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any

from sigmaform.errors import Problem
from sigmaform.files import Document, JsonPath, format_path
from sigmaform.interpolate import mark_of, suggest

if TYPE_CHECKING:
    from sigmaform.project import RenderedResource


def slim(doc: Document, spec_paths: Sequence[JsonPath], env: str) -> Document:
    """`doc` with only the marks cross-checks may report at: `("name",)` and `spec_paths`
    (also as written in `env`'s override), each with its ancestors, so that `locate` and
    `mark_of` give the same answers for them as the whole document. No data is kept."""
    wanted: list[JsonPath] = [("name",)]
    for path in spec_paths:
        wanted += [path, ("environments", env, *path[1:])]
    marks = {}
    for path in wanted:
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if prefix in marks:
                break  # and so are its ancestors: found on an earlier path's way up
            mark = doc.mark_at(prefix)
            if mark is not None:
                marks[prefix] = mark
    return Document(path=doc.path, display=doc.display, index=doc.index, data=None, marks=marks)


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
            names = {name for k, name in known if k == target_kind}
            if (target_kind, target) in excluded:
                message = f"{target_kind} `{target}` is not in environment `{env}` (its `only:`)"
            elif isinstance(target, str):
                if incomplete or (target_kind, target) in declared:
                    continue  # its own file's problem is reported; this would only repeat it
                message = f"no {target_kind} named `{target}`{suggest(target, names)}"
            else:
                message = f"expected the name of an {target_kind}"
            problems.append(_problem_at(item, path, env, message))
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
        problems.append(
            _problem_at(
                item,
                path,
                env,
                f"{item.resource.kind} `{item.resource.name}` has the same {field} "
                f"{_quoted(value)} as `{other.resource.name}` ({other.document.display}:"
                f"{there.line}) in environment `{env}`; each must be unique",
            )
        )
    return problems


def duplicate_webhooks(item: RenderedResource, env: str) -> list[Problem]:
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
            problems.append(
                _problem_at(
                    item,
                    path,
                    env,
                    f"duplicate webhook name `{name}` (also webhooks[{seen[name]}]): "
                    "webhooks are matched by name",
                )
            )
        else:
            seen[name] = i
    return problems


def _quoted(value: str) -> str:
    return '"' + (value if len(value) <= 60 else value[:57] + "...") + '"'


def _problem_at(item: RenderedResource, path: JsonPath, env: str, message: str) -> Problem:
    """A problem at `path` of the resource's file, where the environment's value is written."""
    mark = mark_of(item.document, path, env)
    return Problem(item.document.display, mark.line, mark.column, format_path(path), message)
