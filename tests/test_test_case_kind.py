"""TestCase's contract with the API, below the CLI: the emulator's answers as the docs show
them, the client reading a list either way it comes, `mockData` both ways, `gate` loaded."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest

from sigmaform.client import Client, RetryPolicy
from sigmaform.emulator import EmulatorApp, Faults
from sigmaform.kinds import TEST_CASE, kind_named
from sigmaform.kinds.test_case import mock_data_from_wire, mock_data_to_wire
from sigmaform.project import load_project

KEY = "sk-test-cases"
FAST = RetryPolicy(max_elapsed_s=5.0, base_delay_s=0.005, max_delay_s=0.05, max_attempts=3)


def new_agent(api: httpx.Client) -> str:
    made = api.post("/v1/agents", json={"agentName": "Support", "instructions": "Help."})
    assert made.status_code == 201, made.text
    return str(made.json()["agentId"])


def emulator() -> tuple[EmulatorApp, httpx.Client]:
    app = EmulatorApp()
    api = httpx.Client(
        transport=httpx.WSGITransport(app=app),
        base_url="http://sigmamind.local",
        headers={"X-API-Key": KEY},
    )
    return app, api


def test_the_emulator_answers_test_cases_as_the_docs_show() -> None:
    _, api = emulator()
    with api:
        agent = new_agent(api)
        body = {
            "agentId": agent,
            "userPrompt": "Ask for a refund.",
            "successCriteria": "No refund is promised.",
            "mockData": [{"variableName": "customer_name", "value": "Dana"}],
            "attempt": 5,
        }
        made = api.post("/v1/test-cases", json=body)
        assert made.status_code == 201, made.text
        case = made.json()
        assert case["testCaseId"].startswith("tc_")
        assert case["agent"] == {
            "agentId": agent,
            "name": "Support",
            "status": case["agent"]["status"],
        }
        assert isinstance(case["workspaceId"], str) and case["mockData"] == body["mockData"]
        path = f"/v1/test-cases/{case['testCaseId']}"
        # Every read names the agent; under another agent the case is not found.
        assert api.get(path).status_code == 400
        assert api.get(path, params={"agentId": agent}).json()["attempt"] == 5
        assert api.get(path, params={"agentId": new_agent(api)}).status_code == 404
        assert api.get("/v1/test-cases").status_code == 400
        listed = api.get("/v1/test-cases", params={"agentId": agent}).json()
        assert [c["testCaseId"] for c in listed] == [case["testCaseId"]]
        # PUT replaces the whole object: what it leaves out is gone.
        put = api.put(path, json={**body, "attempt": 2, "mockData": None})
        assert put.status_code == 200, put.text
        assert "mockData" not in put.json() and put.json()["attempt"] == 2
        for bad in ({"attempt": 0}, {"mockData": [{"value": "x"}]}, {"mockData": ["x"]}):
            refused = api.put(path, json={**body, **bad})
            assert refused.status_code == 400, refused.text
        assert api.delete(path, params={"agentId": agent}).status_code == 204
        assert api.get(path, params={"agentId": agent}).status_code == 404


def paged(app: EmulatorApp) -> Callable[[dict[str, Any], Any], Iterable[bytes]]:
    """The emulator, answering the test-case list in the paged wrapper (newer docs)."""

    def wrapped(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        captured: dict[str, Any] = {}

        def keep(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            captured.update(status=status, headers=headers)
            return lambda data: None

        chunks = b"".join(app(environ, keep))
        listing = environ["PATH_INFO"] == "/v1/test-cases" and environ["REQUEST_METHOD"] == "GET"
        if listing and captured["status"].startswith("200"):
            items = json.loads(chunks)
            chunks = json.dumps(
                {
                    "data": items,
                    "page": 0,
                    "size": 100,
                    "totalCount": len(items),
                    "totalPages": 1,
                    "hasNext": False,
                    "hasPrevious": False,
                }
            ).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], [*headers, ("Content-Length", str(len(chunks)))])
        return [chunks]

    return wrapped


@pytest.mark.parametrize("shape", ["bare array", "paged object"])
def test_the_list_is_read_as_a_bare_array_or_a_paged_object(shape: str) -> None:
    app, api = emulator()
    with api:
        agent = new_agent(api)
        for n in range(3):
            body = {"agentId": agent, "userPrompt": f"u{n}", "successCriteria": "s"}
            assert api.post("/v1/test-cases", json=body).status_code == 201
    served = app if shape == "bare array" else paged(app)
    transport = httpx.WSGITransport(app=served)  # type: ignore[arg-type]
    with Client("http://sigmamind.local", KEY, transport=transport, retry=FAST) as client:
        cases = TEST_CASE.list(client, {"agentId": agent})
    assert sorted(c["userPrompt"] for c in cases) == ["u0", "u1", "u2"]
    asked = [e for e in app.journal.entries if e.path == "/v1/test-cases" and e.method == "GET"]
    assert all(f"agentId={agent}" in e.query for e in asked)


def test_mock_data_is_a_map_in_files_and_pairs_on_the_wire() -> None:
    pairs = [{"variableName": "a", "value": "1"}, {"variableName": "b", "value": "2"}]
    assert mock_data_to_wire({"b": "2", "a": "1"}) == pairs  # by name: a stable body
    assert mock_data_from_wire(list(reversed(pairs))) == {"a": "1", "b": "2"}
    # A list the map cannot hold faithfully stays a list, so it shows as a change.
    twice = [{"variableName": "a", "value": "1"}, {"variableName": "a", "value": "2"}]
    assert mock_data_from_wire(twice) == twice
    assert mock_data_from_wire([{"value": "1"}]) == [{"value": "1"}]


def test_gate_is_loaded_onto_the_resource_and_never_into_the_spec(tmp_path: Path) -> None:
    (tmp_path / "sigmaform.yaml").write_text(
        'version: 1\nresources: ["res/*.yaml"]\nenvironments:\n'
        '  local: {baseUrl: "local:.sigmaform/emulator"}\n'
    )
    (tmp_path / "res").mkdir()
    (tmp_path / "res/agent.yaml").write_text(
        "kind: Agent\nname: support\nspec:\n  agentName: Support\n"
    )
    (tmp_path / "res/cases.yaml").write_text(
        "kind: TestCase\nname: rated\nspec:\n  agent: support\n  userPrompt: u\n"
        "  successCriteria: s\n  attempt: 4\ngate: {minPassRate: 0.75}\n---\n"
        "kind: TestCase\nname: plain\nspec:\n  agent: support\n  userPrompt: u\n"
        "  successCriteria: s\n"
    )
    resources = {r.address: r for r in load_project(tmp_path, "local").resources}
    rated, plain = resources["test-case.rated"], resources["test-case.plain"]
    assert rated.gate == {"minPassRate": 0.75} and "gate" not in rated.spec
    assert rated.spec["agent"] == "support" and rated.spec.get("attempt", 1) == 4
    assert plain.gate is None and plain.spec.get("attempt", 1) == 1
    assert resources["agent.support"].gate is None


def test_the_kind_is_named_however_it_is_spelt() -> None:
    for word in ("TestCase", "testcase", "test-case", "test_case"):
        assert kind_named(word) is TEST_CASE
    assert TEST_CASE.prefix == "test-case" and TEST_CASE.id_field == "testCaseId"


def test_a_lost_create_response_is_found_by_its_content_not_sent_again(tmp_path: Path) -> None:
    calm = EmulatorApp(data_dir=tmp_path)
    with httpx.Client(
        transport=httpx.WSGITransport(app=calm),
        base_url="http://sigmamind.local",
        headers={"X-API-Key": KEY},
    ) as api:
        agent = new_agent(api)
    # The same workspace, now losing responses: a create acts, then answers 502.
    app = EmulatorApp(data_dir=tmp_path, faults=Faults(drop_rate=0.5, seed=3))
    transport = httpx.WSGITransport(app=app)
    patient = RetryPolicy(max_elapsed_s=10.0, base_delay_s=0.001, max_delay_s=0.01, max_attempts=12)
    with Client("http://sigmamind.local", KEY, transport=transport, retry=patient) as client:
        made = [
            TEST_CASE.create(
                client,
                {"agentId": agent, "userPrompt": f"u{n}", "successCriteria": "s"},
                {"agentId": agent},
            )
            for n in range(10)
        ]
        held = TEST_CASE.list(client, {"agentId": agent})
    assert sorted(c["userPrompt"] for c in held) == [f"u{n}" for n in range(10)]
    assert {c["testCaseId"] for c in made} == {c["testCaseId"] for c in held}
    posts = [e for e in app.journal.entries if e.method == "POST" and e.path == "/v1/test-cases"]
    assert any(e.status == 502 for e in posts)  # responses were lost ...
    assert sum(e.status in (201, 502) for e in posts) == 10  # ... and none was sent twice
