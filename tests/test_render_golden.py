"""Golden renderings of one plan with every kind of change (text and markdown).

Regenerate after an intended change with: UPDATE_GOLDEN=1 pytest tests/test_render_golden.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from sigmaform.plan import Plan, build_plan
from sigmaform.remote import comparable_desired
from sigmaform.render import plan_json, plan_markdown, plan_text
from sigmaform.resource import Resource
from sigmaform.sensitive import Sensitive
from sigmaform.state import ResourceState, State

GOLDEN = Path(__file__).parent / "golden"
PROMPT = "You are Acme's support agent.\nBe brief.\nNever promise refunds.\nSay goodbye politely.\n"


def _agent(name: str, prompt: str, model: str, secret: str, url: str) -> Resource:
    return Resource(
        "Agent",
        name,
        {
            "agentName": f"Acme {name}",
            "instructions": prompt,
            "agentSettings": {
                "llmModel": model,
                "webhooks": [
                    {
                        "name": "events",
                        "url": url,
                        "events": ["conversation_ended"],
                        "secret": Sensitive(secret, "secret.HOOK"),
                    }
                ],
            },
        },
        f"agents/{name}.yaml",
    )


def _plan(*, allow_delete: bool = False) -> Plan:
    state = State(environment="staging", lineage="00000000-0000-4000-8000-000000000000", serial=7)
    old = _agent("support", PROMPT, "gpt-4o-mini", "s1", "https://h.example/a")
    gone = Resource("Agent", "legacy", {"agentName": "Old"}, "agents/legacy.yaml")
    kept = Resource("Agent", "vip", {"agentName": "VIP"}, "agents/vip.yaml", protect=True)
    line = Resource("PhoneNumber", "old-line", {"phoneNumber": "+14155550999"}, "n.yaml")
    ended = Resource("Chat", "demo", {"chatId": "chat_1", "agent": "support"}, "c.yaml")
    for r, rid in (
        (old, "SPIlVscbB0kkXBvZ"),
        (gone, "OLDAGENT00000001"),
        (kept, "VIPAGENT00000001"),
        (line, "+14155550999"),
        (ended, "chat_1"),
    ):
        state = state.with_resource(
            r.address,
            ResourceState(
                r.kind,
                rid,
                comparable_desired(r.spec, state.fingerprint_key),
                "sha256:x",
                "2026-11-21T10:00:00Z",
                protect=r.protect,
            ),
        )
    new_prompt = PROMPT.replace("Never promise refunds.", "Offer a refund only once.")
    new = _agent("support", new_prompt, "gpt-4o", "s2", "https://h.example/b")
    created = Resource("Agent", "receptionist", {"agentName": "Acme Front Desk"}, "r.yaml")
    number = Resource(
        "PhoneNumber",
        "main-line",
        {"phoneNumber": "+14155550123", "inboundAgent": "receptionist"},
        "numbers/main.yaml",
    )
    remote: dict[str, Any] = {
        "agent.support": {
            "agentId": "SPIlVscbB0kkXBvZ",
            "agentName": "Acme support (edited)",
            "instructions": PROMPT,
            "agentSettings": {
                "llmModel": "gpt-4o-mini",
                "webhooks": [
                    {
                        "webhookId": "wh_1",
                        "name": "events",
                        "url": "https://h.example/a",
                        "events": ["conversation_ended"],
                        "secret": "s1",
                    }
                ],
            },
        },
        "agent.legacy": {"agentId": "OLDAGENT00000001", "agentName": "Old"},
        # Adopted: the docs' object names the number `sipPhoneNumber` only.
        "phone-number.main-line": {"sipPhoneNumber": "+14155550123", "inboundAgentId": None},
        "chat.demo": {"chatId": "chat_1", "status": "ended", "agent": {"agentId": "x"}},
    }
    moved = Resource("Chat", "demo", {"chatId": "chat_1", "agent": "receptionist"}, "c.yaml")
    resources = [new, created, number, moved]
    return build_plan(resources, state, remote, allow_delete=allow_delete)


@pytest.mark.parametrize(
    ("name", "render"),
    [("plan.txt", plan_text), ("plan.md", plan_markdown), ("plan.json", plan_json)],
)
def test_golden(name: str, render: Any) -> None:
    rendered = render(_plan())
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(rendered)
    assert rendered == path.read_text()
    assert "s1" not in rendered.replace("wh_1", "") and '"s2"' not in rendered


def test_colour_only_when_asked() -> None:
    assert "\x1b[" not in plan_text(_plan())
    assert "\x1b[32m+\x1b[0m" in plan_text(_plan(), color=True)


def test_each_effect_is_counted_apart() -> None:
    skipped = _plan()
    assert skipped.summary.to_dict() == {
        "create": 1,
        "adopt": 1,
        "update": 1,
        "move": 0,
        "delete": 0,
        "forget": 0,
        "skipped": 2,
        "protected": 1,
        "unchanged": 1,
        "drifted": 1,
        "possibleDuplicates": 0,
    }
    allowed = _plan(allow_delete=True)
    counts = allowed.summary.to_dict()
    assert (counts["delete"], counts["forget"], counts["skipped"], counts["protected"]) == (
        1,
        1,
        0,
        1,
    )
    assert allowed.summary.line() == (
        "Plan: 1 to create, 1 to adopt, 1 to update, 1 to delete, 1 to forget, 1 protected, "
        "1 unchanged."
    )
    schema = json.loads((GOLDEN.parent.parent / "schemas" / "plan.schema.json").read_text())
    for plan in (skipped, allowed):
        jsonschema.Draft202012Validator(schema).validate(json.loads(plan_json(plan)))
    effects = {r["address"]: r["effect"] for r in json.loads(plan_json(allowed))["resources"]}
    assert effects == {
        "agent.receptionist": "create",
        "agent.support": "update",
        "phone-number.main-line": "adopt",
        "chat.demo": "no-op",
        "agent.legacy": "delete",
        "agent.vip": "protected",
        "phone-number.old-line": "forget",
    }
