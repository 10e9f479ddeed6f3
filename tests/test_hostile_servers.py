"""Servers are untrusted input: small hostile API servers on loopback, driven by the real CLI.

Each server answers from a script, records what it was asked, and stops with its test
(every connection is closed by then; a dripping answer ends when the server does).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sigmaform.cli import cli
from sigmaform.client import FIRST_CONTACT_ATTEMPTS

KEY = "sk-hostile-test-7f3a9c"
SECRET = "whsec-Hostile-Secret-51d0"


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query
    query: str
    body: Any


# What a script returns: the whole raw answer, or pieces sent with a pause before each.
Answer = bytes | list[tuple[float, bytes]]


def json_answer(status: int, body: Any, headers: dict[str, str] | None = None) -> bytes:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(data)}\r\nConnection: close\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    return head.encode() + b"\r\n" + data


@dataclass
class Hostile:
    """A tiny HTTP/1.1 server: `script(request)` decides each answer."""

    script: Callable[[Request], Answer]
    requests: list[Request] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def serve(self, listener: socket.socket) -> None:
        listener.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            while len(rest) < length:
                rest += conn.recv(65536)
            path, _, query = target.partition("?")
            request = Request(method, path, query, json.loads(rest) if rest else None)
            self.requests.append(request)
            answer = self.script(request)
            pieces = [(0.0, answer)] if isinstance(answer, bytes) else answer
            try:
                for pause, piece in pieces:
                    if self.stop.wait(pause):
                        return
                    conn.sendall(piece)
            except OSError:
                return  # the client gave up: that is the point of some scripts

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method in ("POST", "PATCH", "DELETE")]


@contextmanager
def hostile(script: Callable[[Request], Answer]) -> Iterator[tuple[Hostile, str]]:
    server = Hostile(script)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    thread = threading.Thread(target=server.serve, args=(listener,), daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.stop.set()
        thread.join(5)
        listener.close()


AGENT = """kind: Agent
name: support
spec:
  agentName: Support
  instructions: Help.
  agentSettings:
    webhooks:
      - name: events
        url: https://hooks.example/x
        secret: "${secret.HOOK_SECRET}"
        events: [conversation_ended]
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    (root / "agents").mkdir(parents=True)
    (root / "sigmaform.yaml").write_text(
        "version: 1\nresources: ['agents/*.yaml']\n"
        "environments:\n  live:\n    apiKeyEnv: HOSTILE_KEY\n    requestTimeout: 1\n"
    )
    (root / "agents" / "support.yaml").write_text(AGENT)
    monkeypatch.setenv("HOSTILE_KEY", KEY)
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    return root


def run(root: Path, base_url: str, *args: str) -> Any:
    result = CliRunner().invoke(
        cli,
        ["-C", str(root), "-e", "live", *args],
        env={"SIGMAMIND_BASE_URL": base_url},
        catch_exceptions=False,
    )
    assert "Traceback" not in result.output
    assert KEY not in result.output and SECRET not in result.output
    return result


def agents_page(data: Any, has_next: bool = False, page: int = 0) -> bytes:
    return json_answer(200, {"data": data, "page": page, "size": 100, "hasNext": has_next})


def page_of(request: Request) -> int:
    for part in request.query.split("&"):
        if part.startswith("page="):
            return int(part[5:])
    return 0


def test_a_server_dripping_its_answer_is_cut_off_at_the_request_deadline(
    project: Path,
) -> None:
    def drip(request: Request) -> Answer:
        # One byte of the status line every 0.3 s: each read succeeds, the whole never ends.
        return [(0.3, bytes([b])) for b in json_answer(200, {"data": []}) * 100]

    with hostile(drip) as (server, url):
        started = time.monotonic()
        result = run(project, url, "plan")
        took = time.monotonic() - started
    assert result.exit_code == 1
    assert (
        "Error: GET /v1/agents: could not reach http://127.0.0.1:" in result.output
        and "no complete answer within the 1 s request deadline (requestTimeout in sigmaform.yaml)"
        in result.output
    )
    assert took < 5, took  # 1 s and no retry, not a read timeout per byte
    assert len(server.requests) == 1


def test_request_timeout_must_be_a_positive_number(project: Path) -> None:
    config = project / "sigmaform.yaml"
    config.write_text(config.read_text().replace("requestTimeout: 1", "requestTimeout: 0"))
    result = run(project, "http://127.0.0.1:9", "validate")
    assert result.exit_code == 1
    assert "environments.live.requestTimeout" in result.output


def test_a_list_that_says_hasnext_forever_on_the_same_page_is_an_error(project: Path) -> None:
    def same_page(request: Request) -> Answer:
        return agents_page([{"agentId": "a1", "agentName": "Other"}], has_next=True)

    with hostile(same_page) as (server, url):
        result = run(project, url, "apply", "--auto-approve")
    assert result.exit_code == 1
    assert (
        "Error: GET /v1/agents: page 1 of the list says more follow but adds nothing new"
        " (empty or repeated): not a list sigmaform can trust" in result.output
    )
    assert len(server.requests) == 2 and server.writes() == []


def test_a_list_that_never_ends_stops_at_the_documented_maximum(project: Path) -> None:
    def endless(request: Request) -> Answer:
        page = page_of(request)
        return agents_page([{"agentId": f"a{page}", "agentName": f"A{page}"}], has_next=True)

    with hostile(endless) as (server, url):
        result = run(project, url, "plan")
    assert result.exit_code == 1
    assert (
        "Error: GET /v1/agents: the list still says more follow after 1000 pages of 100"
        " (100,000 items, the most sigmaform reads): stopped" in result.output
    )
    assert len(server.requests) == 1000


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ({"items": []}, "has no `data` list"),
        ({"data": None, "hasNext": False}, "has no `data` list"),
        ({"data": {"agentId": "x"}}, "has no `data` list"),
        (
            {"data": [{"agentName": "Support"}], "hasNext": False},
            "holds an item without its `agentId`",
        ),
        ({"data": ["a1"], "hasNext": False}, "holds an item without its `agentId`"),
    ],
)
def test_a_list_in_an_unexpected_shape_is_an_error_never_no_agents(
    project: Path, body: Any, what: str
) -> None:
    with hostile(lambda request: json_answer(200, body)) as (server, url):
        result = run(project, url, "apply", "--auto-approve")
    assert result.exit_code == 1
    assert f"Error: GET /v1/agents: page 0 of the list {what}" in result.output
    # Read as "no agents", the apply would have created (again) an agent that may exist.
    assert server.writes() == []


def test_a_create_answered_without_an_id_is_a_clean_error(project: Path) -> None:
    def no_id(request: Request) -> Answer:
        if request.method == "POST":
            return json_answer(200, {"agentName": "Support"})
        return agents_page([])

    with hostile(no_id) as (server, url):
        result = run(project, url, "apply", "--auto-approve")
    assert result.exit_code == 1
    assert (
        "agent.support: POST /v1/agents: the server answered the create of agent 'Support'"
        " without an `agentId`: it may exist now; `sigmaform plan` finds it by name"
    ) in result.output
    assert len(server.writes()) == 1
    assert not (project / ".sigmaform" / "state" / "live.json").exists()


def test_deeply_nested_json_is_a_clean_error(project: Path) -> None:
    deep = b"[" * 200_000 + b"]" * 200_000
    with hostile(lambda request: json_answer(200, deep)) as (_, url):
        result = run(project, url, "plan")
    assert result.exit_code == 1
    assert "Error: GET /v1/agents -> 200: the answer nests deeper than 64 levels" in result.output


def test_json_nested_just_past_the_limit_is_refused_too(project: Path) -> None:
    deep = {"data": [], "hasNext": False, "x": json.loads("[" * 70 + "]" * 70)}
    with hostile(lambda request: json_answer(200, deep)) as (_, url):
        result = run(project, url, "plan")
    assert result.exit_code == 1
    assert "the answer nests deeper than 64 levels" in result.output


@pytest.mark.parametrize("retry_after", ["-5", "nan", "-1e308"])
def test_a_retry_after_below_zero_or_not_a_number_does_not_stall(
    project: Path, retry_after: str
) -> None:
    def limited_once(request: Request) -> Answer:
        if len(server.requests) == 1:
            return json_answer(429, {"message": "slow down"}, {"Retry-After": retry_after})
        return agents_page([])

    with hostile(limited_once) as (server, url):
        started = time.monotonic()
        result = run(project, url, "plan", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert time.monotonic() - started < 5
    assert len(server.requests) == 2


@pytest.mark.parametrize("retry_after", ["1e12", "inf", "Fri, 31 Dec 9999 23:59:59 GMT"])
def test_an_absurd_retry_after_gives_up_at_once_without_waiting(
    project: Path, retry_after: str
) -> None:
    def limited(request: Request) -> Answer:
        return json_answer(429, {"message": "slow down"}, {"Retry-After": retry_after})

    with hostile(limited) as (server, url):
        started = time.monotonic()
        result = run(project, url, "plan")
    assert result.exit_code == 1
    assert "Error: GET /v1/agents -> 429: rate limited (slow down)" in result.output
    assert time.monotonic() - started < 5
    assert len(server.requests) == 1


def test_plain_http_to_a_name_under_localhost_is_refused(project: Path) -> None:
    result = run(project, "http://api.localhost:8080", "plan")
    assert result.exit_code == 1
    assert (
        "Error: environment `live`: refusing plain http:// for api.localhost: the API key"
        " would travel unencrypted" in result.output
    )


def test_a_server_echoing_the_request_in_its_error_never_prints_a_secret(project: Path) -> None:
    def echo(request: Request) -> Answer:
        if request.method == "POST":
            text = json.dumps(request.body)
            # The body as sent, upper-cased, and the key header as the server saw it.
            message = f"bad request {text} / {text.upper()} / key {KEY.upper()} {KEY}"
            return json_answer(400, {"message": message, "error": text})
        return agents_page([])

    with hostile(echo) as (server, url):
        result = run(project, url, "apply", "--auto-approve")
    assert result.exit_code == 1
    assert "agent.support: POST /v1/agents -> 400: bad request {" in result.output
    assert '"secret": "(sensitive)"' in result.output
    for needle in (SECRET, KEY):
        assert needle.lower() not in result.output.lower()
    assert server.requests[-1].body["agentSettings"]["webhooks"][0]["secret"] == SECRET


def test_a_plain_text_echo_is_scrubbed_before_it_is_cut_short(project: Path) -> None:
    def echo(request: Request) -> Answer:
        if request.method == "POST":
            # The secret straddles the 200th character, where long text errors are cut.
            text = ("x" * 190 + SECRET + " trailing").encode()
            head = b"HTTP/1.1 400 X\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            return head + f"Content-Length: {len(text)}\r\n\r\n".encode() + text
        return agents_page([])

    with hostile(echo) as (_, url):
        result = run(project, url, "apply", "--auto-approve")
    assert result.exit_code == 1
    assert SECRET[:8] not in result.output and "x" * 190 + "(sensitiv" in result.output


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (KEY + "\n", "has surrounding whitespace, a newline or another control character"),
        (" " + KEY, "has surrounding whitespace, a newline or another control character"),
        (KEY[:6] + "\r\n" + KEY[6:], "has surrounding whitespace, a newline or another"),
        (KEY + "é", "holds non-ASCII characters, which no API key has"),
    ],
)
def test_a_malformed_api_key_is_a_clean_error_that_never_shows_it(
    project: Path, monkeypatch: pytest.MonkeyPatch, key: str, message: str
) -> None:
    monkeypatch.setenv("HOSTILE_KEY", key)
    with hostile(lambda request: agents_page([])) as (server, url):
        result = run(project, url, "plan")
    assert result.exit_code == 1
    assert f"Error: the API key in HOSTILE_KEY {message}" in result.output
    assert KEY[:6] not in result.output and KEY[6:] not in result.output
    assert server.requests == []


def _closed_port() -> int:
    """A loopback port nobody listens on: a connection to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_an_address_where_nothing_listens_fails_soon_and_says_what_to_check(
    project: Path,
) -> None:
    port = _closed_port()
    result = run(project, f"http://127.0.0.1:{port}", "plan")
    assert result.exit_code == 1
    assert (
        f"Error: GET /v1/agents: could not reach http://127.0.0.1:{port}: connection refused "
        f"(after {FIRST_CONTACT_ATTEMPTS} attempts over "
    ) in result.output
    assert (
        "nothing has answered at this address in this run: check the environment's baseUrl "
        "(or SIGMAMIND_BASE_URL) and that the server is running (the local emulator: "
        f"`sigmaform -C {project} emulator --port {port}`)"
    ) in result.output


def test_a_password_in_the_base_url_is_never_shown(project: Path) -> None:
    port = _closed_port()
    result = run(project, f"https://bob:Url-Pass-8812@127.0.0.1:{port}", "plan")
    assert result.exit_code == 1
    assert f"could not reach https://***@127.0.0.1:{port}: connection refused" in result.output
    assert "Url-Pass-8812" not in result.output
    bad = run(project, "ftp://bob:Url-Pass-8812@host", "plan")
    assert bad.exit_code == 1 and "'ftp://***@host' is not an http(s) URL" in bad.output
    assert "Url-Pass-8812" not in bad.output


def test_a_lost_create_is_not_sent_again_when_the_list_cannot_be_read(project: Path) -> None:
    """The create's answer is lost (502); the lookup's list comes back in another shape.
    Read as "no agents", the create would be sent again: a duplicate."""
    lists = 0

    def script(request: Request) -> Answer:
        nonlocal lists
        if request.method == "POST":
            return json_answer(502, {"message": "bad gateway"})
        lists += 1
        return agents_page([]) if lists == 1 else json_answer(200, {"agents": []})

    with hostile(script) as (server, url):
        result = run(project, url, "apply", "--auto-approve")
    assert result.exit_code == 1
    assert (
        "agent.support: POST /v1/agents -> 502: bad gateway; checking whether it took effect"
        " failed too (GET /v1/agents: page 0 of the list has no `data` list" in result.output
    )
    assert len(server.writes()) == 1


def test_a_secret_inside_a_longer_value_is_scrubbed_alone_too(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "Code-Token-93af1e"
    monkeypatch.setenv("CODE_TOKEN", token)
    agent = project / "agents" / "support.yaml"
    declared = '  instructions: Help.\n  welcomeMessage: "Your code is ${secret.CODE_TOKEN}!"\n'
    agent.write_text(agent.read_text().replace("  instructions: Help.\n", declared))

    def echo(request: Request) -> Answer:
        if request.method == "POST":
            return json_answer(400, {"message": f"code {token.swapcase()} is not allowed"})
        return agents_page([])

    with hostile(echo) as (_, url):
        result = run(project, url, "apply", "--auto-approve")
    assert result.exit_code == 1
    assert "POST /v1/agents -> 400: code (sensitive) is not allowed" in result.output
    assert token.lower() not in result.output.lower()
