"""The shipped JSON Schemas: well formed, accept the examples and the vendor's example body,
and reject each documented enum and limit."""

from __future__ import annotations

import copy
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

SCHEMAS = ("agent", "phone-number", "chat", "project")
KIND_SCHEMA = {"Agent": "agent", "PhoneNumber": "phone-number", "Chat": "chat"}
ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
UPDATE_AGENT_PAGE = Path("/work/shared/docs-page-update-agent.txt")


def load(name: str) -> dict[str, Any]:
    text = (resources.files("sigmaform.schemas") / f"{name}.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def errors(name: str, doc: Any) -> list[str]:
    validator = Draft202012Validator(load(name))
    return [
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(doc)
    ]


def agent(**spec: Any) -> dict[str, Any]:
    return {"kind": "Agent", "name": "support", "spec": {"agentName": "Support", **spec}}


def settings(**values: Any) -> dict[str, Any]:
    return agent(agentSettings=values)


@pytest.mark.parametrize("name", SCHEMAS)
def test_schema_is_valid_draft_2020_12(name: str) -> None:
    schema = load(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/{name}.schema.json")
    assert schema["title"] and schema["description"]


# --- the example project, rendered the way the design says (vars, secrets, !file, overrides)


class _ExampleLoader(yaml.SafeLoader):
    pass


def _file_tag(loader: yaml.SafeLoader, node: yaml.Node) -> str:
    assert isinstance(node, yaml.ScalarNode)
    base = Path(loader.name).parent
    return (base / loader.construct_scalar(node)).read_text("utf-8")


_ExampleLoader.add_constructor("!file", _file_tag)


def _render(value: Any, variables: dict[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _render(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, variables) for v in value]
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            scope, key = match.group(1), match.group(2)
            return str(variables[key]) if scope == "var" else "a-secret-value"

        return re.sub(r"\$\{(var|secret|env)\.([A-Za-z0-9_]+)\}", sub, value)
    return value


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = _merge(base.get(key), value)
        return out
    return override


def _example_documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(EXAMPLES.glob("*/**/*.yaml")):
        with path.open(encoding="utf-8") as stream:
            loader = _ExampleLoader(stream)
            loader.name = str(path)
            try:
                while loader.check_data():
                    docs.append((str(path.relative_to(EXAMPLES)), loader.get_data()))
            finally:
                loader.dispose()
    return docs


def test_example_project_file_validates() -> None:
    project = yaml.safe_load((EXAMPLES / "sigmaform.yaml").read_text("utf-8"))
    assert errors("project", project) == []
    assert set(project["environments"]) == {"local", "staging", "prod"}


def test_examples_cover_every_kind_used() -> None:
    names = {doc["name"] for _, doc in _example_documents()}
    assert names == {"support", "appointment-reminder", "receptionist", "main-line"}


@pytest.mark.parametrize("environment", ["local", "staging", "prod"])
def test_every_example_resource_validates_when_rendered(environment: str) -> None:
    project = yaml.safe_load((EXAMPLES / "sigmaform.yaml").read_text("utf-8"))
    variables = project["environments"][environment]["vars"]
    for source, doc in _example_documents():
        rendered = dict(doc)
        override = doc.get("environments", {}).get(environment, {})
        rendered["spec"] = _render(_merge(doc["spec"], override), variables)
        assert errors(KIND_SCHEMA[doc["kind"]], rendered) == [], source


def test_every_example_file_names_its_schema() -> None:
    for path in [EXAMPLES / "sigmaform.yaml", *sorted(EXAMPLES.glob("*/**/*.yaml"))]:
        first = path.read_text("utf-8").splitlines()[0]
        match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
        assert match, path
        assert (path.parent / match.group(1)).resolve().is_file(), path


# --- the vendor's own example


def _update_agent_request_body() -> dict[str, Any]:
    text = UPDATE_AGENT_PAGE.read_text("utf-8")
    start = text.index("--data '") + len("--data '")
    body: dict[str, Any] = json.loads(text[start : text.index("'", start)])
    return body


@pytest.mark.skipif(not UPDATE_AGENT_PAGE.exists(), reason="vendor page not beside the repo")
def test_update_agent_page_example_body_validates_as_spec() -> None:
    body = _update_agent_request_body()
    # The page redacts the number ("+9187788XXXXX"); with digits it is the E.164 the UI demands.
    transfer = body["tools"][0]
    assert transfer["transferTo"] == "+9187788XXXXX"
    assert any("does not match" in e for e in errors("agent", agent(**body)))
    transfer["transferTo"] = "+918778812345"
    assert errors("agent", {"kind": "Agent", "name": "auralis", "spec": body}) == []


def test_update_agent_response_tool_shape_validates() -> None:
    tool = {
        "type": "voice_transfer_call",
        "nodeId": "n1",
        "toolName": "transfer",
        "instruction": "When asked",
        "transferToRouting": "static",
        "transferTo": "{{manager_phone}}",
        "extensionNumber": "1234",
        "transferSettings": {
            "transferType": "warm",
            "ringingDuration": 40,
            "waitForParticipantAnswer": True,
            "enableWhisperMessage": True,
            "whisperMessage": "Caller needs billing help",
            "whisperMessageType": "static",
            "enableThreeWayMessage": True,
            "threeWayMessage": "Connecting you now",
            "threeWayMessageType": "prompt",
            "customHeaders": {"X-Queue": "billing"},
        },
    }
    assert errors("agent", agent(tools=[tool])) == []


# --- each documented enum and limit rejects a bad value

WEBHOOK = {"name": "events", "url": "https://example.com/hook", "events": ["conversation_ended"]}
TRANSFER = {"type": "voice_transfer_call", "transferTo": "+14155550100"}

BAD_AGENTS: dict[str, tuple[dict[str, Any], str]] = {
    "kind": ({"kind": "Agnet", "name": "a", "spec": {"agentName": "A"}}, "kind"),
    "name pattern": ({"kind": "Agent", "name": "Support", "spec": {"agentName": "A"}}, "name"),
    "name too long": ({"kind": "Agent", "name": "a" * 64, "spec": {"agentName": "A"}}, "name"),
    "missing spec": ({"kind": "Agent", "name": "a"}, ""),
    "missing agentName": ({"kind": "Agent", "name": "a", "spec": {}}, "spec"),
    "agentName 129": (agent(agentName="x" * 129), "spec/agentName"),
    "agentName empty": (agent(agentName=""), "spec/agentName"),
    "welcomeMessageType": (agent(welcomeMessageType="dynamic"), "spec/welcomeMessageType"),
    "unknown spec field": (agent(agentNmae="x"), "spec"),
    "instructions not string": (agent(instructions=["a"]), "spec/instructions"),
    "protect not bool": ({**agent(), "protect": "yes"}, "protect"),
    "only unknown shape": ({**agent(), "only": ["Prod!"]}, "only/0"),
    "only empty": ({**agent(), "only": []}, "only"),
    "llmModel": (settings(llmModel="gpt-3"), "spec/agentSettings/llmModel"),
    "analysis model": (
        settings(postConversationAnalysisLlmModel="gpt-3"),
        "spec/agentSettings/postConversationAnalysisLlmModel",
    ),
    "temperature > 2": (settings(llmTemperature=2.5), "spec/agentSettings/llmTemperature"),
    "topP > 1": (settings(llmTopP=1.5), "spec/agentSettings/llmTopP"),
    "topK < 0": (settings(llmTopK=-1), "spec/agentSettings/llmTopK"),
    "topK float": (settings(llmTopK=1.5), "spec/agentSettings/llmTopK"),
    "remindersLimit < 0": (settings(remindersLimit=-1), "spec/agentSettings/remindersLimit"),
    "interruption > 1": (
        settings(interruptionSensitivity=1.1),
        "spec/agentSettings/interruptionSensitivity",
    ),
    "starts plan > 1": (
        settings(aiStartsSpeakingPlan=2),
        "spec/agentSettings/aiStartsSpeakingPlan",
    ),
    "stops plan < 0": (
        settings(aiStopsSpeakingPlan=-0.1),
        "spec/agentSettings/aiStopsSpeakingPlan",
    ),
    "maxCallDuration string": (
        settings(maxCallDuration="40"),
        "spec/agentSettings/maxCallDuration",
    ),
    "language bool": (settings(language=False), "spec/agentSettings/language"),
    "unknown setting": (settings(llmModle="gpt-4o"), "spec/agentSettings"),
    "create-page enable": (
        settings(enablePostConversationInsights=True),
        "spec/agentSettings",
    ),
    "create-page model": (
        settings(postConversationInsightsLlmModel="gpt-4o"),
        "spec/agentSettings",
    ),
    "create-page list": (settings(postConversationInsights=[]), "spec/agentSettings"),
    "create-page item field": (
        settings(
            postConversationAnalysis=[
                {"insightName": "x", "insightInstructions": "y", "analysisInstructions": "y"}
            ]
        ),
        "spec/agentSettings/postConversationAnalysis/0",
    ),
    "analysis item missing instructions": (
        settings(postConversationAnalysis=[{"insightName": "x"}]),
        "spec/agentSettings/postConversationAnalysis/0",
    ),
    "webhook event": (
        settings(webhooks=[{**WEBHOOK, "events": ["conversation_analyzed"]}]),
        "spec/agentSettings/webhooks/0/events/0",
    ),
    "webhook no events": (
        settings(webhooks=[{**WEBHOOK, "events": []}]),
        "spec/agentSettings/webhooks/0/events",
    ),
    "webhook url": (
        settings(webhooks=[{**WEBHOOK, "url": "ftp://example.com"}]),
        "spec/agentSettings/webhooks/0/url",
    ),
    "webhook name 129": (
        settings(webhooks=[{**WEBHOOK, "name": "w" * 129}]),
        "spec/agentSettings/webhooks/0/name",
    ),
    "webhook unknown field": (
        settings(webhooks=[{**WEBHOOK, "secrets": "x"}]),
        "spec/agentSettings/webhooks/0",
    ),
    "tool type": (agent(tools=[{"type": "sms"}]), "spec/tools/0/type"),
    "transferTo not E.164": (
        agent(tools=[{**TRANSFER, "transferTo": "4155550100"}]),
        "spec/tools/0/transferTo",
    ),
    "transferTo too short": (
        agent(tools=[{**TRANSFER, "transferTo": "+123"}]),
        "spec/tools/0/transferTo",
    ),
    "transferTo missing": (agent(tools=[{"type": "voice_transfer_call"}]), "spec/tools/0"),
    "transferType": (
        agent(tools=[{**TRANSFER, "transferSettings": {"transferType": "hot"}}]),
        "spec/tools/0/transferSettings/transferType",
    ),
    "whisperMessageType": (
        agent(tools=[{**TRANSFER, "transferSettings": {"whisperMessageType": "x"}}]),
        "spec/tools/0/transferSettings/whisperMessageType",
    ),
    "threeWayMessageType": (
        agent(tools=[{**TRANSFER, "transferSettings": {"threeWayMessageType": "x"}}]),
        "spec/tools/0/transferSettings/threeWayMessageType",
    ),
    "override unknown field": (
        {**agent(), "environments": {"prod": {"agentSettings": {"llmModel": "gpt-9"}}}},
        "environments/prod/agentSettings/llmModel",
    ),
    "override env name": (
        {**agent(), "environments": {"Prod": {"welcomeMessage": "hi"}}},
        "environments",
    ),
    "unknown top-level key": ({**agent(), "specs": {}}, ""),
}


@pytest.mark.parametrize("case", sorted(BAD_AGENTS))
def test_agent_schema_rejects(case: str) -> None:
    doc, where = BAD_AGENTS[case]
    found = errors("agent", doc)
    assert found, f"{case}: accepted"
    assert any(e.split(": ", 1)[0] == where for e in found), found


def test_override_needs_no_required_fields() -> None:
    doc = {**agent(), "environments": {"prod": {"agentSettings": {"llmModel": "gpt-4o"}}}}
    assert errors("agent", doc) == []


def test_fast_tier_models_and_all_events_accepted() -> None:
    doc = settings(
        llmModel="gpt-4o-mini-fast-tier",
        webhooks=[
            {
                **WEBHOOK,
                "events": ["conversation_started", "conversation_ended", "conversation_analysed"],
                "secret": "${secret.X}",
                "webhookId": "wh_1",
                "active": False,
            }
        ],
    )
    assert errors("agent", doc) == []


PHONE = {"kind": "PhoneNumber", "name": "main-line", "spec": {"phoneNumber": "+14155550123"}}


def phone(**spec: Any) -> dict[str, Any]:
    doc = copy.deepcopy(PHONE)
    doc["spec"].update(spec)
    return doc


def test_phone_number_accepts_agent_names_and_null() -> None:
    assert errors("phone-number", phone(inboundAgent="support", outboundAgent=None)) == []


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        (phone(phoneNumber="14155550123"), "spec/phoneNumber"),
        (phone(phoneNumber="+0155550123"), "spec/phoneNumber"),
        (phone(friendlyName="f" * 129), "spec/friendlyName"),
        (phone(inboundAgent="Support Agent"), "spec/inboundAgent"),
        (phone(inboundAgentId="abc"), "spec"),
        ({"kind": "PhoneNumber", "name": "x", "spec": {}}, "spec"),
    ],
)
def test_phone_number_schema_rejects(doc: dict[str, Any], where: str) -> None:
    found = errors("phone-number", doc)
    assert any(e.split(": ", 1)[0] == where for e in found), found


CHAT = {"kind": "Chat", "name": "demo", "spec": {"chatId": "chat_d17T6uReChpyfFeP", "agent": "s"}}


def test_chat_accepts_scalar_dynamic_variables() -> None:
    doc = copy.deepcopy(CHAT)
    doc["spec"]["dynamicVariables"] = {"customer_name": "Michael", "visits": 3, "vip": True}
    assert errors("chat", doc) == []


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        ({"agent": "s"}, "spec"),
        ({"chatId": "c"}, "spec"),
        ({"chatId": "", "agent": "s"}, "spec/chatId"),
        ({"chatId": "c" * 129, "agent": "s"}, "spec/chatId"),
        (
            {"chatId": "c", "agent": "s", "dynamicVariables": {"x": {"y": 1}}},
            "spec/dynamicVariables/x",
        ),
        ({"chatId": "c", "agent": "s", "agentId": "a"}, "spec"),
    ],
)
def test_chat_schema_rejects(spec: dict[str, Any], where: str) -> None:
    found = errors("chat", {"kind": "Chat", "name": "demo", "spec": spec})
    assert any(e.split(": ", 1)[0] == where for e in found), found


PROJECT: dict[str, Any] = {
    "version": 1,
    "resources": ["agents/**/*.yaml"],
    "environments": {"local": {"baseUrl": "local:.sigmaform/emulator"}},
}


def project(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(PROJECT)
    doc.update(changes)
    return doc


def env(**fields: Any) -> dict[str, Any]:
    return project(environments={"staging": fields})


def test_project_minimal_and_full_environments_accepted() -> None:
    assert errors("project", PROJECT) == []
    full = env(
        baseUrl="http://127.0.0.1:8080",
        apiKeyEnv="SIGMAMIND_API_KEY_STAGING",
        vars={"nested": {"any": [1, "x"]}},
        secretDefaults={"X": "y"},
        promoteFrom="dev",
        safety={"maxChangePercent": 30, "allowDelete": False},
    )
    assert errors("project", full) == []


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        (project(version=2), "version"),
        (project(versoin=1), ""),
        (project(resources=[]), "resources"),
        (project(resources="agents/*.yaml"), "resources"),
        (project(state={"backend": "gcs"}), "state/backend"),
        (project(state={"backend": "s3"}), "state"),  # without its bucket
        (project(state={"backend": "local", "file": "x"}), "state"),
        (project(environments={}), "environments"),
        (project(environments={"Prod": {}}), "environments"),
        (env(baseUrl="ftp://x"), "environments/staging/baseUrl"),
        (env(apiKeyEnv="sk-live-123"), "environments/staging/apiKeyEnv"),
        (env(secretDefaults={"X": 1}), "environments/staging/secretDefaults/X"),
        (env(safety={"maxChangePercent": 101}), "environments/staging/safety/maxChangePercent"),
        (env(safety={"allowDelete": "no"}), "environments/staging/safety/allowDelete"),
        (env(apiKey="secret"), "environments/staging"),
    ],
)
def test_project_schema_rejects(doc: dict[str, Any], where: str) -> None:
    found = errors("project", doc)
    assert any(e.split(": ", 1)[0] == where for e in found), found


# --- the real validator agrees


@pytest.mark.parametrize("args", [(), ("-e", "local"), ("-e", "staging"), ("-e", "prod")])
def test_examples_pass_the_real_validator(
    args: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from sigmaform.cli import cli

    # staging and prod have no secretDefaults: their webhook secrets come from the environment.
    monkeypatch.setenv("SUPPORT_WEBHOOK_SECRET", "s1")
    monkeypatch.setenv("REMINDER_WEBHOOK_SECRET", "s2")
    result = CliRunner().invoke(cli, ["-C", str(EXAMPLES), *args, "validate"])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output.lower(), result.output


def test_examples_apply_to_the_local_emulator_and_converge(tmp_path: Path) -> None:
    import shutil

    from click.testing import CliRunner

    from sigmaform.cli import cli

    root = tmp_path / "examples"
    shutil.copytree(EXAMPLES, root, ignore=shutil.ignore_patterns(".sigmaform"))
    runner = CliRunner()
    applied = runner.invoke(cli, ["-C", str(root), "-e", "local", "apply", "--auto-approve"])
    assert applied.exit_code == 0, applied.output
    # main-line is `only: [staging, prod]`: the emulator has no phone numbers.
    assert "main-line" not in applied.output
    again = runner.invoke(cli, ["-C", str(root), "-e", "local", "plan", "--detailed-exitcode"])
    assert again.exit_code == 0, again.output
    assert "3 unchanged" in again.output
