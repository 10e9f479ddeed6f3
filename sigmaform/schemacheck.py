"""The bundled JSON Schemas, and jsonschema's errors turned into located, readable Problems."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sigmaform import ecmaregex
from sigmaform.errors import ConfigError, Problem
from sigmaform.files import JsonPath, Mark, format_path
from sigmaform.interpolate import suggest
from sigmaform.kinds import CREATE_ANALYSIS_ITEM_NAMES, CREATE_SETTINGS_NAMES, SENSITIVE_KEYS
from sigmaform.schemafast import certainly_valid
from sigmaform.sensitive import MASK, Sensitive

if TYPE_CHECKING:  # jsonschema loads only when an instance may be invalid (~30 ms)
    from importlib.resources.abc import Traversable

    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

# Create-page field name -> the canonical (Update Agent / GET) name YAML must use.
CREATE_PAGE_NAMES: dict[str, str] = {
    create: canonical
    for canonical, create in {**CREATE_SETTINGS_NAMES, **CREATE_ANALYSIS_ITEM_NAMES}.items()
}
# Values under these keys are never quoted in a message: a user may have pasted a key
# or a secret where its NAME belongs.
HIDDEN_KEYS = frozenset({*SENSITIVE_KEYS, "apiKeyEnv", "secretDefaults"})
_JSON_TYPES = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)

# (path, is_key) -> where to report it
Locator = Callable[[JsonPath, bool], Mark]


def schema_folder() -> Traversable:
    """The schemas: `sigmaform.schemas` when installed (the wheel maps the repository's
    `schemas/` there), else `schemas/` beside the package (`python -m sigmaform` run from a
    source checkout). Found as plain directories first: importlib.resources costs every
    command ~5 ms of imports, and is needed only when the package is not in directories
    (a zip)."""
    here = Path(__file__).parent
    for folder in (here / "schemas", here.parent / "schemas"):
        if (folder / "project.schema.json").is_file():
            return folder
    from importlib import resources

    try:
        return resources.files("sigmaform.schemas")
    except ModuleNotFoundError:
        return resources.files("sigmaform").joinpath("..", "schemas")


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """A schema from the package's `schemas/` (shipped in the wheel), parsed once."""
    try:
        text = schema_folder().joinpath(name).read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):
        raise ConfigError(f"schema `{name}` is missing from the installation") from None
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache  # asked once per resource: the installation does not change meanwhile
def schema_exists(name: str) -> bool:
    return schema_folder().joinpath(name).is_file()


@functools.cache
def _validator(name: str) -> Draft202012Validator:
    from jsonschema import Draft202012Validator, validators

    # jsonschema checks `pattern` with Python's `re.search`, whose `$` accepts a trailing
    # newline; JSON Schema means ECMA-262 (ecmaregex.py).
    ecma = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})
    return ecma(load_schema(name), format_checker=Draft202012Validator.FORMAT_CHECKER)


def _ecma_pattern(
    validator: Draft202012Validator, pattern: str, instance: Any, _schema: Any
) -> Iterator[ValidationError]:
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not ecmaregex.search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def check_instance(
    instance: Any,
    schema_name: str,
    *,
    file: str,
    locate: Locator,
    keys_only: bool = False,
) -> list[Problem]:
    """Every schema error of `instance`, one Problem each (one per unknown key).

    `keys_only`: only unknown keys (for a block whose values are not rendered).

    `instance` may hold Sensitive values: they are checked as their text, and no message
    ever quotes a value found at a sensitive path.
    """
    if certainly_valid(instance, schema_name):
        return []  # the common case, without jsonschema's cost (schemafast.py)
    sensitive: set[JsonPath] = set()
    plain = _reveal(instance, (), sensitive)
    problems: list[Problem] = []
    for error in _validator(schema_name).iter_errors(plain):
        for path, is_key, message in _messages(error, sensitive):
            if keys_only and not is_key:
                continue
            mark = locate(path, is_key)
            problems.append(Problem(file, mark.line, mark.column, format_path(path), message))
    return problems


def _reveal(value: Any, path: JsonPath, sensitive: set[JsonPath]) -> Any:
    if isinstance(value, Sensitive):
        sensitive.add(path)
        return value.reveal() or MASK  # a placeholder secret still has the right type
    if isinstance(value, dict):
        return {k: _reveal(v, (*path, k), sensitive) for k, v in value.items()}
    if isinstance(value, list):
        return [_reveal(v, (*path, i), sensitive) for i, v in enumerate(value)]
    return value


def _messages(
    error: ValidationError, sensitive: set[JsonPath]
) -> Iterator[tuple[JsonPath, bool, str]]:
    path: JsonPath = tuple(error.absolute_path)
    keyword = error.validator
    if keyword in ("oneOf", "anyOf") and error.context:
        yield from _messages(_best(error), sensitive)
        return
    if keyword in ("additionalProperties", "unevaluatedProperties") and isinstance(
        error.instance, dict
    ):
        allowed = (
            set(error.schema.get("properties", {})) if isinstance(error.schema, dict) else set()
        )
        patterns = (
            error.schema.get("patternProperties", {}) if isinstance(error.schema, dict) else {}
        )
        for key in error.instance:
            if key in allowed or any(ecmaregex.search(p, key) for p in patterns):
                continue
            yield (*path, key), True, _unknown_key(key, allowed)
        return
    if keyword == "required" and isinstance(error.instance, dict):
        # A field written under its Create-page name is reported as that, not as missing.
        written = {CREATE_PAGE_NAMES.get(k) for k in error.instance}
        if all(k in written for k in error.validator_value if k not in error.instance):
            return
    hidden = path in sensitive or any(part in HIDDEN_KEYS for part in path)
    yield path, False, _message(error, hidden)


def _best(error: ValidationError) -> ValidationError:
    """The alternative that got furthest (jsonschema's relevance heuristic)."""
    from jsonschema.exceptions import best_match

    chosen = best_match(error.context or [])
    return chosen if chosen is not None else error


def _unknown_key(key: str, allowed: set[str]) -> str:
    canonical = CREATE_PAGE_NAMES.get(key)
    if canonical is not None:
        return f"`{key}` is the Create page's name: use `{canonical}`"
    if not allowed:
        return f"unknown field `{key}`"
    return f"unknown field `{key}`{suggest(key, allowed)}"


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    for python_type, name in _JSON_TYPES:
        if isinstance(value, python_type):
            return name
    return type(value).__name__


def _show(value: Any, hidden: bool) -> str:
    if hidden:
        return MASK
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _message(error: ValidationError, hidden: bool) -> str:
    keyword, value, expected = error.validator, error.instance, error.validator_value
    if keyword == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return f"expected {wanted}, got {_type_name(value)}"
    if keyword == "required":
        missing = [k for k in expected if isinstance(value, dict) and k not in value]
        return "missing required field " + ", ".join(f"`{k}`" for k in missing or expected)
    if keyword == "enum":
        options = [str(o) for o in expected]
        shown = ", ".join(options[:12]) + (", ..." if len(options) > 12 else "")
        hint = suggest(value, options) if isinstance(value, str) and not hidden else ""
        if hint:
            return f"{_show(value, hidden)} is not allowed{hint}"
        return f"{_show(value, hidden)} is not one of: {shown}"
    if keyword == "const":
        return f"must be {_show(expected, False)}"
    if keyword == "pattern":
        return f"{_show(value, hidden)} does not match the pattern `{expected}`"
    if keyword == "minLength":
        return "must not be empty" if expected == 1 else f"shorter than {expected} characters"
    if keyword == "maxLength":
        return f"longer than {expected} characters ({len(value)})"
    if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        symbol = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">"}.get(keyword, "<")
        return f"{_show(value, hidden)} is out of range: must be {symbol} {expected}"
    if keyword == "minItems":
        return "must not be empty" if expected == 1 else f"needs at least {expected} items"
    if keyword == "maxItems":
        return f"at most {expected} items allowed ({len(value)} given)"
    if keyword == "minProperties":
        return "must not be empty" if expected == 1 else f"needs at least {expected} entries"
    if keyword == "maxProperties" and isinstance(value, dict):
        given = ", ".join(f"`{k}`" for k in value)
        if expected == 1:
            return f"give one of {given}, not both"
        return f"at most {expected} entries allowed ({given} given)"
    if keyword == "uniqueItems":
        return "items must be unique"
    if keyword == "format":
        return f"{_show(value, hidden)} is not a valid {expected}"
    if keyword == "propertyNames":
        return f"invalid key: {error.message}"
    if keyword in ("oneOf", "anyOf"):
        return "matches none of the allowed shapes"
    if hidden:
        return f"invalid value ({keyword})"
    message = str(error.message)
    return message if len(message) <= 200 else message[:197] + "..."
