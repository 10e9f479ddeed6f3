"""Digests of rendered config: what stale-plan checks and the promotion gate compare."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from sigmaform.remote import comparable_desired
from sigmaform.resource import Resource
from sigmaform.sensitive import source_tree


def _canonical(value: Any) -> bytes:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode()


def _digest(value: Any) -> str:
    return "sha256:" + hashlib.sha256(_canonical(value)).hexdigest()


def config_digest(resource: Resource) -> str:
    """Digest of a resource's rendered config; secrets count by their source, not value.

    This is what promotion compares across environments' states, so it must be computable
    without the secret values of another environment.
    """
    return _digest(
        {
            "kind": resource.kind,
            "name": resource.name,
            "protect": resource.protect,
            "spec": source_tree(resource.spec),
        }
    )


def plan_digest(
    resources: Iterable[Resource], key: bytes, comparable: Mapping[str, Any] | None = None
) -> str:
    """Digest of everything apply would send, secrets by fingerprint: detects any edit.

    Hashed item by item: the same bytes as `_digest` of the whole list, without holding
    the whole project's JSON (prompts included) in memory twice. `comparable`: each
    address's `comparable_desired` spec where the caller has it already.
    """
    held = comparable or {}
    items = sorted(
        [r.address, r.protect, held.get(r.address) or comparable_desired(r.spec, key)]
        for r in resources
    )
    digest = hashlib.sha256(b"[")
    for i, item in enumerate(items):
        if i:
            digest.update(b",")
        digest.update(_canonical(item))
    digest.update(b"]")
    return "sha256:" + digest.hexdigest()
