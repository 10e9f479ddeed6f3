"""A fast yes-or-unsure check of an instance against one of the bundled JSON Schemas.

Validating every resource with jsonschema dominated `plan` on large projects (about 0.4 ms
per agent, most of a 1,000-agent plan). This compiles the subset of draft 2020-12 that our
schemas use into plain Python closures. It answers True only when the instance is
certainly valid; on any error, or any keyword it does not know, it answers False and the
caller runs jsonschema for the exact, located problems. It can make validation faster,
never more permissive: every check here is as strict as jsonschema's, or stricter.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from sigmaform import ecmaregex
from sigmaform.sensitive import MASK, Sensitive

Check = Callable[[Any], bool]

# Keywords that never affect validity.
_ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "examples",
        "default",
        "$comment",
        "$schema",
        "$id",
        "$defs",
        "deprecated",
        "readOnly",
        "writeOnly",
        "markdownDescription",
    }
)


def _never(_: Any) -> bool:
    return False


def _always(_: Any) -> bool:
    return True


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text(value: Any) -> str | None:
    """The string jsonschema would see (a secret as its text), or None for a non-string."""
    if isinstance(value, str):
        return value
    if isinstance(value, Sensitive):
        return value.reveal() or MASK  # as schemacheck reveals it
    return None


# Stricter than JSON Schema where they differ (an integer-valued float is not an integer
# here): a stricter answer only means a fallback to jsonschema.
_TYPES: dict[str, Check] = {
    "string": lambda v: isinstance(v, (str, Sensitive)),
    "integer": lambda v: type(v) is int,
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


class _Unsupported(Exception):
    """A keyword or form this module does not check: the whole schema falls back."""


class _Compiler:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def compile(self, schema: Any) -> Check:
        if schema is True:
            return _always
        if not isinstance(schema, Mapping):
            raise _Unsupported(repr(schema))
        checks: list[Check] = []
        for key, value in schema.items():
            if key in _ANNOTATIONS:
                continue
            build = getattr(self, "_kw_" + key.lstrip("$"), None)
            if build is None or key in ("then", "else"):
                if key in ("then", "else") and "if" in schema:
                    continue  # compiled with `if`
                raise _Unsupported(key)
            checks.append(build(value, schema))
        return _all(checks)

    def _kw_ref(self, ref: Any, _: Mapping[str, Any]) -> Check:
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise _Unsupported(f"$ref {ref!r}")
        if ref not in self.refs:
            self.refs[ref] = _never  # a recursive reference resolves through the table below
            node: Any = self.root
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            self.refs[ref] = self.compile(node)
        refs = self.refs
        return lambda v: refs[ref](v)

    def _kw_type(self, value: Any, _: Mapping[str, Any]) -> Check:
        names = [value] if isinstance(value, str) else list(value)
        tests = [_TYPES[name] for name in names]
        if len(tests) == 1:
            return tests[0]
        return lambda v: any(t(v) for t in tests)

    def _kw_enum(self, values: Any, _: Mapping[str, Any]) -> Check:
        if all(isinstance(x, str) for x in values):
            allowed = frozenset(values)
            return lambda v: type(v) is str and v in allowed
        if not all(type(x) in (int, bool) or x is None for x in values):
            raise _Unsupported("enum of floats or containers")
        # Same type and value: stricter than JSON Schema (1.0 == 1), never looser.
        pairs = frozenset((type(x), x) for x in values)
        return lambda v: (type(v), v) in pairs if type(v) in (int, bool, type(None)) else False

    def _kw_const(self, value: Any, schema: Mapping[str, Any]) -> Check:
        return self._kw_enum([value], schema)

    def _kw_pattern(self, pattern: str, _: Mapping[str, Any]) -> Check:
        search = ecmaregex.compile_pattern(pattern).search

        def check(v: Any) -> bool:
            text = _text(v)
            return text is None or search(text) is not None

        return check

    def _kw_minLength(self, n: int, _: Mapping[str, Any]) -> Check:
        return lambda v: (t := _text(v)) is None or len(t) >= n

    def _kw_maxLength(self, n: int, _: Mapping[str, Any]) -> Check:
        return lambda v: (t := _text(v)) is None or len(t) <= n

    def _kw_minimum(self, n: float, _: Mapping[str, Any]) -> Check:
        return lambda v: not _is_number(v) or v >= n

    def _kw_maximum(self, n: float, _: Mapping[str, Any]) -> Check:
        return lambda v: not _is_number(v) or v <= n

    def _kw_exclusiveMinimum(self, n: float, _: Mapping[str, Any]) -> Check:
        return lambda v: not _is_number(v) or v > n

    def _kw_exclusiveMaximum(self, n: float, _: Mapping[str, Any]) -> Check:
        return lambda v: not _is_number(v) or v < n

    def _kw_properties(self, properties: Mapping[str, Any], _: Mapping[str, Any]) -> Check:
        compiled = {name: self.compile(sub) for name, sub in properties.items()}
        lookup = compiled.get

        def check(v: Any) -> bool:
            # By the instance's keys, not the schema's: a spec sets a few of many fields.
            if not isinstance(v, dict):
                return True
            for name, item in v.items():
                sub = lookup(name)
                if sub is not None and not sub(item):
                    return False
            return True

        return check

    def _kw_patternProperties(self, value: Any, _: Mapping[str, Any]) -> Check:
        raise _Unsupported("patternProperties")

    def _kw_additionalProperties(self, value: Any, schema: Mapping[str, Any]) -> Check:
        known = frozenset(schema.get("properties", {}))
        if value is False:
            return lambda v: not isinstance(v, dict) or known.issuperset(v)
        sub = self.compile(value)
        return lambda v: (
            not isinstance(v, dict) or all(sub(item) for k, item in v.items() if k not in known)
        )

    def _kw_required(self, names: list[str], _: Mapping[str, Any]) -> Check:
        wanted = frozenset(names)
        return lambda v: not isinstance(v, dict) or v.keys() >= wanted

    def _kw_propertyNames(self, value: Any, _: Mapping[str, Any]) -> Check:
        sub = self.compile(value)
        return lambda v: not isinstance(v, dict) or all(sub(k) for k in v)

    def _kw_minProperties(self, n: int, _: Mapping[str, Any]) -> Check:
        return lambda v: not isinstance(v, dict) or len(v) >= n

    def _kw_maxProperties(self, n: int, _: Mapping[str, Any]) -> Check:
        return lambda v: not isinstance(v, dict) or len(v) <= n

    def _kw_items(self, value: Any, schema: Mapping[str, Any]) -> Check:
        if "prefixItems" in schema:
            raise _Unsupported("prefixItems")
        sub = self.compile(value)

        def check(v: Any) -> bool:
            if not isinstance(v, list):
                return True
            for item in v:  # noqa: SIM110 - a loop: all() would make a generator per call
                if not sub(item):
                    return False
            return True

        return check

    def _kw_minItems(self, n: int, _: Mapping[str, Any]) -> Check:
        return lambda v: not isinstance(v, list) or len(v) >= n

    def _kw_maxItems(self, n: int, _: Mapping[str, Any]) -> Check:
        return lambda v: not isinstance(v, list) or len(v) <= n

    def _kw_uniqueItems(self, value: Any, _: Mapping[str, Any]) -> Check:
        if value is not True:
            return _always

        def check(v: Any) -> bool:
            # Python's == equates more than JSON Schema's (1 == True): distinct here is
            # distinct there.
            if not isinstance(v, list):
                return True
            return all(v[i] != v[j] for i in range(len(v)) for j in range(i + 1, len(v)))

        return check

    def _kw_allOf(self, subs: list[Any], _: Mapping[str, Any]) -> Check:
        return _all([self.compile(s) for s in subs])

    def _kw_anyOf(self, subs: list[Any], _: Mapping[str, Any]) -> Check:
        compiled = [self.compile(s) for s in subs]
        return lambda v: any(c(v) for c in compiled)

    def _kw_if(self, value: Any, schema: Mapping[str, Any]) -> Check:
        # The condition must be decided exactly (a stricter "no" would pick the wrong
        # branch), so only `properties` with string `const`s and `required` are accepted.
        condition = _exact_condition(value)
        then = self.compile(schema.get("then", True))
        otherwise = self.compile(schema.get("else", True))

        def check(v: Any) -> bool:
            decided = condition(v)
            if decided is None:
                return False
            return then(v) if decided else otherwise(v)

        return check


def _exact_condition(schema: Any) -> Callable[[Any], bool | None]:
    """Exactly jsonschema's verdict for a small `if` schema; None when it cannot tell."""
    if not isinstance(schema, Mapping):
        raise _Unsupported("if")
    consts: list[tuple[str, str]] = []
    required: list[str] = []
    for key, value in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key == "required":
            required = list(value)
        elif key == "properties":
            for name, sub in value.items():
                extra = set(sub) - _ANNOTATIONS - {"const"}
                if extra or not isinstance(sub.get("const"), str):
                    raise _Unsupported("if")
                consts.append((name, sub["const"]))
        else:
            raise _Unsupported("if")

    def decide(v: Any) -> bool | None:
        if not isinstance(v, dict):
            return True
        for name, const in consts:
            if name in v:
                item = v[name]
                if isinstance(item, Sensitive):
                    return None
                if not (type(item) is str and item == const):
                    return False
        return all(n in v for n in required)

    return decide


def _all(checks: list[Check]) -> Check:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:  # the most common case: `type` and one more
        first, second = checks
        return lambda v: first(v) and second(v)

    def check(v: Any) -> bool:
        for c in checks:  # noqa: SIM110 - a loop: all() would make a generator per call
            if not c(v):
                return False
        return True

    return check


@functools.cache
def _compiled(schema_name: str) -> Check:
    from sigmaform.schemacheck import load_schema

    schema = load_schema(schema_name)
    try:
        return _Compiler(schema).compile(schema)
    except (_Unsupported, KeyError, TypeError, re.error):
        return _never


def certainly_valid(instance: Any, schema_name: str) -> bool:
    """True only if `instance` is valid against the bundled schema; False means: ask jsonschema."""
    return _compiled(schema_name)(instance)


__all__ = ["certainly_valid"]
