"""The emulator as one WSGI application: auth, faults, routing, JSON in and out, journal."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, fields, replace
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl

from sigmaform.emulator import (
    agents,
    batch_runs,
    chats,
    phone_numbers,
    test_cases,
    webhooks,
)
from sigmaform.emulator.context import Context, IdMaker, SettingsPatch
from sigmaform.emulator.faults import FaultInjector, Faults
from sigmaform.emulator.journal import Journal, JournalEntry
from sigmaform.emulator.judge import JUDGE_KEYS, Judge
from sigmaform.emulator.modes import CHOICES, Modes, adjust_request, adjust_response, refusal
from sigmaform.emulator.store import Store, key_digest
from sigmaform.emulator.validation import SAFE_ID
from sigmaform.emulator.wire import (
    Handler,
    HttpError,
    Request,
    Response,
    error_body,
)
from sigmaform.errors import ConfigError, Problem

_log = logging.getLogger(__name__)

CONFIG_FILE = "emulator.json"
JOURNAL_FILE = "journal.jsonl"

StartResponse = Callable[[str, list[tuple[str, str]]], Any]

_ROUTES: list[tuple[re.Pattern[str], Mapping[str, Handler]]] = [
    (re.compile(f"^{route.pattern}$"), route.methods)
    for route in (
        *agents.ROUTES,
        *phone_numbers.ROUTES,
        *chats.ROUTES,
        *webhooks.ROUTES,
        *test_cases.ROUTES,
        *batch_runs.ROUTES,
    )
]
_FAULT_FIELDS = {f.name for f in fields(Faults)}


@dataclass(frozen=True)
class _Config:
    faults: Faults
    settings_patch: SettingsPatch
    modes: Modes
    judge: Judge


def _load_config(data_dir: Path, given: _Config) -> _Config:
    """Apply `<data_dir>/emulator.json`: its values fill in what the caller left at default."""
    path = data_dir / CONFIG_FILE
    faults, settings_patch, modes = given.faults, given.settings_patch, given.modes
    if not path.exists():
        return given
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(config, dict):
            raise ValueError("must hold a JSON object")
        known = _FAULT_FIELDS | {"settings_patch"} | set(CHOICES) | set(JUDGE_KEYS)
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"unknown keys {', '.join(unknown)}")
        patch = config.get("settings_patch", "merge")
        if patch not in ("merge", "replace"):
            raise ValueError("settings_patch must be merge or replace")
        defaults = Faults()
        overrides = {
            name: value
            for name, value in config.items()
            if name in _FAULT_FIELDS and getattr(faults, name) == getattr(defaults, name)
        }
        faults = replace(faults, **overrides)
        # The caller's non-default modes win over the file's, as for the faults.
        modes = Modes.parse({k: v for k, v in config.items() if k in CHOICES}).overridden_by(modes)
        judge = Judge.from_config(config).overridden_by(given.judge)
    except (ValueError, TypeError) as error:
        raise ConfigError(Problem(file=str(path), message=str(error))) from None
    if settings_patch == "merge":
        settings_patch = patch
    return _Config(faults, settings_patch, modes, judge)


class EmulatorApp:
    """A local SigmaMind API. Call it as a WSGI application.

    `data_dir=None` keeps the workspaces in memory; with a directory they persist there
    (safe to share between processes), the journal is also appended to
    `<data_dir>/journal.jsonl`, and `<data_dir>/emulator.json` may set the faults and
    `settings_patch` mode.
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        faults: Faults = Faults(),  # noqa: B008  frozen, so sharing the default is safe
        settings_patch: Literal["merge", "replace"] = "merge",
        api_keys: Collection[str] | None = None,
        journal_file: Path | None = None,
        modes: Modes = Modes(),  # noqa: B008  frozen, so sharing the default is safe
        keep_journal: bool = True,  # False: the journal files only, no in-memory entries
        judge: Judge = Judge(),  # noqa: B008  frozen, so sharing the default is safe
    ) -> None:
        config = _Config(faults, settings_patch, modes, judge)
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
            config = _load_config(data_dir, config)
        self.faults = faults = config.faults
        self.modes = config.modes
        self.judge = config.judge
        self.settings_patch: SettingsPatch = config.settings_patch
        self._api_keys = frozenset(api_keys) if api_keys is not None else None
        self._store = Store(data_dir)
        self._ids = IdMaker(faults.seed)
        self._injector = FaultInjector(faults)
        files = [data_dir / JOURNAL_FILE] if data_dir is not None else []
        if journal_file is not None:
            files.append(journal_file)
        self.journal = Journal(files, keep=keep_journal)

    def __repr__(self) -> str:
        return (
            f"EmulatorApp(faults={self.faults!r}, settings_patch={self.settings_patch!r},"
            f" modes={self.modes!r}, judge={self.judge!r})"
        )

    def _context(self, api_key: str) -> Context:
        return Context(self._store.workspace(api_key), self._ids, self.settings_patch, self.judge)

    def seed_phone_number(self, api_key: str, number: str, friendly_name: str = "") -> None:
        """Put a number in a workspace, as `POST /v1/phone-numbers/import` would."""
        body = {"phoneNumber": number, "friendlyName": friendly_name}
        try:
            phone_numbers.import_number(self._context(api_key), body)
        except HttpError as error:
            raise ValueError(error.message) from None

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = _read_request(environ)
        try:
            response = self._handle(request, environ.get("HTTP_X_API_KEY", ""))
        except HttpError as error:
            body = error_body(error.status, error.message, request.path)
            response = Response(error.status, body, error.headers)
        except Exception as error:  # a bug here must still answer like a server would
            _log.exception("unhandled error serving %s %s", request.method, request.path)
            message = f"emulator error: {type(error).__name__}"
            response = Response(500, error_body(500, message, request.path))
        recorded = request.body if request.body_error is None else None
        entry = JournalEntry(
            request.method, request.path, environ.get("QUERY_STRING", ""), response.status, recorded
        )
        self.journal.record(entry)
        return _write_response(response, start_response)

    def _handle(self, request: Request, api_key: str) -> Response:
        if not request.path.startswith("/v1/"):
            raise HttpError(404, f"no route {request.path}")
        if not api_key:
            raise HttpError(401, "missing X-API-Key header")
        if self._api_keys is not None and api_key not in self._api_keys:
            raise HttpError(401, "invalid API key")
        # Latency is served before any lock is taken, so slow requests overlap.
        self._injector.delay()
        verdict = self._injector.judge(key_digest(api_key))
        if verdict.refuse == 429:
            headers = (("Retry-After", str(verdict.retry_after)),)
            raise HttpError(429, "rate limit exceeded", headers)
        if verdict.refuse == 503:
            raise HttpError(503, "service temporarily unavailable (injected fault)")
        refused = refusal(self.modes, request.method, request.path)
        if refused is not None:
            raise HttpError(*refused)
        handler, ident = _route(request)
        request = replace(
            request, body=adjust_request(self.modes, request.method, request.path, request.body)
        )
        response = handler(self._context(api_key), request, ident)
        body = adjust_response(self.modes, request.method, request.path, response.body)
        response = replace(response, body=body)
        if verdict.drop:
            message = "upstream connection lost (injected fault; the request was processed)"
            return Response(502, error_body(502, message, request.path))
        return response


def _route(request: Request) -> tuple[Handler, str]:
    for pattern, methods in _ROUTES:
        match = pattern.match(request.path)
        if match is None:
            continue
        handler = methods.get(request.method)
        if handler is None:
            allow = ", ".join(sorted(methods))
            raise HttpError(
                405, f"{request.method} is not allowed on {request.path}", (("Allow", allow),)
            )
        ident = match.group(1) if match.groups() else ""
        # Ids become file names in the store: nothing that could step out of a directory.
        if ident and not SAFE_ID.fullmatch(ident.replace(" ", "+", 1)):
            raise HttpError(404, f"no object with id {ident!r}")
        return handler, ident
    raise HttpError(404, f"no route {request.path}")


def _read_request(environ: dict[str, Any]) -> Request:
    path = environ.get("PATH_INFO", "") or "/"
    if len(path) > 1:
        path = path.rstrip("/")
    # PATH_INFO is latin-1 decoded bytes by WSGI convention; recover the UTF-8 text.
    path = path.encode("latin-1").decode("utf-8", "replace")
    query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    body: Any = None
    body_error: str | None = None
    if raw.strip():
        try:
            body = json.loads(raw)
        except ValueError as error:
            body_error = str(error)
    return Request(environ.get("REQUEST_METHOD", "GET").upper(), path, query, body, body_error)


def _write_response(response: Response, start_response: StartResponse) -> list[bytes]:
    status = f"{response.status} {HTTPStatus(response.status).phrase}"
    headers = list(response.headers)
    if response.status == 204 or response.body is None:
        start_response(status, [*headers, ("Content-Length", "0")])
        return []
    payload = json.dumps(response.body, separators=(",", ":")).encode()
    headers += [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    start_response(status, headers)
    return [payload]
