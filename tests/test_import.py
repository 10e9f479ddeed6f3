"""`sigmaform import` through the real CLI against the embedded emulator, and its pure parts."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Project
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sigmaform.files import FileRef, Mark
from sigmaform.importer import (
    imported_agent,
    secret_variable,
    slugify,
    unique_name,
)
from sigmaform.yamldump import dump_yaml

MODELS = ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "claude-sonnet-4-5-20250929"]
PLACEHOLDER = re.compile(r"\$\{secret\.([A-Z0-9_]+)\}")


@pytest.fixture
def fresh(tmp_path: Path) -> Project:
    """A project made by `sigmaform init`, its example agent applied."""
    project = Project(tmp_path / "fresh")
    made = project.run("init", str(project.root))
    assert made.exit_code == 0, made.output
    applied = project.run("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    return project


def create(project: Project, body: dict[str, Any]) -> dict[str, Any]:
    with project.api() as api:
        made = api.post("/v1/agents", json=body)
    assert made.status_code == 201, made.text
    result: dict[str, Any] = made.json()
    return result


def agent_body(i: int) -> dict[str, Any]:
    """Varied agents: settings, tools, analysis, webhooks (some with given secrets), prompts."""
    body: dict[str, Any] = {
        "agentName": f"Team {i % 7} Agent #{i}" + (" ${not-a-var}" if i % 9 == 0 else ""),
        "instructions": (
            "\n".join(f"Rule {n}: be kind to {{{{customer_name}}}}." for n in range(i % 6 + 1))
        ),
        "welcomeMessageType": "prompt" if i % 2 else "static",
        "welcomeMessage": f"Hello from {i}: yes" if i % 4 else "on",
        "agentSettings": {
            "llmModel": MODELS[i % len(MODELS)],
            "llmTemperature": round(0.1 * (i % 10), 1),
            "maxCallDuration": 5 + i,
            "ivrHangup": bool(i % 2),
            "agentTimezone": "Europe/Paris" if i % 3 else "UTC",
        },
    }
    if i % 3 == 0:
        body["tools"] = [
            {"type": "voice_end_call", "instruction": "End politely.\nThen hang up."},
            {"type": "voice_transfer_call", "transferTo": "+14155550100", "instruction": "x"},
        ]
    if i % 5 == 0:
        body["agentSettings"]["enablePostConversationInsights"] = True
        body["agentSettings"]["postConversationInsights"] = [
            {"insightName": "outcome", "analysisInstructions": "Did it work?", "dataType": "string"}
        ]
    if i % 4 == 0:
        hooks = [
            {
                "name": "events",
                "url": f"https://hooks.example/{i}",
                "events": ["conversation_ended"],
            }
        ]
        if i % 8 == 0:
            hooks[0]["secret"] = f"given-secret-{i}"
            hooks.append(
                {
                    "name": "audit log",
                    "url": "https://audit.example/",
                    "events": ["conversation_started"],
                }
            )
        body["agentSettings"]["webhooks"] = hooks
    return body


def secrets_for(project: Project) -> dict[str, str]:
    """The value each `${secret.X}` placeholder must hold: the secret the emulator keeps."""
    state = project.state()["resources"]
    remote = {a["agentId"]: a for a in project.agents()}
    values: dict[str, str] = {}
    for path in (project.root / "agents").glob("*.yaml"):
        doc = yaml.load(path.read_text(), Loader=_Loader)
        agent = remote[state[f"agent.{doc['name']}"]["id"]]
        hooks = {h["name"]: h for h in agent["agentSettings"]["webhooks"]}
        for hook in doc["spec"].get("agentSettings", {}).get("webhooks", []):
            if "secret" in hook:
                (name,) = PLACEHOLDER.findall(hook["secret"])
                values[name] = hooks[hook["name"]]["secret"]
    return values


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!file", lambda loader, node: FileRef(str(node.value), Mark(1, 1)))


def test_import_all_of_30_agents_then_plan_is_empty(
    fresh: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = [create(fresh, agent_body(i)) for i in range(30)]
    result = fresh.run("import", "--all")
    assert result.exit_code == 0, result.output
    assert "Recorded 30 agents in state" in result.output
    assert "agent.example" not in result.output  # already managed: skipped
    state = fresh.state()["resources"]
    assert {r["id"] for r in state.values()} >= {a["agentId"] for a in made}
    assert len(state) == 31

    printed = re.findall(r"^  ([A-Z0-9_]+)$", result.output, re.M)
    values = secrets_for(fresh)
    assert sorted(printed) == sorted(values)
    assert len(printed) == 8 + 4  # 8 agents with a webhook, 4 of them with a second
    for secret in values.values():
        assert secret not in result.output
        files = [p for p in (fresh.root / "agents").rglob("*") if p.is_file()]
        assert all(secret not in p.read_text() for p in files)
    for name, value in values.items():
        monkeypatch.setenv(name, value)

    valid = fresh.run("validate")
    assert valid.exit_code == 0, valid.output
    assert "OK: 31 resources valid" in valid.output
    before = len(fresh.journal())
    plan = fresh.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 0, plan.output
    assert "Plan: 0 to create, 0 to update, 0 to delete, 31 unchanged." in plan.output
    assert all(e["method"] == "GET" for e in fresh.journal()[before:])
    drift = fresh.run("drift")
    assert drift.exit_code == 0, drift.output


def test_import_writes_canonical_yaml_prompt_file_and_placeholders(
    fresh: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    (fresh.root / "schemas").mkdir()
    schema = fresh.run("schema", "agent")
    (fresh.root / "schemas" / "agent.schema.json").write_text(schema.output)
    prompt = "# Role\n\nYou help {{customer_name}}.\nCost: ${price}.\n"
    agent = create(
        fresh,
        {
            "agentName": "Billing Desk (EU)",
            "instructions": prompt,
            "agentSettings": {
                "enablePostConversationInsights": True,
                "webhooks": [
                    {
                        "name": "events",
                        "url": "https://h.example/",
                        "events": ["conversation_ended"],
                    }
                ],
            },
        },
    )
    result = fresh.run("import", agent["agentId"])
    assert result.exit_code == 0, result.output
    assert "agents/billing-desk-eu.yaml" in result.output
    assert "BILLING_DESK_EU_EVENTS_WEBHOOK_SECRET" in result.output
    text = (fresh.root / "agents" / "billing-desk-eu.yaml").read_text()
    lines = text.splitlines()
    assert lines[0] == "# yaml-language-server: $schema=../schemas/agent.schema.json"
    assert lines[2:4] == ["kind: Agent", "name: billing-desk-eu"]
    assert "spec:" in lines
    assert fresh.run("fmt", "--check").exit_code == 0  # written already formatted
    assert "  instructions: !file prompts/billing-desk-eu.md" in lines
    assert "    secret: ${secret.BILLING_DESK_EU_EVENTS_WEBHOOK_SECRET}" in text
    # Canonical (Update/GET) names; no server-owned fields.
    assert "enablePostConversationAnalysis: true" in text
    for owned in ("agentId", "createdAt", "updatedAt", "status", "webhookId", "active"):
        assert f"{owned}:" not in text
    prompt_file = fresh.root / "agents" / "prompts" / "billing-desk-eu.md"
    assert prompt_file.read_text() == prompt  # verbatim: !file text is not interpolated

    (hook,) = agent["agentSettings"]["webhooks"]
    monkeypatch.setenv("BILLING_DESK_EU_EVENTS_WEBHOOK_SECRET", hook["secret"])
    assert fresh.run("plan", "--detailed-exitcode").exit_code == 0
    # Another secret value is a change (a rotation), shown masked.
    monkeypatch.setenv("BILLING_DESK_EU_EVENTS_WEBHOOK_SECRET", "rotated")
    plan = fresh.run("plan", "--detailed-exitcode")
    assert plan.exit_code == 2
    assert "[0].secret: (sensitive, changed)" in plan.output
    assert "rotated" not in plan.output and hook["secret"] not in plan.output


def test_import_with_name_and_out_dir_then_edit_and_apply(fresh: Project) -> None:
    agent = create(fresh, {"agentName": "Sales", "instructions": "Sell.", "tools": []})
    fresh.edit("sigmaform.yaml", '["agents/**/*.yaml"]', '["agents/**/*.yaml", "more/*.yaml"]')
    result = fresh.run("import", agent["agentId"], "--name", "sales-line", "--out-dir", "more")
    assert result.exit_code == 0, result.output
    text = (fresh.root / "more" / "sales-line.yaml").read_text()
    assert text.startswith("# Imported by `sigmaform import` from SigmaMind agent")
    assert "  instructions: Sell.\n" in text
    assert fresh.run("plan", "--detailed-exitcode").exit_code == 0
    fresh.edit("more/sales-line.yaml", "instructions: Sell.", "instructions: Sell more.")
    before = len(fresh.journal())
    applied = fresh.run("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    (patch,) = fresh.writes(before)
    assert patch["body"] == {"instructions": "Sell more."}


def test_name_of_a_declared_unapplied_agent_adopts_it_as_the_planner_suggests(
    example: Project,
) -> None:
    with example.api() as api:
        made = api.post(
            "/v1/agents", json={"agentName": "Acme Support (local)", "instructions": "hand-made"}
        ).json()
    hint = example.command("import", made["agentId"], "--name", "support")
    assert hint in example.run("plan").output
    support = (example.root / "agents" / "support.yaml").read_text()
    adopted = example.run("import", made["agentId"], "--name", "support")
    assert adopted.exit_code == 0, adopted.output
    assert "Adopted agent.support" in adopted.output
    assert f"Run `{example.command('plan')}` to see where the remote differs" in adopted.output
    assert (example.root / "agents" / "support.yaml").read_text() == support
    state = example.state()["resources"]["agent.support"]
    assert state["id"] == made["agentId"] and state["configDigest"] == ""
    plan = example.run("plan")
    assert "~ agent.support  (update" in plan.output
    applied = example.run("apply", "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert len(example.agents()) == 3  # adopted and updated, not duplicated
    assert example.run("plan", "--detailed-exitcode").exit_code == 0


# -- errors: each exits 1 with a clear message and writes nothing ---------------------------


def _fails(project: Project, *args: str) -> str:
    files = sorted(p for p in project.root.rglob("*") if ".sigmaform" not in p.parts)
    state = project.state()
    result = project.run(*args)
    assert result.exit_code == 1, result.output
    assert sorted(p for p in project.root.rglob("*") if ".sigmaform" not in p.parts) == files
    assert project.state() == state
    assert "Traceback" not in result.output
    return str(result.output)


def test_unknown_id(fresh: Project) -> None:
    out = _fails(fresh, "import", "nope123")
    assert "Error: no agent with id `nope123` in environment `local`" in out


def test_agent_already_in_state(fresh: Project) -> None:
    agent_id = fresh.state()["resources"]["agent.example"]["id"]
    out = _fails(fresh, "import", agent_id)
    assert f"Error: agent.example already manages {agent_id}; nothing imported" in out


def test_name_collision_with_a_declared_resource_or_file(fresh: Project) -> None:
    clash = create(fresh, {"agentName": "Example"})
    out = _fails(fresh, "import", clash["agentId"])
    assert "name `example` is already declared in agents/example.yaml" in out
    assert "choose another with --name" in out
    (fresh.root / "agents" / "prompts" / "other.md").write_text("notes\n")
    out = _fails(fresh, "import", clash["agentId"], "--name", "other")
    assert "name `other` would overwrite agents/prompts/other.md" in out
    # --all names the way out for each clash.
    out = _fails(fresh, "import", "--all")
    hint = fresh.command("import", clash["agentId"], "--name", "NAME", env=None)
    assert f"import it on its own: `{hint}`" in out


def test_name_collision_with_state(fresh: Project) -> None:
    other = create(fresh, {"agentName": "Other"})
    (fresh.root / "agents" / "example.yaml").unlink()  # still in state as agent.example
    out = _fails(fresh, "import", other["agentId"], "--name", "example")
    assert "name `example` is already in state as agent.example" in out


def test_usage_errors(fresh: Project) -> None:
    assert "Error: nothing to import: give one or more AGENT_IDs, or --all" in _fails(
        fresh, "import"
    )
    assert "Error: --name names one agent: use it with exactly one AGENT_ID" in _fails(
        fresh, "import", "a", "b", "--name", "x"
    )
    assert "Error: --name names one agent" in _fails(fresh, "import", "--all", "--name", "x")
    assert "Error: give agent ids or --all, not both" in _fails(fresh, "import", "a", "--all")
    assert "Error: --name `Bad_Name`: use lowercase letters" in _fails(
        fresh, "import", "a", "--name", "Bad_Name"
    )
    assert "must be inside the project directory" in _fails(
        fresh, "import", "a", "--out-dir", "../elsewhere"
    )


def test_out_dir_not_covered_by_resource_globs_is_refused_and_rolled_back(fresh: Project) -> None:
    agent = create(fresh, {"agentName": "Lost", "instructions": "1\n2\n3\n4"})
    out = _fails(fresh, "import", agent["agentId"], "--out-dir", "elsewhere")
    assert "agent.lost: the written file is not matched by `resources:`" in out
    assert not list((fresh.root / "elsewhere").rglob("*.*"))


def test_nothing_to_import(fresh: Project) -> None:
    result = fresh.run("import", "--all")
    assert result.exit_code == 0
    assert "Nothing to import: every remote agent is already managed." in result.output


# -- pure parts ---------------------------------------------------------------------------


def test_slugify_and_unique_names() -> None:
    assert slugify("Acme Support (local)") == "acme-support-local"
    assert slugify("  ¡Hola!  ") == "hola"
    assert slugify("!!!") == "agent"
    assert len(slugify("x" * 200)) == 63
    assert unique_name("a", ["a", "a-2"]) == "a-3"
    long = "y" * 63
    assert unique_name(long, [long]) == "y" * 61 + "-2"
    assert secret_variable("sales-bot", "audit log") == "SALES_BOT_AUDIT_LOG_WEBHOOK_SECRET"
    assert secret_variable("a", "b", ["A_B_WEBHOOK_SECRET"]) == "A_B_WEBHOOK_SECRET_2"


def test_imported_agent_drops_server_fields_nulls_and_unknown_keys() -> None:
    body = {
        "agentId": "abc",
        "createdAt": "t",
        "updatedAt": "t",
        "status": "Live",
        "workspaceId": "ws",
        "agentName": "A ${x}",
        "instructions": "one\r\ntwo\r\nthree\r\nfour",
        "flowVersion": 3,
        "agentSettings": {
            "llmModel": "gpt-4o",
            "globalPrompt": None,
            "futureKnob": 1,
            "webhooks": [
                {
                    "webhookId": "wh_1",
                    "active": True,
                    "events": ["conversation_ended"],
                    "url": "https://x/",
                    "name": "e",
                    "secret": "s3cr3t",
                }
            ],
        },
    }
    agent = imported_agent(body, "a")
    assert agent.dropped == ("flowVersion", "agentSettings.futureKnob")
    assert agent.prompt is None  # `\r` would not survive a prompt file: kept inline
    assert agent.spec == {
        "agentName": "A $${x}",
        "instructions": "one\r\ntwo\r\nthree\r\nfour",
        "agentSettings": {
            "llmModel": "gpt-4o",
            "webhooks": [
                {
                    "name": "e",
                    "url": "https://x/",
                    "secret": "${secret.A_E_WEBHOOK_SECRET}",
                    "events": ["conversation_ended"],
                }
            ],
        },
    }
    assert agent.secret_variables == ("A_E_WEBHOOK_SECRET",)
    assert "s3cr3t" not in json.dumps(agent.spec)


@settings(max_examples=150, deadline=None)
# NUL is left out: the loader refuses it in any value (tests/test_files.py).
@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        max_size=80,
    )
)
@example("$${")
def test_any_string_survives_the_yaml_round_trip(text: str) -> None:
    from sigmaform.yamlload import load_documents

    agent = imported_agent({"agentId": "x", "agentName": "n", "welcomeMessage": text}, "n")
    written = dump_yaml({"kind": "Agent", "name": "n", "spec": agent.spec})
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.yaml"
        path.write_text(written, encoding="utf-8", newline="")
        (doc,) = load_documents(path, "a.yaml")
    # The file holds the text with every `${` escaped as `$${`, which interpolation reads back
    # as the original (a server value "$${" is written "$$${").
    assert doc.data["spec"]["welcomeMessage"] == text.replace("${", "$${")
