"""HTTP plumbing shared by the emulator's handlers: requests, responses, errors, pages."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sigmaform.emulator.context import Context

JsonObject = dict[str, Any]

MAX_PAGE_SIZE = 100


class HttpError(Exception):
    """An answer other than success; becomes the documented error body."""

    def __init__(self, status: int, message: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = tuple(headers)


def bad_request(message: str) -> HttpError:
    return HttpError(400, message)


def not_found(message: str) -> HttpError:
    return HttpError(404, message)


def conflict(message: str) -> HttpError:
    return HttpError(409, message)


@dataclass(frozen=True)
class Request:
    """What a handler needs from one HTTP request."""

    method: str
    path: str
    query: Mapping[str, str]
    body: Any  # the parsed JSON body, or None
    body_error: str | None = None  # set when the body was present but not JSON

    def json_object(self) -> JsonObject:
        """The body as a JSON object, or a 400 saying why it is not one."""
        if self.body_error is not None:
            raise bad_request(f"malformed JSON body: {self.body_error}")
        if not isinstance(self.body, dict):
            raise bad_request("request body must be a JSON object")
        return self.body


@dataclass(frozen=True)
class Response:
    status: int
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()


Handler = Callable[["Context", Request, str], Response]


@dataclass(frozen=True)
class Route:
    """A path pattern (regex, one optional capture: the id) and its handler per method."""

    pattern: str
    methods: Mapping[str, Handler]


def now_iso() -> str:
    """The current time as the docs write it: `2021-04-20T10:00:00.000Z`."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def error_body(status: int, message: str, path: str) -> JsonObject:
    """The one documented error shape (sigmamind-api.md 3.2)."""
    return {
        "error": HTTPStatus(status).phrase,
        "message": message,
        "path": path,
        "status": status,
        "timestamp": now_iso(),
    }


def _int_param(query: Mapping[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise bad_request(f"{name} must be an integer, not {raw!r}") from None


def page_params(query: Mapping[str, str]) -> tuple[int, int]:
    """`page` (zero-based, >= 0, default 0) and `size` (1..100, default 10)."""
    page = _int_param(query, "page", 0)
    size = _int_param(query, "size", 10)
    if page < 0:
        raise bad_request("page must be 0 or greater")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise bad_request(f"size must be between 1 and {MAX_PAGE_SIZE}")
    return page, size


def paginate(
    items: Sequence[JsonObject],
    query: Mapping[str, str],
    present: Callable[[JsonObject], JsonObject],
    total_key: str = "totalCount",
) -> JsonObject:
    """The docs' "standard wrapper for paginated API responses".

    `total_key` exists because the docs spell the total `totalCounts` for chats and calls
    but `totalCount` everywhere else (sigmamind-api.md section 4, item 10).
    """
    page, size = page_params(query)
    total = len(items)
    pages = math.ceil(total / size)
    chunk = items[page * size : (page + 1) * size]
    return {
        "data": [present(item) for item in chunk],
        "page": page,
        "size": size,
        total_key: total,
        "totalPages": pages,
        "hasNext": page + 1 < pages,
        "hasPrevious": page > 0,
    }


def public(obj: JsonObject) -> JsonObject:
    """The stored object without its private bookkeeping keys (those starting with `_`)."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}
