"""Schema `pattern`s mean what JSON Schema (ECMA-262) says, everywhere they are checked."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from sigmaform import ecmaregex
from sigmaform.emulator import EmulatorApp
from sigmaform.files import Mark
from sigmaform.schemacheck import check_instance
from sigmaform.schemafast import certainly_valid
from tests.test_validate import lines, make_project, run

E164 = r"^\+[1-9][0-9]{6,14}$"


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        (E164, "+14155550100", True),
        (E164, "+14155550100\n", False),  # Python's `$` alone would accept it
        (r"^a$", "a\n", False),
        (r"^[$]$", "$", True),  # inside a class `$` is literal in both dialects
        (r"^\$$", "$", True),
        (r"^\d+$", "123", True),
        (r"^\d+$", "١٢٣", False),  # Arabic-Indic digits: ECMA's \d is ASCII only
        (r"^\w+$", "é", False),
        (r"^[\d]+$", "٣", False),
        (r"^a.c$", "a\rc", False),  # ECMA's `.` excludes line terminators
        (r"^a.c$", "abc", True),
        (r"^https?://.+", "https://x\n", True),  # no `$`: a prefix match, as in ECMA
    ],
)
def test_search_has_ecma_meaning(pattern: str, text: str, matches: bool) -> None:
    assert ecmaregex.search(pattern, text) is matches


AGENT = {
    "kind": "Agent",
    "name": "x",
    "spec": {
        "agentName": "X",
        "tools": [
            {"type": "voice_transfer_call", "transferTo": "+14155550100\n", "instruction": "go"}
        ],
    },
}


def test_fast_path_and_jsonschema_both_refuse_a_trailing_newline() -> None:
    assert not certainly_valid(AGENT, "agent.schema.json")
    problems = check_instance(
        AGENT, "agent.schema.json", file="a.yaml", locate=lambda path, key: Mark(1, 1)
    )
    assert [p.path for p in problems] == ["spec.tools[0].transferTo"]
    number = {"kind": "PhoneNumber", "name": "n", "spec": {"phoneNumber": "+14155550123\n"}}
    assert not certainly_valid(number, "phone-number.schema.json")
    assert check_instance(
        number, "phone-number.schema.json", file="n.yaml", locate=lambda path, key: Mark(1, 1)
    )


def test_validate_refuses_a_phone_number_with_a_trailing_newline(tmp_path: Path) -> None:
    root = make_project(
        tmp_path,
        **{
            "agents/number.yaml": """\
                kind: PhoneNumber
                name: main
                spec:
                  phoneNumber: "+14155550123\\n"
                  inboundAgent: support
                """
        },
    )
    result = run(root, "-e", "local", "validate")
    assert result.exit_code == 1
    assert any(
        line.startswith("agents/number.yaml:4:16: spec.phoneNumber:") for line in lines(result)
    ), result.output


@pytest.fixture
def api() -> httpx.Client:
    return httpx.Client(
        transport=httpx.WSGITransport(app=EmulatorApp()),
        base_url="http://emulator",
        headers={"X-API-Key": "k"},
    )


def test_emulator_refuses_a_trailing_newline(api: httpx.Client) -> None:
    tool = {"type": "voice_transfer_call", "transferTo": "+14155550100\n", "instruction": "go"}
    created = api.post("/v1/agents", json={"agentName": "A", "tools": [tool]})
    assert created.status_code == 400 and "transferTo" in created.json()["message"]
    imported = api.post("/v1/phone-numbers/import", json={"phoneNumber": "+14155550123\n"})
    assert imported.status_code == 400 and "phoneNumber" in imported.json()["message"]
    assert api.get("/v1/agents").json()["data"] == []
