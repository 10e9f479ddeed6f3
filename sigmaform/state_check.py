"""A state document checked before anything trusts it: shape, addresses, kinds and ids.

State decides which remote objects sigmaform reads, patches and deletes, so a damaged or
edited one must stop the command before any request: a null id would be sent as
`/v1/agents/None`, and two addresses holding one id would let deleting one remove the
object the other still manages.
"""

from __future__ import annotations

import re
from typing import Any

from sigmaform.errors import Problem
from sigmaform.files import JsonPath, Mark
from sigmaform.jsonfile import check_depth
from sigmaform.kinds import BY_PREFIX, Kind

STATE_SCHEMA = "state.schema.json"
# The same names as resource files allow (project.NAME_PATTERN), after a kind's prefix.
_ADDRESS = re.compile(r"([a-z-]+)\.([a-z0-9][a-z0-9-]{0,62})")


def address_kind(address: str) -> Kind | None:
    """The kind of a well-formed address (`agent.support`), None for anything else."""
    found = _ADDRESS.fullmatch(address)
    return BY_PREFIX.get(found.group(1)) if found else None


def address_problem(address: str) -> str:
    """Why `address` is not one (for an address that `address_kind` refused)."""
    prefix, dot, name = address.partition(".")
    known = ", ".join(sorted(BY_PREFIX))
    if not dot or prefix not in BY_PREFIX:
        return f"`{address}` is not an address: expected PREFIX.NAME, PREFIX one of {known}"
    return (
        f"`{address}`: the name `{name}` must be lowercase letters, digits and `-`, "
        "starting with a letter or digit, at most 63 characters"
    )


def _nowhere(_: JsonPath, __: bool) -> Mark:
    return Mark(0, 0)  # JSON values carry no positions; the path names the place


def state_problems(data: Any, source: str) -> list[Problem]:
    """Everything wrong with a state document (empty when it can be trusted).

    Raises ConfigError at once for data nested too deeply to check safely.
    """
    # Imported here: schemacheck needs resource, which needs state (a cycle at import time).
    from sigmaform.schemacheck import check_instance

    check_depth(data, source)
    problems = [
        Problem(source, path=p.path, message=f"damaged state: {p.message}")
        for p in check_instance(data, STATE_SCHEMA, file=source, locate=_nowhere)
    ]
    if problems:
        return problems
    holders: dict[tuple[str, str], str] = {}
    for address, item in sorted(data["resources"].items()):
        where = f"resources.{address}"
        kind = address_kind(address)
        if kind is None:
            problems.append(
                Problem(source, path=where, message=f"damaged state: {address_problem(address)}")
            )
        elif item.get("kind", kind.name) != kind.name:
            problems.append(
                Problem(
                    source,
                    path=f"{where}.kind",
                    message=f"damaged state: `{address}` is a {kind.name} address, "
                    f"but its kind is {item['kind']}",
                )
            )
        # Version 3 leaves `kind` out: the address says it.
        kind_name = item.get("kind") or (kind.name if kind else "")
        key = (kind_name, item["id"])
        if not _encodable(item["id"]):
            problems.append(
                Problem(
                    source,
                    path=f"{where}.id",
                    message="damaged state: the id is not valid Unicode text (a lone surrogate)",
                )
            )
        elif key in holders:
            problems.append(
                Problem(
                    source,
                    path=f"{where}.id",
                    message=f"damaged state: {kind_name} id `{item['id']}` is also held by "
                    f"`{holders[key]}`; one remote object is managed under one address only: "
                    "keep one of them",
                )
            )
        else:
            holders[key] = address
    return problems


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
