"""The SigmaMind API client: the only module that speaks HTTP (auth, retries, paging, errors).

Assumptions about the service that its docs leave open (design.md section 9), kept here:

* Pagination: list endpoints take zero-based `page` and `size` and answer
  `{data, page, size, hasNext, ...}`; we ask for `size=100` and follow `hasNext` (or
  `totalPages`, or a short page) to the end. A bare JSON array is taken as the whole list.
  Items seen twice while paging (the list moved under us) are kept once. A server is not
  trusted to end its list: a page that says more follow but adds nothing new, or a list
  longer than `MAX_PAGES` pages (100,000 items), is an error; so is a list of another
  shape (no `data` array, an item without its id), never read as "no agents".
* Every HTTP request has a total deadline (`requestTimeout`, default 60 s) from sending
  to the last byte of the answer, however slowly the server drips it (`transport.py`).
  A request cut off by it is not retried; a create cut off is looked up as below.
* Answers: a create must return the new `agentId`; JSON nested deeper than `MAX_DEPTH`
  is refused. Both are errors, not tracebacks.
* Retries: 429 honours `Retry-After` (seconds or HTTP-date, clamped to 0..300 s),
  spending time but not attempts, and gives up at once when the wait would outlast the
  budget (a 429 without the header backs off like a 503); 502/503/504, connection
  errors and timeouts retry with full-jitter exponential backoff, bounded by
  `RetryPolicy.max_attempts` and `max_elapsed_s`. A connection refused (or a host name
  not found) before the server has answered anything in this run is given
  `FIRST_CONTACT_ATTEMPTS` tries only: that is a wrong address or a server that is not
  running, and waiting out the whole budget would only delay saying so. Every other status
  (400, 401, 404, 409, 500, ...) fails at once with the server's `message`. Redirects are
  not followed: the key header would go wherever the redirect points.
* Reads, PATCH and DELETE are idempotent and retried as they are. A DELETE whose earlier
  attempt acted answers 404 on the retry: treated as gone.
* Creates are not idempotent and the API offers no idempotency key. A create whose
  outcome is unknown -- 502/503/504, a timeout or a connection dropped after the request
  went out -- is never blindly repeated: the kind's `recover` looks it up first (agents
  by `agentName`: `kinds/agent.py`); none found means it is sent again.
* A create refused with 429, or a connection that was never established, did not act:
  repeated directly. Other creates (chats) cannot be looked up, so a lost response to
  one is an error saying it may or may not have taken effect.
* What each kind sends where (paths, verbs, query parameters, names on the wire) is
  declared by its module in `sigmaform/kinds/`; this module is the transport they share.

The API key lives only in the `X-API-Key` header of the underlying httpx client; it never
appears in `repr(client)`, log lines (method, path, status, time only) or error messages.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from sigmaform import __version__, invocation
from sigmaform.api_profile import ApiProfile, load_profile
from sigmaform.endpoint import (
    LOCAL_API_KEY,
    check_api_key,
    display_url,
    normalise_base_url,
    resolve,
)
from sigmaform.errors import ApiError
from sigmaform.kinds import AGENT, CHAT, PHONE_NUMBER
from sigmaform.kinds.base import MISSING
from sigmaform.resource import Environment
from sigmaform.retry import DEFAULT_RETRY, Budget, RetryPolicy, parse_retry_after
from sigmaform.sensitive import MASK, Sensitive, reveal_tree, scrub
from sigmaform.transport import DeadlineTransport, deadline

__all__ = ["Client", "RequestStats", "RetryPolicy"]

log = logging.getLogger("sigmaform.client")

T = TypeVar("T")
R = TypeVar("R")

CHATS = "/v1/chats"
WEBHOOKS = "/v1/webhooks"
PAGE_SIZE = 100
MAX_PAGES = 1_000  # 100,000 items: a server that always says hasNext must not loop us forever
MAX_DEPTH = 64  # nesting of a JSON answer; agents are a few levels deep
DEFAULT_REQUEST_TIMEOUT = 60.0
_RETRY_STATUSES = frozenset({502, 503, 504})
FIRST_CONTACT_ATTEMPTS = 5  # a server that never answered: ~1.5 s of tries (at most 3), not ~10 s
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
# Failures that prove the request never reached the server: safe to repeat any request.
_UNSENT_ERRORS: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)
# Failures after which the request may or may not have been acted on.
_UNCERTAIN_ERRORS: tuple[type[Exception], ...] = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)


@dataclass
class RequestStats:
    """Counters for benchmarks and tests; updated from worker threads under a lock."""

    requests: int = 0
    retries: int = 0
    by_method: dict[str, int] = field(default_factory=dict)
    bytes_sent: int = 0
    recovered_creates: int = 0  # lost create responses resolved by finding the agent
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record_request(self, method: str, size: int) -> None:
        with self._lock:
            self.requests += 1
            self.by_method[method] = self.by_method.get(method, 0) + 1
            self.bytes_sent += size

    def record_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def record_recovered_create(self) -> None:
        with self._lock:
            self.recovered_creates += 1


class Client:
    """A SigmaMind API session: one httpx connection pool, shared by `map_concurrent` workers."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout_s: float = 30.0,
        request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT,
        parallelism: int = 10,
        user_agent: str = f"sigmaform/{__version__}",
        key_label: str = "the configured API key",
        key_variable: str | None = None,
    ) -> None:
        # An in-process transport never touches a network, so plain http:// is harmless there.
        in_process = isinstance(transport, httpx.WSGITransport | httpx.MockTransport)
        self._base_url = normalise_base_url(base_url, allow_plain_http=in_process)
        self._display_url = display_url(self._base_url)
        if api_key:
            check_api_key(api_key, key_label)
        # The emulator's fixed key "local" is no secret (masking it would garble messages).
        secret = api_key != LOCAL_API_KEY
        self._key = Sensitive(api_key, source=key_label, secret=secret) if api_key else None
        self._key_label = key_label
        self._key_variable = key_variable or key_label
        self._retry = retry
        self._answered = False  # any answer from the server in this run (see _request)
        self._request_timeout = request_timeout_s
        self._parallelism = max(1, parallelism)
        self.stats = RequestStats()
        # What `sigmaform doctor` found about this server (api_profile.py); default: docs.
        self.profile = ApiProfile()
        headers = {"User-Agent": user_agent, "Accept": "application/json"}
        if self._key is not None:
            headers["X-API-Key"] = self._key.reveal()
        limits = httpx.Limits(
            max_connections=max(10, self._parallelism),
            max_keepalive_connections=max(10, self._parallelism),
        )
        self._http = httpx.Client(
            base_url=self._base_url,
            transport=transport if transport is not None else DeadlineTransport(limits),
            headers=headers,
            timeout=httpx.Timeout(min(timeout_s, request_timeout_s)),
            follow_redirects=False,
            limits=limits,
        )

    @classmethod
    def for_environment(
        cls,
        env: Environment,
        project_root: Path,
        *,
        environ: Mapping[str, str] | None = None,
        parallelism: int = 10,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> Client:
        """A client for one environment of sigmaform.yaml (`local:DIR` runs the emulator here)."""
        endpoint = resolve(env, project_root, os.environ if environ is None else environ)
        key = endpoint.api_key.reveal() if endpoint.api_key else None
        label = f"{endpoint.key_label} (environment `{env.name}`)"
        transport: httpx.BaseTransport | None = None
        if endpoint.local_dir is not None:
            # Imported here: only `local:` environments pay for loading the emulator.
            from sigmaform.emulator import EmulatorApp

            # The CLI never reads the journal back: its file is the record (no per-request
            # bodies held in memory for a whole apply).
            app = EmulatorApp(data_dir=endpoint.local_dir, keep_journal=False)
            transport = httpx.WSGITransport(app=app)
        client = cls(
            endpoint.base_url,
            key,
            transport=transport,
            retry=retry,
            request_timeout_s=env.request_timeout,
            parallelism=parallelism,
            key_label=label,
            key_variable=endpoint.key_label,
        )
        client.profile = load_profile(project_root, env.name)
        return client

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """For messages: without any `user:password@`."""
        return self._display_url

    @property
    def parallelism(self) -> int:
        return self._parallelism

    @property
    def key_variable(self) -> str:
        """Where the key comes from (a variable's name), for messages; never the key."""
        return self._key_variable

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        key = f"{MASK} from {self._key_label}" if self._key is not None else "none"
        return f"Client({self._display_url!r}, api_key={key}, parallelism={self._parallelism})"

    # -- kinds ---------------------------------------------------------------------------
    # What to send for each kind lives in its module (sigmaform/kinds/); these are the
    # primitives a kind calls, and named shorthands the rest of the code reads well with.

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        missing_ok: bool = False,
        recover: Callable[[], Any] | None = None,
    ) -> Any:
        """One logical request (retried as is safe): the parsed body, or `MISSING`."""
        return self._call(
            method, path, params=params, body=body, missing_ok=missing_ok, recover=recover
        )

    def list_all(
        self,
        path: str,
        id_field: str,
        params: dict[str, Any] | None = None,
        each: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """Every item of a list endpoint, paged or a bare array; `each` is applied to each
        item as its page arrives."""
        return self._list_all(path, id_field, params, each)

    def create_agent(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create an agent; a lost response is resolved by looking the agent up, not resent."""
        return AGENT.create(self, body)

    def get_agent(self, agent_id: str) -> dict[str, Any] | None:
        return AGENT.get(self, agent_id)

    def update_agent(self, agent_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        return AGENT.update(self, agent_id, patch)

    def delete_agent(self, agent_id: str) -> None:
        AGENT.delete(self, agent_id)

    def list_agents(
        self, then: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        return AGENT.list(self, then=then)

    def find_agents_by_name(self, agent_name: str) -> list[dict[str, Any]]:
        return [a for a in self.list_agents() if a.get("agentName") == agent_name]

    def get_phone_number(self, number: str) -> dict[str, Any] | None:
        return PHONE_NUMBER.get(self, number)

    def list_phone_numbers(self) -> list[dict[str, Any]]:
        return PHONE_NUMBER.list(self)

    def update_phone_number(self, number: str, patch: dict[str, Any]) -> dict[str, Any]:
        return PHONE_NUMBER.update(self, number, patch)

    def create_chat(
        self, agent_id: str, input_text: str, dynamic_variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Start a chat session. Not idempotent and not findable: a lost response is an error."""
        body: dict[str, Any] = {"agentId": agent_id, "input": input_text}
        if dynamic_variables is not None:
            body["dynamicVariables"] = dynamic_variables
        return _as_object(self._call("POST", CHATS, body=body), "POST", CHATS)

    def get_chat(self, chat_id: str) -> dict[str, Any] | None:
        return CHAT.get(self, chat_id)

    def update_chat(self, chat_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        return CHAT.update(self, chat_id, patch)

    # -- workspace ---------------------------------------------------------------------

    def workspace_id(self) -> str | None:
        """The key's workspace, when the API shows it: None if nothing here carries it.

        Of the objects sigmaform reads, the docs show `workspaceId` only on webhook
        resources (sigmamind-api.md 2.3.1), so one is listed; a workspace without webhooks
        does not say which it is.
        """
        try:
            result = self._call("GET", WEBHOOKS, params={"page": 0, "size": 1})
        except ApiError as error:
            # Knowing the workspace is a safeguard, not a need: a server without this list
            # (or failing on it) leaves the missing-resources check to do the work.
            log.debug("could not learn the workspace: %s", error)
            return None
        page = result if isinstance(result, list) else _as_object(result, "GET", WEBHOOKS)
        items = page if isinstance(page, list) else page.get("data") or []
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("workspaceId"), str):
                return str(item["workspaceId"])
        return None

    # -- probes ------------------------------------------------------------------------

    def probe(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None
    ) -> Any:
        """One raw request for `sigmaform doctor`: the parsed body as sent, no translation.

        A failure is an ApiError carrying the status (a 404 too). A POST whose outcome is
        unknown is not repeated.
        """
        return self._call(method, path, params=params, body=body)

    # -- concurrency -------------------------------------------------------------------

    def map_concurrent(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R | BaseException]:
        """`fn` over `items` on up to `parallelism` threads; results (or exceptions) in order."""
        if not items:
            return []
        workers = min(self._parallelism, len(items))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sigmaform") as pool:
            futures = [pool.submit(fn, item) for item in items]
            results: list[R | BaseException] = []
            for future in futures:
                # exception() waits without raising, so Ctrl-C in this thread still interrupts.
                error = future.exception()
                results.append(error if error is not None else future.result())
        return results

    # -- the request loop --------------------------------------------------------------

    def _list_all(
        self,
        path: str,
        id_field: str,
        params: dict[str, Any] | None = None,
        each: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        for page in range(MAX_PAGES):
            query = {**(params or {}), "page": page, "size": PAGE_SIZE}
            result = self._call("GET", path, params=query)
            chunk: Any
            if isinstance(result, list):  # an unpaginated server answered with everything
                chunk, has_next = result, False
            else:
                wrapper = _as_object(result, "GET", path)
                chunk = wrapper.get("data")
                if not isinstance(chunk, list):
                    # Read as "no agents", a lost create would be sent again: a duplicate.
                    raise _unexpected(path, f"page {page} of the list has no `data` list")
                has_next = _has_next(wrapper, page, len(chunk))
            added = 0
            for item in chunk:
                key = item.get(id_field) if isinstance(item, dict) else None
                if not isinstance(key, str) or not key:
                    raise _unexpected(
                        path, f"page {page} of the list holds an item without its `{id_field}`"
                    )
                if key in seen:
                    continue
                seen.add(key)
                items.append(item if each is None else each(item))
                added += 1
            if not has_next:
                return items
            if not added:
                raise _unexpected(
                    path,
                    f"page {page} of the list says more follow but adds nothing new"
                    " (empty or repeated)",
                )
        raise ApiError(
            "GET",
            path,
            None,
            f"the list still says more follow after {MAX_PAGES} pages of {PAGE_SIZE}"
            f" ({MAX_PAGES * PAGE_SIZE:,} items, the most sigmaform reads): stopped",
        )

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        missing_ok: bool = False,
        recover: Callable[[], Any] | None = None,
    ) -> Any:
        """Send one logical request, retrying what is safe; the parsed JSON body, or _MISSING.

        POST is not repeatable: when its outcome is unknown it is sent again only after
        `recover()` found no trace of it (what it finds is returned instead); without
        `recover` it fails.
        """
        content = None
        headers: dict[str, str] = {}
        if body is not None:
            content = json.dumps(reveal_tree(body), separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
        budget = Budget(self._retry)
        while True:
            budget.attempted()
            self.stats.record_request(method, len(content or b""))
            sent_at = time.monotonic()
            outcome: httpx.Response | httpx.TransportError
            try:
                with deadline(self._request_timeout):
                    outcome = self._http.request(
                        method, path, params=params, content=content, headers=headers
                    )
            except httpx.TransportError as exc:
                outcome = exc
                # A read cut short by the deadline (not by its own timeout) ends right at it;
                # the slack covers a timer that fires a hair early.
                if time.monotonic() - sent_at >= self._request_timeout - 0.01:
                    outcome = _DeadlinePassed(self._request_timeout)
            elapsed_ms = (time.monotonic() - sent_at) * 1000
            if isinstance(outcome, httpx.Response):
                log.debug("%s %s -> %d (%.0f ms)", method, path, outcome.status_code, elapsed_ms)
            else:
                log.debug("%s %s -> %s (%.0f ms)", method, path, type(outcome).__name__, elapsed_ms)
            if isinstance(outcome, httpx.Response):
                self._answered = True
                if outcome.status_code < 300:
                    return _parse(outcome, method, path)
                if outcome.status_code == 404 and missing_ok:
                    return _MISSING

            def error(outcome: httpx.Response | httpx.TransportError = outcome) -> ApiError:
                return self._error(outcome, method, path, budget)

            verdict, retry_after = _classify(outcome)
            if isinstance(outcome, _DeadlinePassed):
                # A server this slow is not helped by asking again; a create it may have
                # acted on is looked up first, as for any lost answer.
                found = self._recover_or_fail(recover, error) if method == "POST" else None
                if found is not None:
                    return found.value
                raise error()
            if verdict is _Verdict.FATAL:
                raise error()
            if (
                isinstance(outcome, httpx.ConnectError)
                and not self._answered
                and budget.attempts >= FIRST_CONTACT_ATTEMPTS
            ):
                # Nothing has ever answered at this address: a wrong baseUrl or a server
                # that is not running. Once it has answered, a refusal is a restart: the
                # whole budget applies.
                raise self._never_answered(error())
            if verdict is _Verdict.UNCERTAIN and method == "POST":
                found = self._recover_or_fail(recover, error)
                if found is not None:
                    return found.value
            delay = budget.next_delay(retry_after=retry_after)
            if delay is None:
                raise error()
            self.stats.record_retry()
            log.debug("retrying %s %s in %.2f s", method, path, delay)
            time.sleep(delay)

    @staticmethod
    def _recover_or_fail(
        recover: Callable[[], Any] | None, error: Callable[[], ApiError]
    ) -> _Recovered | None:
        """Ask `recover` whether a request of unknown outcome acted; fail if we cannot tell."""
        if recover is None:
            failure = error()
            reason = "it may or may not have taken effect, so it was not repeated"
        else:
            try:
                value = recover()
            except ApiError as lookup:
                failure = error()
                reason = f"checking whether it took effect failed too ({lookup})"
            else:
                return _Recovered(value) if value is not None else None
        raise ApiError(failure.method, failure.path, failure.status, f"{failure.message}; {reason}")

    # -- errors ------------------------------------------------------------------------

    def _never_answered(self, failure: ApiError) -> ApiError:
        hint = (
            "; nothing has answered at this address in this run: check the environment's "
            "baseUrl (or SIGMAMIND_BASE_URL) and that the server is running"
        )
        url = httpx.URL(self._base_url)
        if url.host in _LOOPBACK:
            port = ("--port", str(url.port)) if url.port else ()
            hint += f" (the local emulator: `{invocation.command('emulator', *port)}`)"
        return ApiError(failure.method, failure.path, failure.status, failure.message + hint)

    def _error(
        self, outcome: httpx.Response | httpx.TransportError, method: str, path: str, budget: Budget
    ) -> ApiError:
        """The ApiError for a final failure: the server's message, never our request or key."""
        if not isinstance(outcome, httpx.Response):
            message = f"could not reach {self._display_url}: {_describe(outcome)}"
            return ApiError(method, path, None, self._scrub(message + _tries(budget)))
        status = outcome.status_code
        try:
            parsed = outcome.json()
        except (ValueError, UnicodeDecodeError, RecursionError):
            parsed = None
        if _too_deep(parsed):
            parsed = None
        payload = parsed if isinstance(parsed, dict) else {}
        # Scrubbed before it is cut short: half a secret is still a leak.
        if payload:
            message = self._scrub(str(payload.get("message") or payload.get("error") or ""))
        else:
            message = self._scrub(outcome.text.strip().replace("\n", " "))[:200]
        message = message or outcome.reason_phrase or f"HTTP {status}"
        if status == 401:
            message = (
                f"the API key from {self._key_label} was rejected ({message}); check that it"
                " is current and belongs to the right workspace"
            )
        elif status == 429:
            message = f"rate limited ({message})"
        elif 300 <= status < 400:
            message = f"unexpected redirect ({message}); check the base URL"
        message = self._scrub(message + _tries(budget))
        return ApiError(method, path, status, message, body=self._scrub_tree(payload))

    def _scrub(self, text: str) -> str:
        """A server that echoes our request (key, secrets) must not put it in an error."""
        text = scrub(text)
        if self._key is not None and self._key.reveal() != LOCAL_API_KEY:
            text = re.sub(re.escape(self._key.reveal()), MASK, text, flags=re.IGNORECASE)
        return text

    def _scrub_tree(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._scrub(value)
        if isinstance(value, dict):
            return {k: self._scrub_tree(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub_tree(v) for v in value]
        return value


@dataclass(frozen=True)
class _Recovered:
    """A lost create that recovery found: the value to return instead of retrying."""

    value: Any


_MISSING: Any = MISSING  # a 404 the caller said it expects


class _DeadlinePassed(httpx.TimeoutException):
    """An attempt that outlived the total per-request deadline (`requestTimeout`)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"no complete answer within the {seconds:g} s request deadline"
            " (requestTimeout in sigmaform.yaml)"
        )


def _unexpected(path: str, what: str) -> ApiError:
    return ApiError("GET", path, None, f"{what}: not a list sigmaform can trust")


def _too_deep(value: Any) -> bool:
    """Whether `value` nests deeper than MAX_DEPTH (iterative: no recursion to overflow)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _parse(response: httpx.Response, method: str, path: str) -> Any:
    if not response.content:
        return None
    try:
        parsed = response.json()
    except (ValueError, UnicodeDecodeError):
        raise ApiError(
            method, path, response.status_code, "the server answered with something not JSON"
        ) from None
    except RecursionError:  # nested past Python's own limit
        raise ApiError(
            method, path, response.status_code, f"the answer nests deeper than {MAX_DEPTH} levels"
        ) from None
    if _too_deep(parsed):
        raise ApiError(
            method, path, response.status_code, f"the answer nests deeper than {MAX_DEPTH} levels"
        )
    return parsed


def _as_object(value: Any, method: str, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApiError(method, path, None, "the server answered without the expected object")
    return value


def _has_next(wrapper: dict[str, Any], page: int, count: int) -> bool:
    if isinstance(wrapper.get("hasNext"), bool):
        return bool(wrapper["hasNext"])
    total_pages = wrapper.get("totalPages")
    if isinstance(total_pages, int):
        return page + 1 < total_pages
    return count >= PAGE_SIZE


class _Verdict(Enum):
    RETRY = "retry"  # the request did not act (429, no connection): send it again
    UNCERTAIN = "uncertain"  # it may have acted (502/503/504, lost connection)
    FATAL = "fatal"  # retrying cannot help (4xx, 500, a bad URL)


def _classify(outcome: httpx.Response | httpx.TransportError) -> tuple[_Verdict, float | None]:
    """What a failed attempt means for retrying, and the server's requested wait if any."""
    if isinstance(outcome, httpx.Response):
        if outcome.status_code == 429:
            return _Verdict.RETRY, parse_retry_after(outcome.headers.get("Retry-After"))
        if outcome.status_code in _RETRY_STATUSES:
            return _Verdict.UNCERTAIN, None
        return _Verdict.FATAL, None
    if isinstance(outcome, _UNSENT_ERRORS):
        return _Verdict.RETRY, None
    if isinstance(outcome, _UNCERTAIN_ERRORS):
        return _Verdict.UNCERTAIN, None
    return _Verdict.FATAL, None


def _tries(budget: Budget) -> str:
    if budget.attempts <= 1:
        return ""
    return f" (after {budget.attempts} attempts over {budget.elapsed:.1f} s)"


def _describe(exc: httpx.TransportError) -> str:
    text = str(exc).lower()
    if isinstance(exc, _DeadlinePassed):
        return str(exc)
    if isinstance(exc, httpx.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, httpx.ConnectError):
        if "refused" in text:
            return "connection refused"
        if "name or service" in text or "nodename" in text or "getaddrinfo" in text:
            return "host name not found"
        return f"could not connect ({exc})" if str(exc) else "could not connect"
    if isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout | httpx.PoolTimeout):
        return "timed out waiting for the server"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return "the connection was dropped"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
