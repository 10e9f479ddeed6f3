"""`sigmaform doctor` against the emulator over a loopback socket, in each reading of the docs.

Each alternative mode must give the right verdicts, leave no throwaway agent or test case
behind (or report the one it cannot remove), and leave a profile that the next apply
follows: it succeeds and verifies in that mode.
"""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Project
from jsonschema import Draft202012Validator
from reliability import (
    Cli,
    agent_name,
    agent_spec,
    assert_no_secrets,
    write_agents,
    write_project,
)
from test_emulator_cli import first_line, free_port

from sigmaform.doctor import PREFIX
from sigmaform.emulator import EmulatorApp, read_journal
from sigmaform.emulator.server import running
from sigmaform.operations import LIST_REFRESH_MIN

WRITES = ("POST", "PUT", "PATCH", "DELETE")
NUMBER = "+14155550100"


@contextmanager
def serving(project: Project, monkeypatch: pytest.MonkeyPatch, **modes: Any) -> Iterator[None]:
    """The project's emulator data served over a real socket, in `modes` (emulator.json)."""
    project.emulator_dir.mkdir(parents=True, exist_ok=True)
    (project.emulator_dir / "emulator.json").write_text(json.dumps(modes))
    app = EmulatorApp(data_dir=project.emulator_dir)
    app.seed_phone_number("local", NUMBER)
    with running(app) as base_url:
        monkeypatch.setenv("SIGMAMIND_BASE_URL", base_url)
        monkeypatch.setenv("SIGMAMIND_API_KEY", "local")
        yield


def verdicts(output: str) -> dict[str, str]:
    out = {}
    for line in output.splitlines():
        word, _, rest = line.partition(" ")
        if word in ("holds", "differs", "unknown"):
            out[rest.strip().split(":")[0]] = word
    return out


def doctor_agents(project: Project) -> list[dict[str, Any]]:
    return [a for a in project.agents() if a["agentName"].startswith(PREFIX)]


def cases_left(project: Project) -> list[str]:
    """Test cases the journal saw created and never deleted."""
    made = set()
    for entry in project.journal():
        created = entry["status"] == 201
        if entry["method"] == "POST" and entry["path"] == "/v1/test-cases" and created:
            made.add(entry["body"]["agentId"])
    left = []
    with project.api() as api:
        for agent_id in made:
            left += api.get("/v1/test-cases", params={"agentId": agent_id}).json()
    return left


# mode -> the findings that must differ in it (all others hold, but chat-shape: no chats)
MODES: list[tuple[dict[str, str], set[str]]] = [
    ({}, set()),
    ({"settings_patch": "replace"}, {"settings-patch"}),
    ({"list_items": "partial"}, {"list-items"}),
    ({"webhook_secrets": "hidden"}, {"webhook-secret-echoed"}),
    ({"phone_number_field": "phoneNumber"}, {"phone-number-field"}),
    ({"create_names": "create"}, set()),  # what sigmaform assumes: holds
    ({"create_names": "update"}, {"create-names"}),
    ({"agent_delete": "405"}, {"agent-delete"}),
    ({"agent_delete": "404"}, {"agent-delete"}),
    ({"webhook_ids": "renewed"}, {"webhook-id-kept"}),
    ({"test_cases": "absent"}, {"test-case-paths"}),
]


@pytest.mark.parametrize(("modes", "differ"), MODES, ids=lambda v: str(v) if v else "docs")
def test_doctor_verdicts_cleanup_and_following_apply(
    example: Project, monkeypatch: pytest.MonkeyPatch, modes: dict[str, str], differ: set[str]
) -> None:
    with serving(example, monkeypatch, **modes):
        result = example.run("doctor", "--write", "--auto-approve")
        assert result.exit_code == (2 if differ else 0), result.output
        seen = verdicts(result.output)
        assert {k for k, v in seen.items() if v == "differs"} == differ
        assert {k for k, v in seen.items() if v == "unknown"} == {"chat-shape"}
        assert len(seen) == 12
        assert not cases_left(example)
        left = doctor_agents(example)
        if "agent-delete" in differ:
            # Nothing can remove them: each is reported with its id.
            assert left and all(f"Left behind: agent {a['agentId']}" in result.output for a in left)
        else:
            assert left == []
        profile = json.loads((example.root / ".sigmaform/api-profile/local.json").read_text())
        assert profile["environment"] == "local"
        assert {k for k, v in profile["findings"].items() if v["verdict"] == "differs"} == differ

        # The following apply succeeds and verifies in this mode.
        start = len(example.journal())
        applied = example.run("apply", "--auto-approve")
        assert applied.exit_code == 0, applied.output
        creates = [e for e in example.journal()[start:] if e["method"] in WRITES]
        # Every create was taken as sent: no PATCH resent to fix one.
        assert [e["method"] for e in creates] == ["POST"] * 3
        example.edit("agents/support.yaml", "llmTemperature: 0.3", "llmTemperature: 0.4")
        start = len(example.journal())
        changed = example.run("apply", "--auto-approve")
        assert changed.exit_code == 0, changed.output
        patches = [e for e in example.journal()[start:] if e["method"] in WRITES]
        assert len(patches) == 1, json.dumps(patches)
        sent = patches[0]["body"]["agentSettings"]
        if modes.get("settings_patch") == "replace":
            # The whole agentSettings, once: not a partial PATCH plus a resend.
            assert sent["llmTemperature"] == 0.4 and sent["language"] == "en_US"
        else:
            assert sent == {"llmTemperature": 0.4}
        assert example.run("plan").exit_code == 0


@pytest.mark.parametrize("status", ["405", "404"])
def test_plan_refuses_agent_delete_when_the_server_has_none(
    example: Project, monkeypatch: pytest.MonkeyPatch, status: str
) -> None:
    with serving(example, monkeypatch, agent_delete=status):
        assert example.run("apply", "--auto-approve").exit_code == 0
        assert example.run("doctor", "--write", "--auto-approve").exit_code == 2
        (example.root / "agents" / "receptionist.yaml").unlink()
        before = len(example.journal())
        for command in (("plan", "--allow-delete"), ("apply", "--allow-delete", "--auto-approve")):
            result = example.run(*command)
            assert result.exit_code == 3, result.output
            assert "agent-delete" in result.output and "refusing to delete" in result.output
        assert [e for e in example.journal()[before:] if e["method"] in WRITES] == []


def test_without_write_nothing_is_written(
    example: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(example, monkeypatch, settings_patch="replace"):
        assert example.run("apply", "--auto-approve").exit_code == 0
        with example.api() as api:
            agent_id = example.state()["resources"]["agent.support"]["id"]
            api.post("/v1/chats", json={"agentId": agent_id, "input": "Hello"})
        before = len(example.journal())
        result = example.run("doctor", "--format", "json")
        assert result.exit_code == 0, result.output
        assert [e for e in example.journal()[before:] if e["method"] in WRITES] == []
    report = json.loads(result.output)
    found = {f["id"]: f["verdict"] for f in report["findings"]}
    assert found["list-items"] == "holds" and found["phone-number-field"] == "holds"
    assert found["chat-shape"] == "holds" and found["workspace"] == "holds"
    assert found["settings-patch"] == "unknown"  # needs --write
    repo = Path(__file__).resolve().parent.parent
    schema = json.loads((repo / "schemas" / "doctor.schema.json").read_text())
    assert list(Draft202012Validator(schema).iter_errors(report)) == []


def test_read_only_run_keeps_earlier_write_findings(
    example: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(example, monkeypatch, settings_patch="replace"):
        assert example.run("doctor", "--write", "--auto-approve").exit_code == 2
        assert example.run("doctor").exit_code == 0
    profile = json.loads((example.root / ".sigmaform/api-profile/local.json").read_text())
    assert profile["findings"]["settings-patch"]["value"] == "replace"


def test_write_needs_a_terminal_or_auto_approve(
    example: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(example, monkeypatch):
        result = example.run("doctor", "--write")
    assert result.exit_code == 1
    assert "--auto-approve" in result.output
    assert example.journal() == []  # nothing was sent, not even a read


def test_rejected_key_is_an_error(example: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    app = EmulatorApp(api_keys={"the-right-key"})
    with running(app) as base_url:
        monkeypatch.setenv("SIGMAMIND_BASE_URL", base_url)
        monkeypatch.setenv("SIGMAMIND_API_KEY", "a-wrong-key")
        result = example.run("doctor", "--write", "--auto-approve")
    assert result.exit_code == 1
    assert "rejected" in result.output and "a-wrong-key" not in result.output
    assert [e for e in app.journal.entries if e.method in WRITES] == []


def _start(root: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "sigmaform", "-C", str(root), "-e", "local", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for_agent_create(project: Project, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60  # only keeps a broken run from hanging the suite
    while process.poll() is None and time.monotonic() < deadline:
        if any(
            e["method"] == "POST" and e["path"] == "/v1/agents" and e["status"] == 201
            for e in project.journal()
        ):
            return
        time.sleep(0.02)
    raise AssertionError("doctor never created its agent")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_interrupted_run_leaves_nothing_once_the_next_run_is_done(
    example: Project, sig: signal.Signals
) -> None:
    """SIGINT (Ctrl-C) cleans up at once; SIGKILL leaves the agent for the next run."""
    example.emulator_dir.mkdir(parents=True)
    (example.emulator_dir / "emulator.json").write_text(json.dumps({"latency_ms": 150}))
    process = _start(example.root, "doctor", "--write", "--auto-approve")
    _wait_for_agent_create(example, process)
    process.send_signal(sig)
    _, err = process.communicate(timeout=120)
    if sig == signal.SIGINT:
        assert process.returncode == 130, err
        assert doctor_agents(example) == [] and not cases_left(example)
        return
    left = doctor_agents(example)
    assert len(left) == 1
    (example.emulator_dir / "emulator.json").write_text("{}")
    result = example.run("doctor", "--write", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert f"Removed agent {left[0]['agentId']}, left by an earlier doctor run." in result.output
    assert doctor_agents(example) == [] and not cases_left(example)


def test_read_only_run_reports_a_leftover_without_removing_it(example: Project) -> None:
    with example.api() as api:
        made = api.post("/v1/agents", json={"agentName": PREFIX + "old"}).json()
    result = example.run("doctor")
    assert result.exit_code == 0
    assert f"Left behind: agent {made['agentId']}" in result.output
    assert len(doctor_agents(example)) == 1


def test_emulator_json_refuses_an_unknown_mode_value(example: Project) -> None:
    example.emulator_dir.mkdir(parents=True)
    (example.emulator_dir / "emulator.json").write_text(json.dumps({"list_items": "some"}))
    result = example.run("doctor")
    assert result.exit_code == 1
    assert "list_items must be one of whole, partial" in result.output


@pytest.mark.parametrize("answer", ["yes", "no"])
def test_write_asks_naming_the_environment_and_only_yes_goes_on(
    example: Project, answer: str
) -> None:
    """On a terminal, --write asks first; anything but `yes` sends nothing (exit 1)."""
    controller, terminal = pty.openpty()
    try:
        argv = ["-C", str(example.root), "-e", "local", "doctor", "--write"]
        process = subprocess.Popen(
            [sys.executable, "-m", "sigmaform", *argv],
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        os.write(controller, f"{answer}\n".encode())
        out, err = process.communicate(timeout=120)
    finally:
        os.close(controller)
        os.close(terminal)
    assert b"environment 'local'" in out
    if answer == "yes":
        assert process.returncode == 0, err
        assert any(e["method"] == "DELETE" for e in example.journal())
        assert doctor_agents(example) == []
    else:
        assert process.returncode == 1
        assert b"Doctor cancelled; nothing was sent." in err
        assert example.journal() == []


def test_emulator_flags_set_every_alternative(
    example: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sigmaform emulator` in its own process, every mode switched by flag."""
    port = free_port()
    command = [sys.executable, "-m", "sigmaform", "emulator", "--port", str(port)]
    command += ["--settings-patch", "replace", "--list-items", "partial"]
    command += ["--webhook-secrets", "hidden", "--phone-number-field", "phoneNumber"]
    command += ["--agent-delete", "404", "--create-names", "update"]
    command += ["--webhook-ids", "renewed", "--test-cases", "absent"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert "listening" in first_line(proc.stdout)
        monkeypatch.setenv("SIGMAMIND_BASE_URL", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("SIGMAMIND_API_KEY", "flags")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as api:
            imported = api.post(
                "/v1/phone-numbers/import",
                json={"phoneNumber": NUMBER},
                headers={"X-API-Key": "flags"},
            )
            assert imported.status_code == 200
        result = example.run("doctor", "--write", "--auto-approve")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert result.exit_code == 2, result.output
    assert {k for k, v in verdicts(result.output).items() if v == "differs"} == {
        "settings-patch",
        "list-items",
        "webhook-secret-echoed",
        "phone-number-field",
        "agent-delete",
        "create-names",
        "webhook-id-kept",
        "test-case-paths",
    }


def test_partial_list_items_make_refresh_read_each_agent(tmp_path: Path) -> None:
    """From 50 agents on, refresh reads the list; with summaries for items, each agent."""
    root = tmp_path / "project"
    write_project(root, {"baseUrl": "local:.sigmaform/emulator", "apiKeyEnv": "REL_API_KEY"})
    write_agents(root, {agent_name(i): agent_spec(i) for i in range(LIST_REFRESH_MIN)})
    (root / ".sigmaform" / "emulator").mkdir(parents=True)
    (root / ".sigmaform" / "emulator" / "emulator.json").write_text('{"list_items": "partial"}')
    journal = root / ".sigmaform" / "emulator" / "journal.jsonl"
    cli = Cli(root)
    assert cli("apply", "--auto-approve").exit_code == 0

    def plan_reads() -> tuple[int, int]:
        start = len(read_journal(journal))
        assert cli("plan").exit_code == 0
        reads = [e for e in read_journal(journal)[start:] if e.method == "GET"]
        listings = sum(1 for e in reads if e.path == "/v1/agents")
        return listings, sum(1 for e in reads if e.path.startswith("/v1/agents/"))

    # Before doctor: the listing is read, found partial, and every agent read again.
    assert plan_reads() == (1, LIST_REFRESH_MIN)
    assert cli("doctor", "--write", "--auto-approve").exit_code == 2
    # After: refresh no longer takes items from the listing; the one listing left is the
    # possible-duplicate check's (names only, which partial items still carry).
    assert plan_reads() == (1, LIST_REFRESH_MIN)
    # Neither the key nor any secret reaches the output or the profile.
    assert assert_no_secrets(cli.outputs(), [root / ".sigmaform/api-profile/rel.json"]) > 0


def test_a_create_whose_answer_was_lost_is_found_by_name_and_removed(
    example: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server made the throwaway agent but its answer never arrived (a dropped response,
    or Ctrl-C while the POST was in flight): doctor never learnt the id, and must still
    leave nothing behind."""
    example.emulator_dir.mkdir(parents=True, exist_ok=True)
    app = EmulatorApp(data_dir=example.emulator_dir)

    def lose_create_answers(environ: dict[str, Any], start_response: Any) -> Any:
        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"] == "/v1/agents":
            list(app(environ, lambda *_: None))  # the agent is made; its answer is lost
            start_response("502 Bad Gateway", [("Content-Type", "text/plain")])
            return [b"lost"]
        return app(environ, start_response)

    with running(lose_create_answers) as base_url:  # type: ignore[arg-type]
        monkeypatch.setenv("SIGMAMIND_BASE_URL", base_url)
        monkeypatch.setenv("SIGMAMIND_API_KEY", "local")
        result = example.run("doctor", "--write", "--auto-approve")
    assert result.exit_code == 1, result.output
    made = [
        e
        for e in example.journal()
        if e["method"] == "POST" and e["path"] == "/v1/agents" and e["status"] == 201
    ]
    assert made, "the create reached the server"
    assert doctor_agents(example) == []
    assert "Left behind" not in result.output
