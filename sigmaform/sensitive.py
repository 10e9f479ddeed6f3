"""Sensitive values: a type that renders as `(sensitive)` everywhere but the API body.

A secret is wrapped the moment it is read (from `${secret.X}` or a webhook `secret`
field) and only `reveal()` gives the text back; the client calls it when it builds a
request body. Anything else that formats the value -- a plan, a log line, an error,
`repr()` in a traceback -- sees the mask.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

MASK = "(sensitive)"
FINGERPRINT_PREFIX = "sensitive:hmac-sha256:"


class Sensitive:
    """A secret string. `source` names where it came from (e.g. `${secret.X}`), never the value."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = "literal") -> None:
        self._value = value
        self.source = source

    def reveal(self) -> str:
        return self._value

    def fingerprint(self, key: bytes) -> str:
        return fingerprint(self._value, key)

    def __repr__(self) -> str:
        return f"Sensitive({self.source})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sensitive):
            return hmac.compare_digest(self._value, other._value)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Sensitive", hashlib.sha256(self._value.encode()).hexdigest()))

    def __reduce__(self) -> Any:  # pickling would write the value somewhere: refuse
        raise TypeError("Sensitive values cannot be pickled")


def fingerprint(value: str, key: bytes) -> str:
    """Keyed fingerprint of a secret, safe to store: shows a rotation without revealing."""
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
    return FINGERPRINT_PREFIX + digest


def is_fingerprint(value: object) -> bool:
    return isinstance(value, str) and value.startswith(FINGERPRINT_PREFIX)


def reveal_tree(value: Any) -> Any:
    """A copy of `value` with every Sensitive replaced by its text: for request bodies only."""
    if isinstance(value, Sensitive):
        return value.reveal()
    if isinstance(value, dict):
        return {k: reveal_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal_tree(v) for v in value]
    return value


def mask_tree(value: Any) -> Any:
    """A copy of `value` with every Sensitive (and fingerprint) shown as the mask."""
    if isinstance(value, Sensitive) or is_fingerprint(value):
        return MASK
    if isinstance(value, dict):
        return {k: mask_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_tree(v) for v in value]
    return value


def fingerprint_tree(value: Any, key: bytes) -> Any:
    """A copy of `value` with every Sensitive replaced by its keyed fingerprint: for state."""
    if isinstance(value, Sensitive):
        return value.fingerprint(key)
    if isinstance(value, dict):
        return {k: fingerprint_tree(v, key) for k, v in value.items()}
    if isinstance(value, list):
        return [fingerprint_tree(v, key) for v in value]
    return value


def source_tree(value: Any) -> Any:
    """A copy with each Sensitive replaced by its source expression: digests that need no secret."""
    if isinstance(value, Sensitive):
        return f"<{value.source}>"
    if isinstance(value, dict):
        return {k: source_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [source_tree(v) for v in value]
    return value
