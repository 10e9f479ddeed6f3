"""The planner is pure: desired + state (+ remote) -> Plan."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from sigmaform.diff import MISSING
from sigmaform.errors import ConfigError
from sigmaform.plan import Action, Plan, build_plan, normalise_targets
from sigmaform.remote import comparable_desired
from sigmaform.resource import Resource
from sigmaform.sensitive import MASK, Sensitive
from sigmaform.state import ResourceState, State


def agent(name: str = "support", **spec: Any) -> Resource:
    body: dict[str, Any] = {
        "agentName": f"Acme {name}",
        "instructions": "Be brief.",
        "agentSettings": {"llmModel": "gpt-4o-mini", "language": "en_US"},
    }
    body.update(spec)
    return Resource(kind="Agent", name=name, spec=body, source=f"agents/{name}.yaml")


def applied(state: State, *resources: Resource, ids: dict[str, str] | None = None) -> State:
    for r in resources:
        rid = (ids or {}).get(r.name, f"id-{r.name}")
        state = state.with_resource(
            r.address,
            ResourceState(
                kind=r.kind,
                id=rid,
                applied=comparable_desired(r.spec, state.fingerprint_key),
                config_digest="sha256:x",
                applied_at="2026-11-21T10:00:00Z",
                protect=r.protect,
            ),
        )
    return state


def by_address(plan: Plan) -> dict[str, Any]:
    return {r.address: r for r in plan.resources}


def test_new_resource_is_a_create_with_every_field() -> None:
    plan = build_plan([agent()], State.new("dev"))
    (rp,) = plan.resources
    assert rp.action is Action.CREATE
    assert {c.path for c in rp.changes} == {
        "agentName",
        "instructions",
        "agentSettings.llmModel",
        "agentSettings.language",
    }
    assert plan.summary.line() == "Plan: 1 to create, 0 to update, 0 to delete, 0 unchanged."


def test_unchanged_resource_is_a_noop() -> None:
    state = applied(State.new("dev"), agent())
    plan = build_plan([agent()], state)
    assert [r.action for r in plan.resources] == [Action.NOOP]
    assert not plan.has_changes


def test_one_setting_changed_is_one_unit() -> None:
    state = applied(State.new("dev"), agent())
    changed = agent(agentSettings={"llmModel": "gpt-4o", "language": "en_US"})
    (rp,) = build_plan([changed], state).resources
    assert rp.action is Action.UPDATE
    assert [(c.path, c.before, c.after) for c in rp.changes] == [
        ("agentSettings.llmModel", "gpt-4o-mini", "gpt-4o")
    ]


def test_field_removed_from_yaml_is_no_longer_managed_not_changed() -> None:
    state = applied(State.new("dev"), agent(welcomeMessage="Hi"))
    (rp,) = build_plan([agent()], state).resources
    assert rp.action is Action.NOOP
    assert rp.unmanaged == ("welcomeMessage",)


def test_int_and_float_that_are_equal_are_no_change_but_bool_is() -> None:
    state = applied(State.new("dev"), agent(agentSettings={"ttsSpeed": 1}))
    (same,) = build_plan([agent(agentSettings={"ttsSpeed": 1.0})], state).resources
    assert same.action is Action.NOOP
    state = applied(State.new("dev"), agent(agentSettings={"ivrHangup": 1}))
    (rp,) = build_plan([agent(agentSettings={"ivrHangup": True})], state).resources
    assert rp.action is Action.UPDATE


def test_secret_is_masked_and_rotation_shows_as_change() -> None:
    hook = {"name": "events", "url": "https://h.example", "events": ["conversation_ended"]}
    old = agent(agentSettings={"webhooks": [{**hook, "secret": Sensitive("s1", "secret.X")}]})
    new = agent(agentSettings={"webhooks": [{**hook, "secret": Sensitive("s2", "secret.X")}]})
    state = applied(State.new("dev"), old)
    assert not build_plan([old], state).has_changes
    (rp,) = build_plan([new], state).resources
    (change,) = rp.changes
    assert change.path == "agentSettings.webhooks" and change.sensitive
    assert [(d.path, d.before, d.after) for d in change.details] == [("[0].secret", MASK, MASK)]
    assert "s1" not in repr(rp) and "s2" not in repr(rp)


def test_file_gone_is_a_delete_and_protection_is_noted() -> None:
    keep = Resource("Agent", "keep", {"agentName": "K"}, "a.yaml", protect=True)
    state = applied(State.new("dev"), keep, agent("other"))
    plan = build_plan([], state)
    rows = by_address(plan)
    assert rows["agent.keep"].action is Action.DELETE and rows["agent.keep"].protect
    assert any("protected" in n for n in rows["agent.keep"].notes)
    assert rows["agent.other"].action is Action.DELETE


def test_refresh_shows_drift_and_plans_restoring_it() -> None:
    state = applied(State.new("dev"), agent(), ids={"support": "A1"})
    remote = {
        "agent.support": {
            "agentId": "A1",
            "agentName": "Acme support",
            "instructions": "Changed in the dashboard.",
            "agentSettings": {"llmModel": "gpt-4o-mini", "language": "en_US", "ttsSpeed": 1.0},
            "createdAt": "2026-11-21T10:00:00Z",
        }
    }
    (rp,) = build_plan([agent()], state, remote).resources
    assert rp.action is Action.UPDATE
    assert [(d.path, d.after) for d in rp.drift] == [("instructions", "Changed in the dashboard.")]
    assert [(c.path, c.after) for c in rp.changes] == [("instructions", "Be brief.")]


def test_refresh_server_defaults_and_owned_fields_are_not_changes() -> None:
    state = applied(State.new("dev"), agent(), ids={"support": "A1"})
    remote = {
        "agent.support": {
            "agentId": "A1",
            "agentName": "Acme support",
            "instructions": "Be brief.",
            "status": "Live",
            "agentSettings": {"llmModel": "gpt-4o-mini", "language": "en_US", "llmTopK": 40},
            "tools": [],
        }
    }
    assert not build_plan([agent()], state, remote).has_changes


def test_remote_gone_is_planned_as_create_with_a_note() -> None:
    state = applied(State.new("dev"), agent())
    (rp,) = build_plan([agent()], state, {"agent.support": None}).resources
    assert rp.action is Action.CREATE
    assert any("deleted outside sigmaform" in n for n in rp.notes)


def test_references_give_dependencies_and_order() -> None:
    number = Resource(
        "PhoneNumber",
        "main",
        {"phoneNumber": "+14155550123", "inboundAgent": "support", "outboundAgent": None},
        "n.yaml",
    )
    plan = build_plan([number, agent()], State.new("dev"))
    assert [r.address for r in plan.resources] == ["agent.support", "phone-number.main"]
    assert plan.resources[1].depends_on == ("agent.support",)
    assert plan.resources[1].action is Action.CREATE
    assert any("adopts" in n for n in plan.resources[1].notes)


def test_remote_reference_ids_map_back_to_names() -> None:
    number = Resource(
        "PhoneNumber", "main", {"phoneNumber": "+14155550123", "inboundAgent": "support"}, "n"
    )
    ids = {"support": "A1", "main": "+14155550123"}
    state = applied(State.new("dev"), agent(), number, ids=ids)
    remote = {
        "agent.support": {"agentId": "A1", **agent().spec},
        "phone-number.main": {"phoneNumber": "+14155550123", "inboundAgentId": "A1"},
    }
    assert not build_plan([agent(), number], state, remote).has_changes
    remote["phone-number.main"] = {"phoneNumber": "+14155550123", "inboundAgentId": "OTHER"}
    rows = by_address(build_plan([agent(), number], state, remote))
    (change,) = rows["phone-number.main"].changes
    assert (change.before, change.after) == ("id:OTHER", "support")


def test_targets_limit_the_plan() -> None:
    plan = build_plan([agent("a"), agent("b")], State.new("dev"), targets=["agent.b"])
    assert [r.address for r in plan.resources] == ["agent.b"]


def test_target_syntax() -> None:
    assert normalise_targets(["Agent.support", "phone-number.x", "PhoneNumber.y"]) == (
        "agent.support",
        "phone-number.x",
        "phone-number.y",
    )
    with pytest.raises(ConfigError, match=r"expected KIND\.NAME"):
        normalise_targets(["Bogus.x"])


def test_plan_round_trips_through_its_dict() -> None:
    state = applied(State.new("dev"), agent())
    plan = build_plan([agent(instructions="New text")], state)
    again = Plan.from_dict(plan.to_dict(), "plan.json")
    assert again.to_dict() == plan.to_dict()
    assert again.resources[0].changes[0].before == "Be brief."
    assert build_plan([], State.new("dev")).resources == ()
    assert MISSING is not None


def test_a_plan_built_without_digests_differs_only_in_them_and_cannot_be_written() -> None:
    state = applied(State.new("dev"), agent(), agent("sales"))
    desired = [agent(instructions="New text"), agent("sales"), agent("billing")]
    full = build_plan(desired, state)
    bare = build_plan(desired, state, digests=False)
    assert full.digested and full.config_digest.startswith("sha256:")
    assert all(r.config_digest for r in full.resources if r.action is not Action.DELETE)
    assert not bare.digested and {r.config_digest for r in bare.resources} == {""}
    assert [replace(r, config_digest="") for r in full.resources] == list(bare.resources)
    assert bare.summary == full.summary
    with pytest.raises(ValueError, match="digests"):
        bare.to_dict()


def test_chat_agent_summary_object_and_prefixed_ids_map_to_names() -> None:
    chat = Resource(
        "Chat", "demo", {"chatId": "chat_1", "agent": "support", "dynamicVariables": {}}, "c"
    )
    ids = {"support": "A1", "demo": "chat_1"}
    state = applied(State.new("dev"), agent(), chat, ids=ids)
    summary = {"name": "Acme support", "agentId": "agent_A1", "status": "Live"}
    remote = {
        "agent.support": {"agentId": "A1", **agent().spec},
        "chat.demo": {"chatId": "chat_1", "agent": summary, "dynamicVariables": {}},
    }
    assert not build_plan([agent(), chat], state, remote).has_changes
