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
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from sigmaform.sensitive import Sensitive, short_b64, source_tree
from sigmaform.state_blobs import TextRef, materialize

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
    # A prompt apply holds by digest (spec_text.FileText) counts by its text, as it was
    # read: the digest is the same however the project was loaded.
    spec = materialize(source_tree(resource.spec))
    return _canonical(
        {"kind": resource.kind, "name": resource.name, "protect": resource.protect, "spec": spec}
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


def plan_digest(resources: Sequence[Resource], key: bytes) -> str:
    """Digest of everything apply would send, secrets by fingerprint: detects any edit.

    The same bytes as `_canonical` of the sorted list of `[address, protect,
    comparable_desired(spec)]`, hashed piece by piece (see plan_digests): a saved plan is
    checked against a project whose prompts apply holds by digest (spec_text.py).
    """
    return plan_digests(resources, key)[1]


# A secret's or a long text's place in a spec encoded once (see plan_digests). NUL is in
# no rendered value (the loader, `!file` and the environment refuse it), and JSON writes it
# `\u0000`, so the encoded marker cannot be part of any other encoded string: an unescaped
# `"` only opens or closes a string, and no string that opens with a NUL is ours.
_MARKER = re.compile(r'"\\u0000(\d+)\\u0000"')
# A top-level text at least this long (a prompt) is encoded and hashed on its own: the
# rest of the spec's JSON is then small, and no text of prompt size is copied to build it.
_LONG_TEXT = 1024
# Bytes that need no escape in JSON text (UTF-8 continuation bytes included), and the two
# control characters prose holds: a text with none but these is escaped by replacing.
_PLAIN = bytes(range(0x20, 0x100)) + b"\n\t"


class _Long:
    """A long text standing in a spec while it is encoded: written as a marker."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def plan_digests(resources: Sequence[Resource], key: bytes) -> tuple[dict[str, str], str]:
    """Each resource's `config_digest` (by address) and the `plan_digest` of them all.

    The same digests as those functions give, from one JSON encoding of each spec instead
    of two: prompts make up most of the bytes, and encoding them is most of the time.
    Secrets and long texts are encoded as markers; the pieces between the markers are
    hashed in turn with, in their places, the secrets' sources (for the config digest) or
    fingerprints (for the plan digest), and each long text's own encoding.
    """
    configs: dict[str, str] = {}
    # A secret's two encodings, by its text: one secret is often used by many resources.
    secret_text: dict[tuple[str, str], tuple[bytes, bytes]] = {}
    whole = hashlib.sha256(b"[")
    ordered = sorted(resources, key=lambda r: (r.address, r.protect))
    for i, resource in enumerate(ordered):
        holes: list[Sensitive | _Long] = []
        spec = {
            k: _Long(v) if isinstance(v, str) and len(v) >= _LONG_TEXT else v
            for k, v in resource.spec.items()
        }
        encoded = json.dumps(
            spec,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            default=partial(_marker, holes),  # called for each hole, in place
        )
        head = _text({"kind": resource.kind, "name": resource.name, "protect": resource.protect})
        pieces = _MARKER.split(encoded)  # text, hole index, text, ...
        filled = [_encoded(h.text) if isinstance(h, _Long) else b"" for h in holes]
        config = hashlib.sha256(f'{head[:-1]},"spec":'.encode())
        item = f"[{_text(resource.address)},{_text(resource.protect)},".encode()
        whole.update(b"," + item if i else item)
        for n, piece in enumerate(pieces):
            if n % 2 == 0:
                data = piece.encode()
                config.update(data)
                whole.update(data)
                continue
            hole = holes[int(piece)]
            if isinstance(hole, _Long):
                config.update(filled[int(piece)])
                whole.update(filled[int(piece)])
            else:
                held = secret_text.get((hole.reveal(), hole.source))
                if held is None:
                    held = secret_text[(hole.reveal(), hole.source)] = (
                        _text(f"<{hole.source}>").encode(),
                        _text(hole.fingerprint(key)).encode(),
                    )
                config.update(held[0])
                whole.update(held[1])
        config.update(b"}")
        whole.update(b"]")
        configs[resource.address] = short_b64(config.digest())
    whole.update(b"]")
    return configs, "sha256:" + whole.hexdigest()


def _marker(holes: list[Sensitive | _Long], value: object) -> str:
    if isinstance(value, TextRef):  # apply's `!file` text held by digest: read here
        value = _Long(value.text)
    if not isinstance(value, Sensitive | _Long):
        raise TypeError(f"{type(value).__name__} is not JSON serializable")
    holes.append(value)
    return f"\0{len(holes) - 1}\0"


def _encoded(text: str) -> bytes:
    """`_text(text).encode()`, faster for prose: JSON escapes only `"`, `\\` and control
    characters, and prose holds no control character but newlines and tabs."""
    raw = text.encode()
    if raw.translate(None, _PLAIN):  # another control character: the encoder's own way
        return _text(text).encode()
    escaped = raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
    return b'"' + escaped.replace(b"\n", b"\\n").replace(b"\t", b"\\t") + b'"'
