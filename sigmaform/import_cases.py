"""Import of test cases: an agent's existing test cases (or one by id) as TestCase files.

The pure part makes each document from the API body (the kind's own spec form: the
agent as its logical name, `mockData` as a map); `fetch_cases` and `find_cases` read
them through the TestCase kind, under the agent each belongs to.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigmaform.errors import ApiError
from sigmaform.importer import known_only, ordered, slugify, unique_name
from sigmaform.interpolate import escape_literal
from sigmaform.kinds import TEST_CASE
from sigmaform.remote import plain_spec
from sigmaform.schemacheck import load_schema
from sigmaform.yamldump import dump_yaml

log = logging.getLogger("sigmaform.import")

FOLDER = "tests"  # under the import's --out-dir


@dataclass(frozen=True)
class ImportedCase:
    """One remote test case as a resource document."""

    case_id: str
    agent_id: str
    name: str
    spec: dict[str, Any]
    dropped: tuple[str, ...]  # fields the server returned that sigmaform does not manage


def agent_of(body: Mapping[str, Any]) -> str | None:
    """The id of the agent a test case belongs to (top level, or its `agent` summary)."""
    agent = body.get("agent")
    found = body.get("agentId") or (agent.get("agentId") if isinstance(agent, Mapping) else None)
    return str(found) if found else None


def imported_case(body: Mapping[str, Any], name: str, agent_name: str) -> ImportedCase:
    """The resource document for one test case of the agent managed as `agent_name`."""
    schema = load_schema(TEST_CASE.schema)
    agent_id = agent_of(body) or ""
    raw = plain_spec(TEST_CASE, body, {agent_id: agent_name})
    dropped: list[str] = []
    spec = escape_literal(known_only(raw, schema["$defs"]["testCaseSpec"], schema, "", dropped))
    return ImportedCase(
        case_id=str(body[TEST_CASE.id_field]),
        agent_id=agent_id,
        name=name,
        spec=ordered(spec, TEST_CASE.import_order),
        dropped=tuple(dropped),
    )


def case_names(
    bodies: Sequence[Mapping[str, Any]], agent_names: Mapping[str, str], taken: Iterable[str]
) -> list[str]:
    """A logical name per case: its label's slug, else `AGENT-test`; never one taken."""
    used = set(taken)
    names = []
    for body in bodies:
        label = body.get("label")
        base = slugify(str(label)) if isinstance(label, str) and label.strip() else ""
        if not base or base == "agent":
            base = f"{agent_names.get(agent_of(body) or '', 'agent')}-test"[:63]
        name = unique_name(base, used)
        used.add(name)
        names.append(name)
    return names


def case_schema_reference(root: Path, folder: Path) -> str | None:
    """The test-case schema's path relative to `folder`, when the project keeps one."""
    target = root / "schemas" / TEST_CASE.schema
    if not target.is_file():
        return None
    return Path(os.path.relpath(target, folder)).as_posix()


def case_document(
    case: ImportedCase, only: Sequence[str] = (), schema_ref: str | None = None
) -> str:
    """The YAML file of one imported test case (formatted as `fmt` would)."""
    lines = [f"# yaml-language-server: $schema={schema_ref}"] if schema_ref else []
    # Server ids as ASCII JSON strings: they cannot end the comment line.
    lines.append(
        f"# Imported by `sigmaform import` from SigmaMind test case "
        f"{json.dumps(case.case_id, ensure_ascii=True)}."
    )
    head = "\n".join(lines)
    document: dict[str, Any] = {"kind": TEST_CASE.name, "name": case.name, "spec": case.spec}
    if only:
        document["only"] = list(only)
    from sigmaform.fmt import format_text  # round-trip YAML: only commands that write files

    return format_text(head + "\n" + dump_yaml(document), f"{case.name}.yaml")


def fetch_cases(client: Any, agent_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Every test case of the agents, in agent order.

    A server without the test-case endpoints (404/405) has none to import: the agents
    are imported all the same.
    """

    def cases_of(agent_id: str) -> list[dict[str, Any]]:
        try:
            return TEST_CASE.list(client, {"agentId": agent_id})
        except ApiError as error:
            if error.status not in (404, 405):
                raise
            log.debug("no test cases read for agent %s: %s", agent_id, error)
            return []

    out: list[dict[str, Any]] = []
    for result in client.map_concurrent(cases_of, list(agent_ids)):
        if isinstance(result, BaseException):
            raise result
        out += [c for c in result if c.get(TEST_CASE.id_field)]
    return out


def find_cases(
    client: Any, ids: Sequence[str], agent_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The test cases among `ids` that belong to one of `agent_ids`, by case id."""
    wanted = set(ids)
    return {
        str(c[TEST_CASE.id_field]): c
        for c in fetch_cases(client, agent_ids)
        if str(c[TEST_CASE.id_field]) in wanted
    }
