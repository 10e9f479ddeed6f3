"""Server-side checks of request bodies, each failure a 400 naming the field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sigmaform.emulator.wire import JsonObject, bad_request

# Used with fullmatch: `$` alone would also accept a trailing newline.
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
TEMPLATE_VARIABLE = re.compile(r"\{\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\}")
HTTP_URL = re.compile(r"^https?://.+", re.IGNORECASE)
# Ids that come from URLs become file names in the store: nothing that can leave a directory.
SAFE_ID = re.compile(r"[A-Za-z0-9_+-]{1,128}")

WEBHOOK_EVENTS = ("conversation_started", "conversation_ended", "conversation_analysed")


def json_type(value: Any) -> str:
    """The JSON name of a value's type, as messages should say it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def has_type(value: Any, expected: str) -> bool:
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return json_type(value) == expected


def check_type(value: Any, expected: str, field: str) -> None:
    if not has_type(value, expected):
        raise bad_request(f"{field} must be a {expected}, not {json_type(value)}")


def check_fields(body: Mapping[str, Any], spec: Mapping[str, str], prefix: str = "") -> None:
    """Check the type of every known field present in `body`."""
    for name, expected in spec.items():
        if name in body:
            check_type(body[name], expected, prefix + name)


def check_string(value: Any, field: str, *, min_len: int = 0, max_len: int | None = None) -> str:
    check_type(value, "string", field)
    if len(value) < min_len:
        raise bad_request(f"{field} must not be empty" if min_len == 1 else f"{field} is too short")
    if max_len is not None and len(value) > max_len:
        raise bad_request(f"{field} must be at most {max_len} characters")
    assert isinstance(value, str)
    return value


def required(body: Mapping[str, Any], name: str, prefix: str = "") -> Any:
    if name not in body or body[name] is None:
        raise bad_request(f"{prefix}{name} is required")
    return body[name]


def check_e164(value: Any, field: str) -> str:
    text = check_string(value, field)
    if not E164.fullmatch(text):
        raise bad_request(f"{field} must be a phone number in E.164 format, like +14155550123")
    return text


def check_transfer_target(value: Any, field: str) -> None:
    text = check_string(value, field)
    if not (E164.fullmatch(text) or TEMPLATE_VARIABLE.fullmatch(text)):
        raise bad_request(f"{field} must be an E.164 phone number or a {{{{variable}}}}")


def check_events(value: Any, field: str) -> list[str]:
    check_type(value, "array", field)
    if not value:
        raise bad_request(f"{field} must name at least one event")
    for index, event in enumerate(value):
        if event not in WEBHOOK_EVENTS:
            raise bad_request(
                f"{field}[{index}] must be one of {', '.join(WEBHOOK_EVENTS)}, not {event!r}"
            )
    return list(value)


def check_url(value: Any, field: str) -> str:
    text = check_string(value, field)
    if not HTTP_URL.match(text):
        raise bad_request(f"{field} must be an http(s) URL")
    return text


def known_only(body: Mapping[str, Any], names: Mapping[str, Any]) -> JsonObject:
    """Unknown fields are ignored, like most JSON APIs do, and never echoed back."""
    return {k: v for k, v in body.items() if k in names}
