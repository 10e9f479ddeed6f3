"""The lifecycle matrix's TestCase rows: a test case through every step of its life.

The same world as `test_lifecycle_matrix.py` (examples/ with staging and prod as two
workspaces of one emulator, in process or over a loopback socket) and its helpers; for
each step the plan's text and JSON, the exit code, the request journal (the PUT bodies)
and the test cases the API holds afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from multienv import PROD_KEY, STAGING_KEY
from test_lifecycle_matrix import (
    PROTECTED,
    World,
    applied,
    clean,
    effects,
    plan,
    promoted,
    resource,
    world,
)

FILE = "agents/tests/refund.yaml"
ADDRESS = "test-case.refund-over-limit"
CASE_YAML = """\
kind: TestCase
name: refund-over-limit
spec:
  agent: support
  label: Refund above the limit goes to a human
  userPrompt: You bought a blender for 350 dollars and want your money back today.
  successCriteria: The agent does not promise the refund and offers a human.
  mockData: {customer_name: Dana, plan_name: Pro}
  attempt: 5
gate: {minPassRate: 0.8}
"""


def whole(agent_id: str, **changed: Any) -> dict[str, Any]:
    """The body every write of the case sends: the whole object, mockData as pairs."""
    body: dict[str, Any] = {
        "agentId": agent_id,
        "attempt": 5,
        "label": "Refund above the limit goes to a human",
        "mockData": [
            {"variableName": "customer_name", "value": "Dana"},
            {"variableName": "plan_name", "value": "Pro"},
        ],
        "successCriteria": "The agent does not promise the refund and offers a human.",
        "userPrompt": "You bought a blender for 350 dollars and want your money back today.",
    }
    return {**body, **changed}


def write_case(w: World, text: str = CASE_YAML) -> None:
    path = w.project.root / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def cases(w: World, env: str = "staging") -> list[dict[str, Any]]:
    """The test cases the API holds for the environment's support agent."""
    with w.api(env) as api:
        answer = api.get("/v1/test-cases", params={"agentId": w.id("agent.support", env)})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return list(body if isinstance(body, list) else body["data"])


def case_path(w: World, env: str = "staging") -> str:
    return f"/v1/test-cases/{w.id(ADDRESS, env)}"


def query(w: World, env: str = "staging") -> str:
    return f"agentId={w.id('agent.support', env)}"


def sent_with_query(w: World, since: int) -> list[tuple[str, str, str, Any]]:
    return [(e["method"], e["path"], e["query"], e["body"]) for e in w.project.writes(since)]


def baseline(w: World) -> None:
    """staging applied: three agents, the main line and the test case."""
    write_case(w)
    applied(w)
    clean(w)


def step_create(w: World) -> None:
    applied(w)
    write_case(w)
    text, data = plan(w)
    assert f"+ {ADDRESS}  (create)" in text
    assert 'agent: "support"\n' in text
    assert "Plan: 1 to create, 0 to update, 0 to delete, 4 unchanged." in text
    rp = resource(data, ADDRESS)
    assert (rp["action"], rp["effect"]) == ("create", "create")
    assert effects(data) == {"create": 1, "unchanged": 4}
    mark = w.mark()
    applied(w)
    support = w.id("agent.support")
    assert sent_with_query(w, mark) == [
        ("POST", "/v1/test-cases", f"agentId={support}", whole(support))
    ]
    (held,) = cases(w)
    assert held["testCaseId"] == w.id(ADDRESS)
    assert held["agent"]["agentId"] == support and held["attempt"] == 5
    graph = w.run("graph")  # the routing: a test case is no part of it
    assert graph.exit_code == 0 and "test-case" not in graph.output
    state = w.project.state("staging")["resources"][ADDRESS]
    assert ADDRESS.startswith("test-case.") and "kind" not in state  # the address says it
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", state["configDigest"])
    assert state["applied"]["mockData"] == {"customer_name": "Dana", "plan_name": "Pro"}


def step_update(w: World) -> None:
    baseline(w)
    w.project.edit(FILE, "attempt: 5", "attempt: 3")
    text, data = plan(w)
    assert f"~ {ADDRESS}  (update, id {w.id(ADDRESS)})" in text
    assert "attempt: 5 -> 3" in text
    assert "Plan: 0 to create, 1 to update, 0 to delete, 4 unchanged." in text
    assert effects(data) == {"update": 1, "unchanged": 4}
    mark = w.mark()
    applied(w)
    support = w.id("agent.support")
    # A PUT replaces the object: the whole declared case goes, not only `attempt`.
    assert sent_with_query(w, mark) == [("PUT", case_path(w), query(w), whole(support, attempt=3))]
    # ... and the write is verified by reading it back.
    reads = [e for e in w.project.journal()[mark:] if e["method"] == "GET"]
    assert any(e["path"] == case_path(w) for e in reads[-2:])
    assert w.get(f"{case_path(w)}?{query(w)}")["attempt"] == 3


def step_mock_data_order(w: World) -> None:
    """The map's order is not a change; its values are, and only they show."""
    baseline(w)
    w.project.edit(
        FILE, "{customer_name: Dana, plan_name: Pro}", "{plan_name: Pro, customer_name: Dana}"
    )
    assert w.run("plan", "--detailed-exitcode").exit_code == 0
    w.project.edit(FILE, "plan_name: Pro", "plan_name: Max")
    text, _ = plan(w)
    assert 'plan_name: "Pro" -> "Max"' in text and "customer_name" not in text
    mark = w.mark()
    applied(w)
    pairs = [
        {"variableName": "customer_name", "value": "Dana"},
        {"variableName": "plan_name", "value": "Max"},
    ]
    ((method, _, _, body),) = sent_with_query(w, mark)
    assert method == "PUT" and body["mockData"] == pairs


def step_delete(w: World) -> None:
    baseline(w)
    ident = w.id(ADDRESS)
    (w.project.root / FILE).unlink()
    text, _ = plan(w, "--allow-delete")
    assert f"- {ADDRESS}  (delete, id {ident})" in text
    mark = w.mark()
    left = w.run("apply", "--auto-approve")
    assert left.exit_code == 0 and "left alone: run with --allow-delete" in left.output
    assert w.project.writes(mark) == [] and len(cases(w)) == 1
    result = w.run("apply", "--auto-approve", "--allow-delete")
    assert result.exit_code == 0, result.output
    assert sent_with_query(w, mark) == [("DELETE", f"/v1/test-cases/{ident}", query(w), None)]
    assert cases(w) == []
    assert ADDRESS not in w.project.state("staging")["resources"]


def step_remote_edit(w: World) -> None:
    baseline(w)
    support = w.id("agent.support")
    edited = whole(support, successCriteria="Anything goes.")
    with w.api() as api:  # someone edits the case in the dashboard
        answer = api.put(case_path(w), params={"agentId": support}, json=edited)
    assert answer.status_code == 200, answer.text
    drift = w.run("drift")
    assert drift.exit_code == 2 and ADDRESS in drift.output
    text, data = plan(w)
    assert "Changed outside sigmaform (will be restored on apply):" in text
    assert f"~ {ADDRESS}  (update, id " in text
    assert rp_drifted(data)
    mark = w.mark()
    applied(w)
    assert sent_with_query(w, mark) == [("PUT", case_path(w), query(w), whole(support))]
    assert w.run("drift").exit_code == 0


def rp_drifted(data: dict[str, Any]) -> bool:
    return bool(resource(data, ADDRESS)["drift"]) and data["summary"]["drifted"] == 1


def step_remote_delete(w: World) -> None:
    baseline(w)
    old = w.id(ADDRESS)
    with w.api() as api:
        gone = api.delete(case_path(w), params={"agentId": w.id("agent.support")})
    assert gone.status_code == 204
    text, data = plan(w)
    assert f"+ {ADDRESS}  (create)" in text
    assert "note: deleted outside sigmaform: it will be created again" in text
    assert effects(data) == {"create": 1, "unchanged": 4}
    mark = w.mark()
    applied(w)
    support = w.id("agent.support")
    assert sent_with_query(w, mark) == [("POST", "/v1/test-cases", query(w), whole(support))]
    assert w.id(ADDRESS) != old and [c["testCaseId"] for c in cases(w)] == [w.id(ADDRESS)]


def step_killed(w: World) -> None:
    """An apply killed after the server made the case but before state recorded it (what
    `state rm` leaves too): the next plan finds it under its agent, records it by its id
    and sends nothing; one a person made alike in the dashboard besides makes two, and
    then neither is taken: the case is created."""
    write_case(w)
    applied(w)
    made = w.id(ADDRESS)
    forgot = w.run("state", "rm", ADDRESS)
    assert forgot.exit_code == 0, forgot.output
    text, data = plan(w)
    assert f"+ {ADDRESS}  (recover, id {made})" in text
    assert "recovered a test case created by an interrupted apply" in text
    assert resource(data, ADDRESS)["effect"] == "adopt"
    assert "Plan: 0 to create, 1 to adopt, 0 to update, 0 to delete, 4 unchanged." in text
    mark = w.mark()
    applied(w)
    assert w.project.writes(mark) == []
    assert w.id(ADDRESS) == made and [c["testCaseId"] for c in cases(w)] == [made]
    clean(w)

    support = w.id("agent.support")
    with w.api() as api:  # a second, identical case made by hand
        twin = api.post("/v1/test-cases", json=whole(support))
    assert twin.status_code == 201, twin.text
    assert w.run("state", "rm", ADDRESS).exit_code == 0
    text, _ = plan(w)
    assert f"+ {ADDRESS}  (create)\n" in text and "recovered" not in text
    mark = w.mark()
    applied(w)
    assert [(m, p) for m, p, _, _ in sent_with_query(w, mark)] == [("POST", "/v1/test-cases")]
    assert len(cases(w)) == 3


def step_agent_remote_delete(w: World) -> None:
    """Its agent deleted in the dashboard: both are created again, the case under the new
    agent (a test case cannot move to another agent)."""
    baseline(w)
    old_agent, old_case = w.id("agent.support"), w.id(ADDRESS)
    with w.api() as api:
        assert api.delete(f"/v1/agents/{old_agent}").status_code == 204
    text, data = plan(w)
    assert "+ agent.support  (create)" in text
    assert f"+ {ADDRESS}  (create)" in text
    assert "note: agent.support is created again: created again under it" in text
    assert resource(data, ADDRESS)["effect"] == "create"
    mark = w.mark()
    applied(w)
    new_agent = w.id("agent.support")
    # The case and the main line both follow the new agent, concurrently (one level).
    sent = [s for s in sent_with_query(w, mark) if "test-cases" in s[1]]
    assert sent == [("POST", "/v1/test-cases", f"agentId={new_agent}", whole(new_agent))]
    (held,) = cases(w)
    assert held["testCaseId"] == w.id(ADDRESS) != old_case
    assert held["agent"]["agentId"] == new_agent


def step_another_agent(w: World) -> None:
    """A case pointed at another agent cannot move: created under it, the old one deleted."""
    baseline(w)
    old_case, support = w.id(ADDRESS), w.id("agent.support")
    w.project.edit(FILE, "agent: support", "agent: receptionist")
    text, data = plan(w)
    assert f"+ {ADDRESS}  (create)" in text
    assert (
        "note: moves from agent.support to agent.receptionist: created under "
        "agent.receptionist, and the one under agent.support is deleted"
    ) in text
    assert effects(data) == {"create": 1, "unchanged": 4}
    mark = w.mark()
    applied(w)
    receptionist = w.id("agent.receptionist")
    assert sent_with_query(w, mark) == [
        ("POST", "/v1/test-cases", f"agentId={receptionist}", whole(receptionist)),
        ("DELETE", f"/v1/test-cases/{old_case}", f"agentId={support}", None),
    ]
    assert cases(w) == []
    with w.api() as api:
        held = api.get("/v1/test-cases", params={"agentId": receptionist}).json()
    assert [c["testCaseId"] for c in held] == [w.id(ADDRESS)]


def step_rename(w: World) -> None:
    baseline(w)
    ident = w.id(ADDRESS)
    w.project.edit(FILE, "name: refund-over-limit", "name: refund-to-human")
    config = w.project.root / "sigmaform.yaml"
    to = "test-case.refund-to-human"
    config.write_text(config.read_text() + f"moved:\n  - {{from: {ADDRESS}, to: {to}}}\n")
    text, data = plan(w)
    assert f"> {ADDRESS} -> {to} (moved)" in text
    assert "Plan: 0 to create, 0 to update, 0 to delete, 1 to move, 4 unchanged." in text
    rp = resource(data, to)
    assert (rp["action"], rp["movedFrom"], rp["id"]) == ("move", ADDRESS, ident)
    mark = w.mark()
    applied(w)
    assert w.project.writes(mark) == []
    resources = w.project.state("staging")["resources"]
    assert ADDRESS not in resources and resources[to]["id"] == ident
    assert len(cases(w)) == 1


def step_promote(w: World) -> None:
    """prod's copy is its own, bound to prod's agent; a later edit is promoted as a PUT."""
    baseline(w)
    tested = w.run("test")  # prod takes only what passed staging's tests
    assert tested.exit_code == 0, tested.output
    result = w.run("promote", "--to", "prod")
    assert result.exit_code == 0, result.output
    assert "Promotion gate passed" in result.output
    assert f"+ {ADDRESS}  (create)" in result.output
    mark = w.mark()
    promoted(w)
    prod_support = w.id("agent.support", "prod")
    assert prod_support != w.id("agent.support")
    posts = [s for s in sent_with_query(w, mark) if s[1] == "/v1/test-cases"]
    assert posts == [("POST", "/v1/test-cases", f"agentId={prod_support}", whole(prod_support))]
    (held,) = cases(w, "prod")
    assert held["agent"]["agentId"] == prod_support
    assert w.id(ADDRESS, "prod") != w.id(ADDRESS) and len(cases(w)) == 1
    clean(w, "prod")
    w.project.edit(FILE, "attempt: 5", "attempt: 2")
    refused = w.run("promote", "--to", "prod")
    assert refused.exit_code == 3 and ADDRESS in refused.output  # staging has not applied it
    applied(w)
    assert w.run("test").exit_code == 0
    mark = w.mark()
    promoted(w)
    path = f"/v1/test-cases/{w.id(ADDRESS, 'prod')}"
    assert sent_with_query(w, mark) == [
        ("PUT", path, f"agentId={prod_support}", whole(prod_support, attempt=2))
    ]
    clean(w, "prod")


def step_destroy(w: World) -> None:
    w.project.edit("agents/support.yaml", PROTECTED, "protect: false  #")
    baseline(w)
    ident, support = w.id(ADDRESS), w.id("agent.support")
    text, data = plan(w, "--destroy")
    assert f"  - {ADDRESS}  (delete, id {ident})" in text
    assert effects(data) == {"delete": 4, "forget": 1}
    mark = w.mark()
    result = w.run("destroy", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert "Destroy complete: 4 deleted, 1 forgotten." in result.output
    sent = [(m, p) for m, p, _, _ in sent_with_query(w, mark)]
    # The case goes before the agent it belongs to.
    assert sent.index(("DELETE", f"/v1/test-cases/{ident}")) < sent.index(
        ("DELETE", f"/v1/agents/{support}")
    )
    assert w.project.state("staging")["resources"] == {}
    applied(w)  # the files build it all again
    assert len(cases(w)) == 1


def step_wrong_key(w: World) -> None:
    baseline(w)
    w.project.edit(FILE, "attempt: 5", "attempt: 4")
    w.monkeypatch.setenv("SIGMAMIND_API_KEY_STAGING", PROD_KEY)
    mark = w.mark()
    for args in (("plan",), ("apply", "--auto-approve")):
        refused = w.run(*args)
        assert refused.exit_code == 3, refused.output
        assert "with the API key from SIGMAMIND_API_KEY_STAGING" in refused.output
        assert PROD_KEY not in refused.output and STAGING_KEY not in refused.output
    assert w.project.writes(mark) == []
    w.monkeypatch.setenv("SIGMAMIND_API_KEY_STAGING", STAGING_KEY)
    mark = w.mark()
    applied(w)
    support = w.id("agent.support")
    assert sent_with_query(w, mark) == [("PUT", case_path(w), query(w), whole(support, attempt=4))]


STEPS: dict[str, Callable[[World], None]] = {
    "create": step_create,
    "update": step_update,
    "mock-data": step_mock_data_order,
    "delete": step_delete,
    "remote-edit": step_remote_edit,
    "remote-delete": step_remote_delete,
    "killed": step_killed,
    "agent-remote-delete": step_agent_remote_delete,
    "another-agent": step_another_agent,
    "rename": step_rename,
    "promote": step_promote,
    "destroy": step_destroy,
    "wrong-key": step_wrong_key,
}
OVER_SOCKET = {"create", "update", "remote-edit", "remote-delete", "killed", "wrong-key"}


@pytest.mark.parametrize(
    "step",
    [
        pytest.param(s, id=f"test-case-{s}-{'socket' if s in OVER_SOCKET else 'in-process'}")
        for s in STEPS
    ],
)
def test_test_case_lifecycle(
    step: str, tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with world(tmp_path / "project", repo_root, monkeypatch, step in OVER_SOCKET) as w:
        STEPS[step](w)
        clean(w)


def test_import_of_an_agent_brings_its_test_cases_and_a_case_imports_by_id(
    tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with world(tmp_path / "project", repo_root, monkeypatch, socket=False) as w:
        baseline(w)
        with w.api() as api:  # an agent made in the dashboard, with one test case
            made = api.post("/v1/agents", json={"agentName": "Billing Desk", "instructions": "Hi."})
            assert made.status_code == 201, made.text
            billing = made.json()["agentId"]
            case = whole(billing, label="Invoice copy", mockData=[])
            case.pop("mockData")
            added = api.post("/v1/test-cases", json=case)
            assert added.status_code == 201, added.text
        mark = w.mark()
        result = w.run("import", billing, "--name", "billing")
        assert result.exit_code == 0, result.output
        assert "Imported test-case.invoice-copy (id " in result.output
        assert "agents/tests/invoice-copy.yaml" in result.output
        assert "Recorded 1 agent and 1 test case in state" in result.output
        assert w.project.writes(mark) == []
        written = (w.project.root / "agents/tests/invoice-copy.yaml").read_text()
        assert "kind: TestCase" in written and "agent: billing" in written
        assert "only:\n  - staging" in written
        assert w.id("test-case.invoice-copy") == added.json()["testCaseId"]
        clean(w)

        # One case by its id: bound to the managed agent it belongs to.
        ident = w.id(ADDRESS)
        forgot = w.run("state", "rm", ADDRESS)
        assert forgot.exit_code == 0, forgot.output
        (w.project.root / FILE).unlink()
        result = w.run("import", ident)
        assert result.exit_code == 0, result.output
        assert "Recorded 1 test case in state" in result.output
        name = "refund-above-the-limit-goes-to-a-human"
        written = (w.project.root / f"agents/tests/{name}.yaml").read_text()
        assert "agent: support" in written and "customer_name: Dana" in written
        assert w.id(f"test-case.{name}") == ident
        assert w.project.writes(mark) == []
        clean(w)

        unknown = w.run("import", "tc_nothing")
        assert unknown.exit_code == 1
        assert "no agent with id `tc_nothing` in environment `staging`" in unknown.output
        assert "Traceback" not in unknown.output
