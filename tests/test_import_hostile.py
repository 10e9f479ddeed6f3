"""`import` from a hostile server: every server value reaches the YAML through the emitter,
so no value can add a line, a tag, a document or an expression to the files it writes."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from conftest import Project

from sigmaform.emulator import running
from sigmaform.files import FileRef
from sigmaform.yamlload import load_documents

KEY = "sk-hostile-test-key"
INJECTED = "\n---\nkind: Agent\nname: injected\nspec:\n  agentName: injected\n"
PAYLOADS = [
    "!file ../.env",
    "${env.SIGMAMIND_API_KEY}",
    "${var.suffix} and $${literal} and {{customer_name}}",
    "a: b",
    "- item",
    "# not a comment",
    "'single' \"double\" `back`",
    "&anchor *alias",
    "line one\n  instructions: !file ../.env\n",
    "trailing spaces   \n\n",
    "\ttab first",
    "yes",
    "null",
    "0x1F",
    "1e3",
    "~",
    "{{customer_name}}",
    "emoji \U0001f600 and \u2028 separator",
    "---",
    "...",
]


def hostile_agent(agent_id: str, name: str, secret: str) -> dict[str, Any]:
    return {
        "agentId": agent_id,
        "agentName": name,
        "instructions": "Short prompt ${env.HOME}\n# heading\n!file ../.env",
        "welcomeMessageType": "static",
        "welcomeMessage": " | ".join(PAYLOADS),
        "agentSettings": {
            "language": "en_US",
            "llmModel": "gpt-4o",
            "webhooks": [
                {
                    "webhookId": "wh\n  secret: leaked",
                    "name": "events\n- !file ../.env",
                    "url": "https://hooks.example/${secret.OTHER}?a=1#frag",
                    "events": ["conversation_ended"],
                    "secret": secret,
                }
            ],
        },
        "tools": [{"type": "voice_end_call", "instruction": text} for text in PAYLOADS],
    }


class HostileServer:
    """Answers GET /v1/agents and GET /v1/agents/{id} with the given agents, exactly."""

    def __init__(self, agents: Iterable[dict[str, Any]]) -> None:
        self.agents = {a["agentId"]: a for a in agents}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        method = environ["REQUEST_METHOD"]
        # PATH_INFO is percent-decoded latin-1 by WSGI convention.
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
        with self._lock:
            self.requests.append((method, path))
        status, body = "404 Not Found", {"error": "not found", "status": 404}
        if method == "GET" and path == "/v1/agents":
            page = int(parse_qs(environ.get("QUERY_STRING", "")).get("page", ["0"])[0])
            data = list(self.agents.values()) if page == 0 else []
            status, body = "200 OK", {"data": data, "hasNext": False, "page": page}
        elif method == "GET" and path.startswith("/v1/agents/"):
            found = self.agents.get(path.removeprefix("/v1/agents/"))
            if found is not None:
                status, body = "200 OK", found
        raw = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json")])
        return [raw]


@pytest.fixture
def hostile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Project, HostileServer]]:
    project = Project(tmp_path / "p")
    assert project.run("init", str(project.root)).exit_code == 0
    (project.root / "agents" / "example.yaml").unlink()
    (project.root / ".env").write_text("SIGMAMIND_API_KEY=do-not-send-me\n")
    server = HostileServer(
        [
            hostile_agent("ag1" + INJECTED + "  instructions: !file ../.env\n#", "Evil", "s1"),
            hostile_agent("ag2 # comment", "Evil\n  instructions: !file ../.env", "s2"),
            hostile_agent("ag3'\"${var.suffix}", "${var.suffix}", "s3"),
        ]
    )
    with running(server) as base_url:
        monkeypatch.setenv("SIGMAMIND_BASE_URL", base_url)
        monkeypatch.setenv("SIGMAMIND_API_KEY", KEY)
        yield project, server


def test_hostile_values_round_trip_exactly_and_inject_nothing(
    hostile: tuple[Project, HostileServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    project, server = hostile
    imported = project.run("import", "--all")
    assert imported.exit_code == 0, imported.output
    assert "Recorded 3 agents in state" in imported.output

    # Ids are echoed escaped: a server cannot add lines to the output either.
    assert "(id ag1\\n---\\nkind: Agent\\nname: injected" in imported.output
    assert "  agentName: injected" not in imported.output.splitlines()
    assert not any(line.startswith(("kind:", "---")) for line in imported.output.splitlines())
    files = sorted((project.root / "agents").glob("*.yaml"))
    assert len(files) == 3
    for path in files:
        (doc,) = load_documents(path)  # one document each: nothing was injected
        assert not _file_refs(doc.data), path.read_text()
    ids = {r["id"] for r in project.state()["resources"].values()}
    assert ids == set(server.agents)

    # The placeholders hold each webhook's current secret, as `import` asks.
    variables = [line.strip() for line in imported.output.splitlines() if line.startswith("  ")]
    assert len(variables) == 3
    state = project.state()["resources"]
    for path in files:
        (doc,) = load_documents(path)
        (hook,) = doc.data["spec"]["agentSettings"]["webhooks"]
        variable = hook["secret"].removeprefix("${secret.").removesuffix("}")
        assert variable in variables
        agent = server.agents[state[f"agent.{doc.data['name']}"]["id"]]
        monkeypatch.setenv(variable, agent["agentSettings"]["webhooks"][0]["secret"])

    valid = project.run("validate")
    assert valid.exit_code == 0, valid.output
    # Refreshed plan: the files, rendered, hold exactly what the server holds.
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    assert "Plan: 0 to create, 0 to update, 0 to delete, 3 unchanged." in plan.output
    assert all(method == "GET" for method, _ in server.requests)
    assert "do-not-send-me" not in plan.output


def test_rendered_spec_equals_the_server_body(
    hostile: tuple[Project, HostileServer],
) -> None:
    from sigmaform.project import load_project

    project, server = hostile
    assert project.run("import", "--all").exit_code == 0
    loaded = load_project(project.root, "local", secrets="placeholder")
    state = project.state()["resources"]
    assert len(loaded.resources) == 3
    for resource in loaded.resources:
        body = copy.deepcopy(server.agents[state[resource.address]["id"]])
        spec = json.loads(json.dumps(resource.spec, default=str))
        hook = body["agentSettings"]["webhooks"][0]
        del hook["webhookId"], hook["secret"]
        del spec["agentSettings"]["webhooks"][0]["secret"]
        del body["agentId"]
        assert spec == body


def _file_refs(value: Any) -> list[FileRef]:
    if isinstance(value, FileRef):
        return [value]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _file_refs(v)]
    if isinstance(value, list):
        return [r for v in value for r in _file_refs(v)]
    return []


@pytest.mark.parametrize("where", ["agentName", "agentId", "tool"])
def test_text_no_file_can_hold_is_refused_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    project = Project(tmp_path / "p")
    assert project.run("init", str(project.root)).exit_code == 0
    (project.root / "agents" / "example.yaml").unlink()
    agent = hostile_agent("ag1", "Fine", "s1")
    if where == "agentName":
        agent["agentName"] = "half a pair \ud800"
    elif where == "agentId":
        agent["agentId"] = "ag\udc80"
    else:
        agent["tools"][0]["instruction"] = "\udfff"
    server = HostileServer([agent])
    with running(server) as base_url:
        monkeypatch.setenv("SIGMAMIND_BASE_URL", base_url)
        monkeypatch.setenv("SIGMAMIND_API_KEY", KEY)
        result = project.run("import", "--all")
    assert result.exit_code == 1, result.output
    assert "is not valid Unicode text (a lone surrogate)" in result.output
    assert "nothing was imported" in result.output
    assert list((project.root / "agents").glob("*.yaml")) == []
    assert not (project.root / ".sigmaform" / "state" / "local.json").exists()


def test_list_and_dry_run_echo_server_values_escaped(
    hostile: tuple[Project, HostileServer],
) -> None:
    project, _ = hostile
    listed = project.run("import", "--list")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert len(lines) == 4  # one per agent, then the count
    assert "ag1\\n---\\nkind: Agent" in listed.output
    assert "Evil\\n  instructions: !file ../.env" in listed.output
    preview = project.run("import", "--all", "--dry-run")
    assert preview.exit_code == 0, preview.output
    assert not any(
        line.startswith(("kind:", "---", "  agentName")) for line in preview.output.splitlines()
    )
    assert list((project.root / "agents").glob("*.yaml")) == []
