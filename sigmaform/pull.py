"""`pull`: write what changed in the dashboard back into the resource files.

The comparison is the plan's: a declared unit is pulled when the remote differs both from
the files and from what state last applied (drift), so a local edit not yet applied is
never reverted. Values go into the YAML in place (comments, order and quoting kept), into
the `!file` prompt that holds them, or with `env_only` into the resource's override for
this environment. A value the file builds from `${...}` is reported and left alone;
secrets are never written.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigmaform.diff import MISSING, Unit, get_unit, iter_units
from sigmaform.files import JsonPath, format_path, write_atomic
from sigmaform.fmt import (
    DOCUMENT_ORDER,
    child_schema,
    insert_position,
    key_order,
    spec_schema_of,
)
from sigmaform.interpolate import escape_literal
from sigmaform.kinds import REFERENCED
from sigmaform.lifecycle import without_units
from sigmaform.plan import Action, Plan
from sigmaform.remote import MERGED_OBJECTS, comparable_desired, observed, remote_to_spec
from sigmaform.resource import Project, Resource
from sigmaform.sensitive import Sensitive, is_fingerprint
from sigmaform.state import State
from sigmaform.yamledit import (
    CommentedMap,
    CommentedSeq,
    dump_documents,
    file_path_of,
    file_ref,
    guess_layout,
    is_file_ref,
    load_documents,
    styled_like,
    to_node,
)

WRITTEN = "written"
LEFT = "left"


@dataclass(frozen=True)
class PulledValue:
    """One value pulled (written to `file`) or left alone (with the reason)."""

    address: str
    path: str  # under spec, e.g. `agentSettings.llmModel` or `tools[0].transferTo`
    file: str
    outcome: str  # WRITTEN or LEFT
    reason: str = ""

    def to_dict(self) -> dict[str, str]:
        out = {"address": self.address, "path": self.path, "file": self.file}
        out["outcome"] = self.outcome
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True)
class FileChange:
    path: Path
    display: str
    before: str  # "" for a file pull creates
    after: str


@dataclass(frozen=True)
class PullResult:
    values: tuple[PulledValue, ...]
    files: tuple[FileChange, ...]

    @property
    def changed(self) -> bool:
        return bool(self.files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "files": [f.display for f in self.files],
            "values": [v.to_dict() for v in self.values],
        }


@dataclass(frozen=True)
class PullOptions:
    env_only: bool = False
    include_undeclared: bool = False


def pull_changes(
    project: Project,
    state: State,
    remote: Mapping[str, Mapping[str, Any] | None],
    plan: Plan,
    options: PullOptions = PullOptions(),
) -> PullResult:
    """The file edits that make the files hold what the remote holds (nothing written)."""
    key = state.fingerprint_key
    id_to_name = {
        r.id: addr.split(".", 1)[1] for addr, r in state.resources.items() if r.kind in REFERENCED
    }
    by_address = {r.address: r for r in project.resources}
    work: dict[str, list[tuple[Resource, dict[Unit, Any]]]] = {}
    for rp in plan.resources:
        resource = by_address.get(rp.address)
        body = remote.get(rp.address)
        if resource is None or body is None or rp.action not in (Action.UPDATE, Action.NOOP):
            continue
        units = _units_to_pull(resource, body, rp.changes, rp.drift, key, id_to_name, options)
        if units:
            work.setdefault(resource.source, []).append((resource, units))
    values: list[PulledValue] = []
    files: list[FileChange] = []
    for source, items in sorted(work.items()):
        editor = _FileEditor(project, source, options, key)
        for resource, units in items:
            editor.pull(resource, units)
        values += editor.values
        files += editor.changes()
    return PullResult(tuple(values), tuple(files))


def _units_to_pull(
    resource: Resource,
    body: Mapping[str, Any],
    changes: Sequence[Any],
    drift: Sequence[Any],
    key: bytes,
    id_to_name: Mapping[str, str],
    options: PullOptions,
) -> dict[Unit, Any]:
    kind = resource.kind_info
    merged = MERGED_OBJECTS[kind.name]
    desired = without_units(comparable_desired(resource.spec, key), resource.ignore_changes)
    declared = {u for u, _ in iter_units(desired, merged)}
    drifted = {d.path for d in drift}
    current = observed(kind, body, desired, key, id_to_name)
    units: dict[Unit, Any] = {}
    for change in changes:
        unit = change.unit
        if unit in declared and change.path in drifted:
            value = get_unit(current, unit)
            if value is not MISSING:
                units[unit] = value
    if options.include_undeclared:
        full = without_units(remote_to_spec(kind, body, key, id_to_name), resource.ignore_changes)
        for unit, value in iter_units(full, merged):
            if unit not in declared and value is not None and value != {} and value != []:
                units[unit] = value
    return units


@dataclass
class _Leaf:
    """Where a unit's value is edited: the resource, its rendered and comparable values."""

    resource: Resource
    rendered: Any
    desired: Any
    shared: bool  # the node is a copy of the base spec's, made for an override


@dataclass
class _FileEditor:
    """The edits to one resource file (and its prompt files), applied to round-trip nodes."""

    project: Project
    source: str
    options: PullOptions
    key: bytes
    values: list[PulledValue] = field(default_factory=list)
    extra: dict[Path, str] = field(default_factory=dict)  # prompt files: new text

    def __post_init__(self) -> None:
        self.path = self.project.root / self.source
        self.text = self.path.read_text(encoding="utf-8")
        self.layout = guess_layout(self.text)
        self.documents = load_documents(self.text, self.source)

    def pull(self, resource: Resource, units: Mapping[Unit, Any]) -> None:
        document = next(
            d
            for d in self.documents
            if isinstance(d, CommentedMap)
            and d.get("kind") == resource.kind
            and d.get("name") == resource.name
        )
        env = self.project.environment.name
        desired = comparable_desired(resource.spec, self.key)
        for unit, value in sorted(units.items()):
            override = _override_of(document, env)
            overridden = override is not None and get_unit(override, unit) is not MISSING
            if overridden or self.options.env_only:
                self._pull_into_override(document, resource, unit, value, desired)
            else:
                spec = document["spec"]
                made = len(unit) > 1 and unit[0] not in spec
                parent, name = _parent(spec, unit, resource.kind)
                leaf = _Leaf(resource, resource.spec, desired, shared=False)
                self._edit_at(parent, name, value, leaf, unit)
                if made and not parent:  # only values left alone: no empty `agentSettings`
                    del spec[unit[0]]

    def _pull_into_override(
        self,
        document: CommentedMap,
        resource: Resource,
        unit: Unit,
        value: Any,
        desired: Mapping[str, Any],
    ) -> None:
        env = self.project.environment.name
        created = "environments" not in document
        overrides = _child_map(document, "environments", DOCUMENT_ORDER)
        override_created = env not in overrides
        override = _child_map(overrides, env, ())
        shared = get_unit(override, unit) is MISSING
        before = len(self.values)
        parent, name = _parent(override, unit, resource.kind)
        if shared:
            base = get_unit(document["spec"], unit)
            if base is not MISSING:
                parent[name] = copy.deepcopy(base)
        leaf = _Leaf(resource, resource.spec, desired, shared=shared)
        self._edit_at(parent, name, value, leaf, unit)
        wrote = any(v.outcome == WRITTEN for v in self.values[before:])
        if shared and not wrote:  # nothing differed after all: leave no empty override
            parent.pop(name, None)
            if len(unit) > 1 and not parent:
                del override[unit[0]]
            if override_created and not override:
                del overrides[env]
            if created and not overrides:
                del document["environments"]

    def _edit_at(
        self, parent: Any, name: Any, remote: Any, leaf: _Leaf, spec_path: JsonPath
    ) -> None:
        """Make `parent[name]` hold `remote`, leaf by leaf, keeping expressions and files."""
        rendered = _get(leaf.rendered, spec_path)
        desired = _get(leaf.desired, spec_path)
        present = name in parent if isinstance(parent, Mapping) else name < len(parent)
        node = parent[name] if present else MISSING
        if present and remote == desired:
            return
        shown = format_path(spec_path)
        if isinstance(node, CommentedMap) and isinstance(remote, Mapping):
            for key in list(remote):
                self._edit_at(node, key, remote[key], leaf, (*spec_path, key))
            for key in [k for k in node if k not in remote]:
                del node[key]
                self._record(leaf, shown + f".{key}", WRITTEN)
            return
        if isinstance(node, CommentedSeq) and isinstance(remote, list):
            common = min(len(node), len(remote))
            for index in range(common):
                self._edit_at(node, index, remote[index], leaf, (*spec_path, index))
            if len(remote) > len(node) or len(node) > len(remote):
                if _holds_secret(remote[common:]):
                    self._record(leaf, shown, LEFT, "holds a secret: secrets are never written")
                    return
                del node[common:]
                node.extend(to_node(escape_literal(v)) for v in remote[common:])
                self._record(leaf, shown, WRITTEN)
            return
        if remote == desired:
            return
        if _holds_secret(remote) or isinstance(rendered, Sensitive):
            if not (isinstance(rendered, Sensitive) and not rendered.reveal()):
                self._record(leaf, shown, LEFT, "a secret: secrets are never written")
            return
        if isinstance(node, str) and _has_expression(node):
            self._record(leaf, shown, LEFT, f"built from `{node}` in the file: left as written")
            return
        if isinstance(remote, str) and remote.startswith("id:") and _is_reference(leaf, spec_path):
            why = f"the remote names agent {remote[3:]}, which sigmaform does not manage"
            self._record(leaf, shown, LEFT, why)
            return
        if is_file_ref(node) and isinstance(remote, str):
            self._write_prompt(parent, name, node, remote, leaf, shown)
            return
        if isinstance(remote, str):
            parent[name] = styled_like(node, escape_literal(remote))
        else:
            new = to_node(escape_literal(remote))
            if present:
                parent[name] = new
            elif isinstance(parent, CommentedMap):
                order = _order_for(leaf.resource.kind, spec_path[:-1])
                parent.insert(insert_position(parent, str(name), order), name, new)
            else:
                parent.append(new)
        self._record(leaf, shown, WRITTEN)

    def _write_prompt(
        self, parent: Any, name: Any, node: Any, text: str, leaf: _Leaf, shown: str
    ) -> None:
        relative = file_path_of(node)
        target = (self.path.parent / relative).resolve()
        if leaf.shared:
            # The base spec's prompt serves every environment: this one gets its own file.
            env = self.project.environment.name
            relative = str(Path(relative).with_name(f"{target.stem}.{env}{target.suffix}"))
            target = (self.path.parent / relative).resolve()
            parent[name] = file_ref(relative)
        if not target.is_relative_to(self.project.root.resolve()):
            self._record(leaf, shown, LEFT, f"`!file {relative}` is outside the project")
            return
        self.extra[target] = text
        self._record(leaf, shown, WRITTEN, file=_display(self.project.root, target))

    def _record(
        self, leaf: _Leaf, path: str, outcome: str, reason: str = "", file: str = ""
    ) -> None:
        self.values.append(
            PulledValue(leaf.resource.address, path, file or self.source, outcome, reason)
        )

    def changes(self) -> list[FileChange]:
        out: list[FileChange] = []
        after = dump_documents(self.documents, self.layout)
        if after != self.text:
            out.append(FileChange(self.path, self.source, self.text, after))
        for target, text in sorted(self.extra.items()):
            before = target.read_text(encoding="utf-8") if target.is_file() else ""
            if before != text:
                out.append(FileChange(target, _display(self.project.root, target), before, text))
        return out


def _override_of(document: CommentedMap, env: str) -> CommentedMap | None:
    overrides = document.get("environments")
    if isinstance(overrides, Mapping):
        override = overrides.get(env)
        if isinstance(override, CommentedMap):
            return override
    return None


def _child_map(parent: CommentedMap, key: str, order: Sequence[str]) -> CommentedMap:
    child = parent.get(key)
    if not isinstance(child, CommentedMap):
        child = CommentedMap()
        if key in parent:
            parent[key] = child
        else:
            parent.insert(insert_position(parent, key, order), key, child)
    return child


def _parent(spec: CommentedMap, unit: Unit, kind: str) -> tuple[CommentedMap, str]:
    """The mapping holding a unit's value and the key in it (`agentSettings` made if need be)."""
    if len(unit) == 1:
        return spec, unit[0]
    holder = spec.get(unit[0])
    if not isinstance(holder, CommentedMap):
        holder = CommentedMap()
        order = key_order(spec_schema_of(kind) or {})
        spec.insert(insert_position(spec, unit[0], order), unit[0], holder)
    return holder, unit[1]


def _order_for(kind: str, path: JsonPath) -> tuple[str, ...]:
    schema = spec_schema_of(kind) or {}
    for part in path:
        schema = child_schema(kind, schema, None if isinstance(part, int) else part)
    return key_order(schema)


def _get(value: Any, path: JsonPath) -> Any:
    node: Any = value
    for part in path:
        if not isinstance(node, (Mapping, list)):
            return MISSING
        try:
            node = node[part]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return MISSING
    return node


def _is_reference(leaf: _Leaf, spec_path: JsonPath) -> bool:
    return len(spec_path) == 1 and spec_path[0] in leaf.resource.kind_info.references


def _has_expression(node: Any) -> bool:
    return isinstance(node, str) and "${" in node.replace("$${", "")


def _holds_secret(value: Any) -> bool:
    if is_fingerprint(value):
        return True
    if isinstance(value, Mapping):
        return any(_holds_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_secret(v) for v in value)
    return False


def _display(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def write_changes(result: PullResult) -> None:
    """Write every changed file atomically (a reader never sees half of one)."""
    for change in result.files:
        write_atomic(change.path, change.after)


def unified_diff(change: FileChange) -> str:
    """The change to one file as a unified diff (`--dry-run`)."""
    lines = difflib.unified_diff(
        change.before.splitlines(keepends=True),
        change.after.splitlines(keepends=True),
        fromfile=f"a/{change.display}" if change.before else "/dev/null",
        tofile=f"b/{change.display}",
    )
    text = "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )
    return text


__all__ = [
    "FileChange",
    "PullOptions",
    "PullResult",
    "PulledValue",
    "pull_changes",
    "unified_diff",
    "write_changes",
]
