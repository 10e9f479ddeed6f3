"""Digests of rendered config: what stale-plan checks and the promotion gate compare.

A resource's config digest, kept in state per resource, is the first 128 bits of the
sha256 of its canonical config in base64url (22 characters): ample to tell configs apart
(a collision takes deliberate work of about 2**64, by someone who edits the files anyway).
State version 2 kept `sha256:` and all 64 hex digits; `short_digest` reads those as their
first 128 bits, so an old state still compares equal for an unchanged config.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from sigmaform.remote import comparable_desired
from sigmaform.sensitive import Sensitive, short_b64, source_tree

if TYPE_CHECKING:
    from sigmaform.resource import Resource


def _canonical(value: Any) -> bytes:
    return _text(value).encode()


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_LONG = re.compile(r"sha256:[0-9a-f]{64}")


def short_digest(recorded: str) -> str:
    """A config digest as this version writes it, from one that state version 2 or a plan
    file of that time recorded (`sha256:` and 64 hex digits); any other as it is."""
    if _LONG.fullmatch(recorded):
        return short_b64(bytes.fromhex(recorded[7:]))
    return recorded


def _config(resource: Resource) -> bytes:
    return _canonical(
        {
            "kind": resource.kind,
            "name": resource.name,
            "protect": resource.protect,
            "spec": source_tree(resource.spec),
        }
    )


def config_digest(resource: Resource) -> str:
    """Digest of a resource's rendered config; secrets count by their source, not value.

    This is what promotion compares across environments' states, so it must be computable
    without the secret values of another environment.
    """
    return short_b64(hashlib.sha256(_config(resource)).digest())


def full_config_digest(resource: Resource) -> str:
    """`config_digest` with all of the sha256 (`sha256:HEX`): what a test case's recorded
    digest is made from, unchanged since state version 2 so recorded runs stay valid."""
    return "sha256:" + hashlib.sha256(_config(resource)).hexdigest()


def plan_digest(resources: Iterable[Resource], key: bytes) -> str:
    """Digest of everything apply would send, secrets by fingerprint: detects any edit.

    Hashed item by item: the same bytes as `_digest` of the whole list, without holding
    the whole project's JSON (prompts included) in memory twice.
    """
    items = sorted([r.address, r.protect, comparable_desired(r.spec, key)] for r in resources)
    digest = hashlib.sha256(b"[")
    for i, item in enumerate(items):
        if i:
            digest.update(b",")
        digest.update(_canonical(item))
    digest.update(b"]")
    return "sha256:" + digest.hexdigest()


# A secret's place in a spec encoded once (see plan_digests). NUL is in no rendered value
# (the loader, `!file` and the environment refuse it), and JSON writes it `\u0000`, so the
# encoded marker cannot be part of any other encoded string: an unescaped `"` only opens
# or closes a string, and no string that opens with a NUL is ours.
_MARKER = re.compile(r'"\\u0000(\d+)\\u0000"')


def plan_digests(resources: Sequence[Resource], key: bytes) -> tuple[dict[str, str], str]:
    """Each resource's `config_digest` (by address) and the `plan_digest` of them all.

    The same digests as those functions give, from one JSON encoding of each spec instead
    of two: prompts make up most of the bytes, and encoding them is most of the time.
    Secrets are encoded as markers, then written as their source for the config digest
    and as their fingerprint for the plan digest.
    """
    configs: dict[str, str] = {}
    whole = hashlib.sha256(b"[")
    ordered = sorted(resources, key=lambda r: (r.address, r.protect))
    for i, resource in enumerate(ordered):
        secrets: list[Sensitive] = []
        spec = json.dumps(
            resource.spec,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            default=partial(_marker, secrets),  # called for each Sensitive, in place
        )
        head = _text({"kind": resource.kind, "name": resource.name, "protect": resource.protect})
        sources = _fill(spec, [_text(f"<{s.source}>") for s in secrets])
        config = f'{head[:-1]},"spec":{sources}}}'
        configs[resource.address] = short_b64(hashlib.sha256(config.encode()).digest())
        fingerprints = _fill(spec, [_text(s.fingerprint(key)) for s in secrets])
        item = f"[{_text(resource.address)},{_text(resource.protect)},{fingerprints}]"
        whole.update(b"," + item.encode() if i else item.encode())
    whole.update(b"]")
    return configs, "sha256:" + whole.hexdigest()


def _marker(secrets: list[Sensitive], value: object) -> str:
    if not isinstance(value, Sensitive):
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    secrets.append(value)
    return f"\0{len(secrets) - 1}\0"


def _fill(encoded: str, values: list[str]) -> str:
    if not values:
        return encoded
    return _MARKER.sub(lambda found: values[int(found.group(1))], encoded)
