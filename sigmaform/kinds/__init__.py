"""The registry of resource kinds: one module per kind declares its whole API contract.

`base.Kind` is the contract (paths, verbs, query parameters, ids, references, owned,
merged and sensitive fields, list shape, wire transforms); `agent.py`,
`phone_number.py`, `chat.py` and `test_case.py` each declare one. Every assumption about
the vendor's API that the docs leave open (design.md section 9) and that concerns one
kind lives in its module, so it can be changed in one place.
"""

from __future__ import annotations

from sigmaform.kinds.agent import (
    AGENT,
    CREATE_ANALYSIS_ITEM_NAMES,
    CREATE_SETTINGS_NAMES,
    to_canonical_names,
    to_create_names,
)
from sigmaform.kinds.base import Kind
from sigmaform.kinds.chat import CHAT
from sigmaform.kinds.phone_number import PHONE_NUMBER
from sigmaform.kinds.test_case import TEST_CASE

__all__ = [
    "AGENT",
    "BY_PREFIX",
    "CHAT",
    "CREATE_ANALYSIS_ITEM_NAMES",
    "CREATE_SETTINGS_NAMES",
    "KINDS",
    "PHONE_NUMBER",
    "REFERENCED",
    "SENSITIVE_KEYS",
    "TEST_CASE",
    "Kind",
    "canonical_address",
    "kind_named",
    "to_canonical_names",
    "to_create_names",
]

KINDS: dict[str, Kind] = {k.name: k for k in (AGENT, PHONE_NUMBER, CHAT, TEST_CASE)}
BY_PREFIX: dict[str, Kind] = {k.prefix: k for k in KINDS.values()}
# Kinds other kinds reference by logical name: their ids are mapped back to names when a
# response is compared (today only Agent).
REFERENCED: frozenset[str] = frozenset(
    target for k in KINDS.values() for target, _ in k.references.values()
)


def kind_named(word: str) -> Kind | None:
    """The kind a user means, however spelt: `PhoneNumber`, `phonenumber`, `phone-number`."""
    key = word.replace("-", "").replace("_", "").lower()
    return next((k for k in KINDS.values() if k.name.lower() == key), None)


def canonical_address(text: str) -> str | None:
    """`Agent.support` -> `agent.support`, `PhoneNumber.x` -> `phone-number.x`: the address
    state and plans use; None when TEXT is not KIND.NAME."""
    word, _, name = text.partition(".")
    kind = kind_named(word)
    return f"{kind.prefix}.{name}" if kind is not None and name else None


# Fields whose values are always sensitive, wherever they appear in a spec.
SENSITIVE_KEYS: frozenset[str] = frozenset().union(*(k.sensitive_fields for k in KINDS.values()))
