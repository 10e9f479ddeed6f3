"""Import, the pure part: a remote agent's API body in, its YAML document and prompt out.

Canonical field names, no server-owned fields or nulls, `${` escaped, webhook secrets as
`${secret.X}` placeholders, long instructions in a prompt file. `sigmaform.adopt` does
the reading, writing and state recording around it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigmaform.errors import ConfigError
from sigmaform.files import FileRef, Mark
from sigmaform.interpolate import escape_literal
from sigmaform.kinds import KINDS
from sigmaform.schemacheck import load_schema
from sigmaform.yamldump import dump_yaml

AGENT = KINDS["Agent"]
PROMPT_MAX_LINES = 3  # longer instructions go to prompts/NAME.md
# Server-assigned or server-controlled webhook fields: never declared by an import.
WEBHOOK_SERVER_FIELDS = frozenset({"webhookId", "active", "workspaceId", "agentId"})
WEBHOOK_ORDER = ("name", "url", "secret", "events")
SCHEMA_FILE = Path("schemas") / AGENT.schema


@dataclass(frozen=True)
class ImportedAgent:
    """One remote agent as a resource document (and its prompt file, if any)."""

    agent_id: str
    name: str
    spec: dict[str, Any]  # as written: `${` escaped, secrets as `${secret.X}`, FileRef prompt
    prompt: str | None  # the text of prompts/NAME.md when instructions live there
    secret_variables: tuple[str, ...]  # names of the `${secret.X}` placeholders used
    dropped: tuple[str, ...]  # fields the server returned that sigmaform does not manage


# -- names -------------------------------------------------------------------------------


def slugify(text: str) -> str:
    """A logical name from an agentName: lowercase, runs of other characters as `-`, <= 63."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:63].rstrip("-")
    return slug or "agent"


def unique_name(base: str, taken: Iterable[str]) -> str:
    """`base`, or `base-2`, `base-3`... (still at most 63 characters) if that is taken."""
    used = set(taken)
    if base not in used:
        return base
    n = 2
    while True:
        suffix = f"-{n}"
        candidate = base[: 63 - len(suffix)].rstrip("-") + suffix
        if candidate not in used:
            return candidate
        n += 1


def secret_variable(resource: str, webhook: str, taken: Iterable[str] = ()) -> str:
    """`SUPPORT_EVENTS_WEBHOOK_SECRET` for webhook `events` of agent `support`."""
    words = re.sub(r"[^A-Za-z0-9]+", "_", f"{resource}_{webhook}").strip("_").upper()
    base = f"{words}_WEBHOOK_SECRET"
    if base[0].isdigit():
        base = "_" + base
    used = set(taken)
    candidate, n = base, 2
    while candidate in used:
        candidate, n = f"{base}_{n}", n + 1
    return candidate


# -- the document --------------------------------------------------------------------------


def _resolve(schema: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        resolved: Mapping[str, Any] = schema["$defs"][ref.removeprefix("#/$defs/")]
        return resolved
    return node


def known_only(
    value: Any, node: Mapping[str, Any], schema: Mapping[str, Any], path: str, dropped: list[str]
) -> Any:
    """`value` without nulls and without the object keys the agent schema does not know."""
    node = _resolve(schema, node)
    if isinstance(value, dict):
        props = node.get("properties")
        out = {}
        for key, child in value.items():
            where = f"{path}.{key}" if path else key
            if child is None:
                continue
            if isinstance(props, Mapping) and node.get("additionalProperties") is False:
                if key not in props:
                    dropped.append(where)
                    continue
                out[key] = known_only(child, props[key], schema, where, dropped)
            else:
                out[key] = child
        return out
    if isinstance(value, list) and isinstance(node.get("items"), Mapping):
        return [
            known_only(item, node["items"], schema, f"{path}[{i}]", dropped)
            for i, item in enumerate(value)
        ]
    return value


def ordered(data: Mapping[str, Any], order: Sequence[str]) -> dict[str, Any]:
    first = {k: data[k] for k in order if k in data}
    return {**first, **{k: v for k, v in data.items() if k not in first}}


def check_writable(body: Mapping[str, Any]) -> None:
    """Refuse an agent holding text that no UTF-8 file can hold (a lone surrogate)."""
    stack: list[tuple[Any, str]] = [(body, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str) and not _encodable(value):
            raise ConfigError(
                f"agent {_one_line(str(body.get(AGENT.id_field)))}: the server's "
                f"{path or 'value'} is not valid Unicode text (a lone surrogate); "
                "it cannot be written to a file, so nothing was imported"
            )
        if isinstance(value, dict):
            for key, child in value.items():
                stack.append((key, path))
                stack.append((child, f"{path}.{key}" if path else str(key)))
        elif isinstance(value, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(value))


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def imported_agent(
    body: Mapping[str, Any], name: str, taken_variables: Iterable[str] = ()
) -> ImportedAgent:
    """The resource document for one agent as the API returned it (canonical names)."""
    schema = load_schema(AGENT.schema)
    spec_schema = schema["$defs"]["agentSpec"]
    agent_id = str(body[AGENT.id_field])
    raw = {k: v for k, v in body.items() if k not in AGENT.server_owned}
    dropped: list[str] = []
    settings = raw.get("agentSettings")
    if isinstance(settings, dict) and isinstance(settings.get("webhooks"), list):
        hooks = [
            {k: v for k, v in item.items() if k not in WEBHOOK_SERVER_FIELDS}
            if isinstance(item, dict)
            else item
            for item in settings["webhooks"]
        ]
        raw["agentSettings"] = {**settings, "webhooks": hooks}
    spec = escape_literal(known_only(raw, spec_schema, schema, "", dropped))

    variables: list[str] = []
    hooks = spec.get("agentSettings", {}).get("webhooks")
    if isinstance(hooks, list):
        for index, item in enumerate(hooks):
            if not isinstance(item, dict):
                continue
            if "secret" in item:
                hook_name = str(item.get("name") or f"webhook-{index + 1}")
                var = secret_variable(name, hook_name, [*taken_variables, *variables])
                variables.append(var)
                item["secret"] = "${secret." + var + "}"
            hooks[index] = ordered(item, WEBHOOK_ORDER)

    prompt = None
    instructions = body.get("instructions")
    # A prompt file is read with universal newlines, so text holding `\r` stays inline.
    if (
        isinstance(instructions, str)
        and len(instructions.splitlines()) > PROMPT_MAX_LINES
        and "\r" not in instructions
    ):
        prompt = instructions
        spec["instructions"] = FileRef(f"prompts/{name}.md", Mark(1, 1))
    return ImportedAgent(
        agent_id=agent_id,
        name=name,
        spec=ordered(spec, AGENT.import_order),
        prompt=prompt,
        secret_variables=tuple(variables),
        dropped=tuple(dropped),
    )


def document_text(agent: ImportedAgent, schema_ref: str | None, only: Sequence[str] = ()) -> str:
    """The YAML file: editor schema line (if any), provenance comment, kind, name, spec.

    `only` limits the resource to the environment it was imported from: otherwise the
    next `promote` would create a copy of it in every other environment.
    """
    head = [f"# yaml-language-server: $schema={schema_ref}"] if schema_ref else []
    # The id is the server's: quoted as an ASCII JSON string it holds no line break, so it
    # cannot end the comment and add YAML of its own. Every other server value goes
    # through the emitter.
    head.append(
        f"# Imported by `sigmaform import` from SigmaMind agent {_one_line(agent.agent_id)}."
    )
    document: dict[str, Any] = {"kind": AGENT.name, "name": agent.name, "spec": agent.spec}
    if only:
        document["only"] = list(only)
    text = "\n".join(head) + "\n" + dump_yaml(document)
    # Written already formatted: `fmt --check` passes on a fresh import.
    from sigmaform.fmt import format_text  # round-trip YAML: only commands that write files

    return format_text(text, f"{agent.name}.yaml")


def _one_line(text: str) -> str:
    """`text` as an ASCII JSON string: every control or non-ASCII character escaped."""
    return json.dumps(text, ensure_ascii=True)


def schema_reference(root: Path, out_dir: Path) -> str | None:
    """The agent schema's path relative to `out_dir`, when the project keeps one."""
    target = root / SCHEMA_FILE
    if not target.is_file():
        return None
    return Path(os.path.relpath(target, out_dir)).as_posix()
