"""Long values in state, kept out of line: content-addressed by sha256, stored once, read lazily.

A state document that held every applied prompt grew with the text of the whole project,
so each write rewrote all of it and each read held it all in memory. From state version 2
an applied string longer than `THRESHOLD` bytes is written as a marker, `{"$blob":
"sha256:<hex>"}`, and its text is stored once by the backend (the local backend beside the
state file, the shared backends in a table or under a key prefix). From version 3 an array
whose JSON is longer than that (a webhooks or tools list) is stored the same way, as its
canonical JSON under `{"$json": "sha256:<hex>"}`, and the digest is the first 128 bits
(32 hex digits) of the sha256: version 2's full 64 digits are still read. Reading gives a
`TextRef` (a `JsonRef` for an array): it carries the digest and loads the text only when
something needs it (a plan's line diff, `state show`). Comparing it with a value compares
digests, so a plan that finds nothing changed never loads a blob.

128 bits are ample for content addressing here: two values share a digest only by a
deliberate collision (about 2**64 work), and all a collision could do is hide a change
from a plan, which then sends nothing.

A user's mapping key starting with `$` (a JSON Schema `$ref` in a tool's parameters) is
written with one more `$`, so no user value can ever read back as a marker.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, Protocol

from sigmaform.errors import ConfigError, Problem

THRESHOLD = 256  # bytes of UTF-8: shorter strings and arrays stay in the document
MARKER = "$blob"
JSON_MARKER = "$json"  # an array, stored as its canonical JSON
PREFIX = "sha256:"
HEX_DIGITS = 32  # of the sha256 a new reference keeps; version 2 kept all 64
_DIGEST = re.compile(r"sha256:[0-9a-f]{32}(?:[0-9a-f]{32})?")
# Finds the digests a document refers to without parsing it (pruning keeps the backup's).
DIGEST_IN_TEXT = re.compile(r'"\$(?:blob|json)": ?"(sha256:[0-9a-f]{32}(?:[0-9a-f]{32})?)"')


class BlobReader(Protocol):
    """Where a state's blobs are read from."""

    def read_blob(self, digest: str) -> str:
        """The text stored under `digest`; ConfigError naming the place when it is missing
        or does not match its digest."""
        ...


def digest_of(text: str) -> str:
    return PREFIX + hashlib.sha256(text.encode()).hexdigest()[:HEX_DIGITS]


def names(digest: str, data: bytes) -> bool:
    """Whether `digest` (a new short one, or version 2's full one) is that of `data`."""
    hexdigest = digest.removeprefix(PREFIX)
    return hashlib.sha256(data).hexdigest()[: len(hexdigest)] == hexdigest


def is_long(text: str) -> bool:
    # A character is at most 4 bytes: most strings are decided without encoding them.
    if len(text) > THRESHOLD:
        return True
    return len(text) * 4 > THRESHOLD and len(text.encode()) > THRESHOLD


def checked(digest: str, data: bytes, where: str) -> str:
    """The text of a blob read from `where`, if it is the one `digest` names."""
    if not names(digest, data):
        raise ConfigError(
            Problem(where, message=f"state blob {digest} is corrupt (its content does not match)")
        )
    try:
        return data.decode()
    except UnicodeDecodeError:  # unreachable for a matching digest of our own writing
        raise ConfigError(Problem(where, message=f"state blob {digest} is not UTF-8")) from None


def missing(digest: str, where: str) -> ConfigError:
    return ConfigError(
        Problem(
            where,
            message=f"state blob {digest} is missing: the state refers to text that is not "
            "stored (restore it from a backup or copy of the state, or re-apply with `state "
            "rm` and `import`)",
        )
    )


class TextRef:
    """A long applied string known by its digest; `.text` loads it once, when first asked."""

    __slots__ = ("_reader", "_text", "digest")

    def __init__(self, digest: str, reader: BlobReader | None, text: str | None = None) -> None:
        self.digest = digest
        self._reader = reader
        self._text = text

    @property
    def text(self) -> str:
        if self._text is None:
            if self._reader is None:
                raise ConfigError(f"state blob {self.digest} cannot be read: no blob store")
            self._text = self._reader.read_blob(self.digest)
        return self._text

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TextRef):
            return self.digest == other.digest
        if isinstance(other, str):
            return is_long(other) and names(self.digest, other.encode())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.text)  # equal to its text, so hashed like it

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"TextRef({self.digest!r})"


class JsonRef(TextRef):
    """A long applied array known by the digest of its canonical JSON (`canonical`).

    It equals a list with the same canonical JSON; `.value` parses the stored text.
    """

    __slots__ = ()

    @property
    def value(self) -> list[Any]:
        parsed = json.loads(self.text)
        if not isinstance(parsed, list):
            raise ConfigError(f"state blob {self.digest} is not a JSON array")
        return parsed

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TextRef):
            return isinstance(other, JsonRef) and self.digest == other.digest
        if isinstance(other, list):
            return names(self.digest, canonical(other).encode())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to lists, which are unhashable

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"JsonRef({self.digest!r})"


def canonical(value: Any) -> str:
    """The JSON an array is stored and compared as: sorted keys, no spaces, and a whole
    float written as an integer (the API may echo `5` for a declared `5.0`, which Python
    compares as equal: so does the digest)."""
    return json.dumps(_plain(value), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, JsonRef):
        return value.value
    if isinstance(value, TextRef):
        return value.text
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def encode(value: Any, sink: dict[str, str | TextRef]) -> Any:
    """`value` as a version-3 document holds it; each long text or array goes into `sink`
    by digest."""
    if isinstance(value, str):
        if not is_long(value):
            return value
        digest = digest_of(value)
        sink.setdefault(digest, value)
        return {MARKER: digest}
    if isinstance(value, JsonRef):
        sink.setdefault(value.digest, value)
        return {JSON_MARKER: value.digest}
    if isinstance(value, TextRef):
        sink.setdefault(value.digest, value)
        return {MARKER: value.digest}
    if isinstance(value, Mapping):
        return {("$" + k if k.startswith("$") else k): encode(v, sink) for k, v in value.items()}
    if isinstance(value, list):
        # Arrays are compared whole (a unit), so a long one is stored whole, as its JSON:
        # inside it nothing is a marker, so nothing is escaped either.
        text = canonical(value)
        if is_long(text):
            digest = digest_of(text)
            sink.setdefault(digest, text)
            return {JSON_MARKER: digest}
        return [encode(v, sink) for v in value]
    return value


def decode(value: Any, reader: BlobReader | None, where: str) -> Any:
    """A version-2 or 3 document's value with markers as TextRefs and JsonRefs (the inverse
    of `encode`)."""
    if value.__class__ is dict or isinstance(value, Mapping):
        if MARKER in value or JSON_MARKER in value:
            return _reference(value, reader, where)
        out = {}
        for key, item in value.items():
            if key.startswith("$"):
                if not key.startswith("$$"):
                    raise ConfigError(
                        Problem(where, message=f"damaged state: unescaped key {key!r}")
                    )
                key = key[1:]
            # Most values are text, numbers or booleans: kept without a call for each
            # (a plan decodes every applied field of every resource).
            kind = item.__class__
            out[key] = decode(item, reader, where) if kind is dict or kind is list else item
        return out
    if isinstance(value, list):
        return [
            decode(v, reader, where) if v.__class__ is dict or v.__class__ is list else v
            for v in value
        ]
    return value


def _reference(marked: Mapping[str, Any], reader: BlobReader | None, where: str) -> Any:
    """The TextRef or JsonRef a marker object stands for."""
    for marker, ref in ((MARKER, TextRef), (JSON_MARKER, JsonRef)):
        if marker not in marked:
            continue
        digest = marked[marker]
        if len(marked) != 1 or not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
            raise ConfigError(Problem(where, message=f"damaged state: a malformed {marker} marker"))
        return ref(digest, reader)
    raise AssertionError("not a marker object")  # decode calls it only for one


def materialize(value: Any) -> Any:
    """`value` with every TextRef replaced by its text, every JsonRef by its array (for
    showing or sending it)."""
    if isinstance(value, JsonRef):
        return value.value
    if isinstance(value, TextRef):
        return value.text
    if isinstance(value, dict):
        if not any(isinstance(v, (TextRef, dict, list)) for v in value.values()):
            return value
        return {k: materialize(v) for k, v in value.items()}
    if isinstance(value, list):
        if not any(isinstance(v, (TextRef, dict, list)) for v in value):
            return value
        return [materialize(v) for v in value]
    return value


def expand_arrays(value: Any) -> Any:
    """`value` with every JsonRef replaced by its array (TextRefs stay): for comparing it
    with a server's object item by item, which reads no prompt."""
    if isinstance(value, JsonRef):
        return value.value
    if isinstance(value, dict):
        if not any(isinstance(v, (JsonRef, dict, list)) for v in value.values()):
            return value
        return {k: expand_arrays(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_arrays(v) for v in value]
    return value


def text_of(value: str | TextRef) -> str:
    return value if isinstance(value, str) else value.text
