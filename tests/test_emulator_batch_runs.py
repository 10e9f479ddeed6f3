"""The emulator's batch runs and test runs: documented shapes, the judge, pace, stall, rich mode."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from sigmaform.cli import cli
from sigmaform.emulator import EmulatorApp
from sigmaform.emulator.judge import Judge, Pace, Rule
from sigmaform.emulator.modes import Modes
from sigmaform.errors import ConfigError

KEY = "test-key-batches"


def client_for(app: EmulatorApp) -> httpx.Client:
    transport = httpx.WSGITransport(app=app)
    return httpx.Client(transport=transport, base_url="http://emulator", headers={"X-API-Key": KEY})


@pytest.fixture
def api() -> Iterator[httpx.Client]:
    with client_for(EmulatorApp()) as client:
        yield client


def new_agent(api: httpx.Client, name: str = "Support") -> str:
    response = api.post("/v1/agents", json={"agentName": name})
    assert response.status_code == 201, response.text
    return str(response.json()["agentId"])


def new_case(api: httpx.Client, agent_id: str, label: str, attempt: int | None = 5) -> str:
    body: dict[str, Any] = {
        "agentId": agent_id,
        "label": label,
        "userPrompt": "You want a refund of 350 dollars today.",
        "successCriteria": "The agent offers a transfer to a human.",
    }
    if attempt is not None:
        body["attempt"] = attempt
    response = api.post("/v1/test-cases", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["testCaseId"])


def run_batch(api: httpx.Client, agent_id: str, *case_ids: str) -> str:
    response = api.post("/v1/batch-runs", json={"agentId": agent_id, "testCases": list(case_ids)})
    assert response.status_code == 201, response.text
    return str(response.json()["batchId"])


def batch(api: httpx.Client, agent_id: str, batch_id: str) -> dict[str, Any]:
    response = api.get(f"/v1/batch-runs/{batch_id}", params={"agentId": agent_id})
    assert response.status_code == 200, response.text
    return dict(response.json())


def counts(body: dict[str, Any]) -> tuple[int, int, int]:
    return body["successfulAttempts"], body["failedAttempts"], body["totalAttempts"]


def test_create_and_read_a_batch_as_documented(api: httpx.Client) -> None:
    agent_id = new_agent(api)
    case_id = new_case(api, agent_id, "refund")
    created = api.post("/v1/batch-runs", json={"agentId": agent_id, "testCases": [case_id]})
    assert created.status_code == 201
    answer = created.json()
    assert set(answer) == {"batchId", "workspaceId", "agent", "createdDate"}
    assert answer["batchId"].startswith("batch_")
    assert answer["agent"] == {"agentId": agent_id, "name": "Support", "status": "Live"}

    body = batch(api, agent_id, answer["batchId"])
    # No status field: counters only, and the cases in their plain TestCase shape.
    assert "status" not in body and "jobIds" not in body
    assert counts(body) == (5, 0, 5)
    assert [c["testCaseId"] for c in body["testCases"]] == [case_id]
    assert body["testCases"][0]["attempt"] == 5


def test_a_case_without_attempt_runs_once(api: httpx.Client) -> None:
    agent_id = new_agent(api)
    case_id = new_case(api, agent_id, "once", attempt=None)
    assert counts(batch(api, agent_id, run_batch(api, agent_id, case_id))) == (1, 0, 1)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"testCases": ["x"]}, "agentId is required"),
        ({"agentId": "nope", "testCases": ["x"]}, "no agent with id"),
        ({"agentId": "AGENT", "testCases": []}, "testCases must not be empty"),
        ({"agentId": "AGENT", "testCases": "tc_1"}, "testCases must be a array"),
        ({"agentId": "AGENT", "testCases": ["tc_missing"]}, "no test case with id"),
    ],
)
def test_bad_batch_requests_are_400(api: httpx.Client, body: dict[str, Any], words: str) -> None:
    agent_id = new_agent(api)
    if body.get("agentId") == "AGENT":
        body = {**body, "agentId": agent_id}
    response = api.post("/v1/batch-runs", json=body)
    assert response.status_code == 400
    assert words in response.json()["message"]


def test_a_case_of_another_agent_cannot_be_batched_or_read(api: httpx.Client) -> None:
    mine, other = new_agent(api), new_agent(api, "Other")
    case_id = new_case(api, mine, "refund")
    refused = api.post("/v1/batch-runs", json={"agentId": other, "testCases": [case_id]})
    assert refused.status_code == 400
    batch_id = run_batch(api, mine, case_id)
    assert api.get(f"/v1/batch-runs/{batch_id}", params={"agentId": other}).status_code == 404
    missing = api.get(f"/v1/batch-runs/{batch_id}")
    assert missing.status_code == 400 and "agentId is required" in missing.json()["message"]


def test_rules_choose_outcomes_by_label_or_id() -> None:
    judge = Judge(rules=(Rule.parse("refund-*=fail"), Rule.parse("tc_flaky=ffp")))
    with client_for(EmulatorApp(judge=judge)) as api:
        agent_id = new_agent(api)
        refund = new_case(api, agent_id, "refund-over-limit", attempt=3)
        greeting = new_case(api, agent_id, "greeting", attempt=3)
        assert counts(batch(api, agent_id, run_batch(api, agent_id, refund))) == (0, 3, 3)
        assert counts(batch(api, agent_id, run_batch(api, agent_id, greeting))) == (3, 0, 3)
        both = batch(api, agent_id, run_batch(api, agent_id, refund, greeting))
        assert counts(both) == (3, 3, 6)


def test_a_sequence_continues_across_batches() -> None:
    judge = Judge(rules=(Rule.parse("flaky=ffpp"),))
    with client_for(EmulatorApp(judge=judge)) as api:
        agent_id = new_agent(api)
        case_id = new_case(api, agent_id, "flaky", attempt=2)
        first = batch(api, agent_id, run_batch(api, agent_id, case_id))
        second = batch(api, agent_id, run_batch(api, agent_id, case_id))
        assert counts(first) == (0, 2, 2) and counts(second) == (2, 0, 2)


def test_seeded_probability_repeats_with_the_same_seed_and_data(tmp_path: Path) -> None:
    def outcomes(seed: int) -> list[bool]:
        judge = Judge(rules=(Rule.parse("*=0.5"),), seed=seed)
        case = {"testCaseId": "tc_fixed", "label": "any"}
        return [judge.outcome(case, n) for n in range(200)]

    assert outcomes(1) == outcomes(1)
    assert outcomes(1) != outcomes(2)
    assert 70 < sum(outcomes(1)) < 130  # about half pass
    judge = Judge(rules=(Rule.parse("*=0.5"),), seed=1)
    with client_for(EmulatorApp(judge=judge)) as api:
        agent_id = new_agent(api)
        case_id = new_case(api, agent_id, "coin", attempt=40)
        successful, failed, total = counts(batch(api, agent_id, run_batch(api, agent_id, case_id)))
        assert total == 40 and 0 < successful < 40 and failed == 40 - successful


def test_attempts_complete_per_read_and_counters_only_grow() -> None:
    with client_for(EmulatorApp(judge=Judge(pace=Pace.parse("2/read")))) as api:
        agent_id = new_agent(api)
        batch_id = run_batch(api, agent_id, new_case(api, agent_id, "slow", attempt=5))
        seen = [counts(batch(api, agent_id, batch_id)) for _ in range(4)]
        assert seen == [(2, 0, 2), (4, 0, 4), (5, 0, 5), (5, 0, 5)]


def test_attempts_complete_over_time() -> None:
    judge = Judge(pace=Pace.parse("1000/s"))
    with client_for(EmulatorApp(judge=judge)) as api:
        agent_id = new_agent(api)
        batch_id = run_batch(api, agent_id, new_case(api, agent_id, "timed", attempt=3))
        assert counts(batch(api, agent_id, batch_id))[2] <= 3
    assert Judge(pace=Pace.parse("2/s")).completed(10, reads=50, elapsed_s=1.6) == 3


def test_a_stalled_batch_stops_counting() -> None:
    judge = Judge(pace=Pace.parse("1/read"), stall_at=2)
    with client_for(EmulatorApp(judge=judge)) as api:
        agent_id = new_agent(api)
        batch_id = run_batch(api, agent_id, new_case(api, agent_id, "stuck", attempt=5))
        seen = [counts(batch(api, agent_id, batch_id))[2] for _ in range(6)]
        assert seen == [1, 2, 2, 2, 2, 2]


def test_rich_mode_lists_job_ids_and_test_runs_answer_as_documented() -> None:
    judge = Judge(rules=(Rule.parse("refund=pf"),))
    app = EmulatorApp(judge=judge, modes=Modes(batch_jobs="listed"))
    with client_for(app) as api:
        agent_id = new_agent(api)
        case_id = new_case(api, agent_id, "refund", attempt=2)
        batch_id = run_batch(api, agent_id, case_id)
        body = batch(api, agent_id, batch_id)
        assert len(body["jobIds"]) == 2
        runs = [
            api.get(f"/v1/test-runs/{job}", params={"batchId": batch_id, "agentId": agent_id})
            for job in body["jobIds"]
        ]
        assert [r.status_code for r in runs] == [200, 200]
        passed, failed = runs[0].json(), runs[1].json()
        assert passed["isSuccessful"] is True and failed["isSuccessful"] is False
        assert failed["remarks"].startswith("The agent did not meet the success criteria")
        assert failed["conversation"][0] == {
            "role": "user",
            "content": "You want a refund of 350 dollars today.",
        }
        assert failed["chatId"].startswith("chat_") and failed["completedDate"]
        assert failed["testCase"]["testCaseId"] == case_id
        assert failed["batchId"] == batch_id and failed["agent"]["agentId"] == agent_id
        # Both query parameters are required; a job of another batch is not found.
        job = body["jobIds"][0]
        lacking = api.get(f"/v1/test-runs/{job}", params={"agentId": agent_id})
        assert lacking.status_code == 400 and "batchId is required" in lacking.json()["message"]
        other = run_batch(api, agent_id, case_id)
        elsewhere = api.get(f"/v1/test-runs/{job}", params={"batchId": other, "agentId": agent_id})
        assert elsewhere.status_code == 404


def test_old_docs_spelling_of_the_verdict() -> None:
    app = EmulatorApp(modes=Modes(batch_jobs="listed", success_field="isSuccesful"))
    with client_for(app) as api:
        agent_id = new_agent(api)
        batch_id = run_batch(api, agent_id, new_case(api, agent_id, "typo", attempt=1))
        job = batch(api, agent_id, batch_id)["jobIds"][0]
        run = api.get(f"/v1/test-runs/{job}", params={"batchId": batch_id, "agentId": agent_id})
        assert run.json()["isSuccesful"] is True and "isSuccessful" not in run.json()


def test_batches_are_listed_newest_first_and_persist(tmp_path: Path) -> None:
    with client_for(EmulatorApp(tmp_path)) as api:
        agent_id = new_agent(api)
        case_id = new_case(api, agent_id, "kept", attempt=1)
        first, second = run_batch(api, agent_id, case_id), run_batch(api, agent_id, case_id)
    with client_for(EmulatorApp(tmp_path)) as api:  # a new process on the same data
        listed = api.get("/v1/batch-runs", params={"agentId": agent_id}).json()
        assert [b["batchId"] for b in listed["data"]] == [second, first]
        assert counts(batch(api, agent_id, first)) == (1, 0, 1)


def test_emulator_json_configures_the_judge(tmp_path: Path) -> None:
    config = {
        "judge": ["*=fail"],
        "batch_pace": "1/read",
        "batch_stall_at": 1,
        "batch_jobs": "listed",
    }
    (tmp_path / "emulator.json").write_text(json.dumps(config))
    with client_for(EmulatorApp(tmp_path)) as api:
        agent_id = new_agent(api)
        batch_id = run_batch(api, agent_id, new_case(api, agent_id, "any", attempt=3))
        first = batch(api, agent_id, batch_id)
        assert counts(first) == (0, 1, 1) and len(first["jobIds"]) == 1
        assert counts(batch(api, agent_id, batch_id)) == (0, 1, 1)


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"judge": ["nonsense"]}, "expected PATTERN=OUTCOME"),
        ({"judge": ["*=1.5"]}, "the outcome must be pass, fail"),
        ({"batch_pace": "fast"}, "expected instant, N/read or N/s"),
        ({"batch_stall_at": -1}, "batch_stall_at must be 0 or greater"),
        ({"judge": "*=pass"}, "judge must be a list"),
    ],
)
def test_bad_judge_config_names_the_file(
    tmp_path: Path, config: dict[str, Any], words: str
) -> None:
    (tmp_path / "emulator.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError) as error:
        EmulatorApp(tmp_path)
    assert words in str(error.value) and "emulator.json" in str(error.value)


def test_test_cases_absent_also_removes_batch_runs(api: httpx.Client) -> None:
    with client_for(EmulatorApp(modes=Modes(test_cases="absent"))) as bare:
        assert bare.post("/v1/batch-runs", json={}).status_code == 404
        assert bare.get("/v1/test-runs/job_x").status_code == 404


def test_cli_flags_configure_the_judge(tmp_path: Path) -> None:
    bad = CliRunner().invoke(cli, ["emulator", "--judge", "oops", "--port", "0"])
    assert bad.exit_code == 1 and "expected PATTERN=OUTCOME" in bad.output
    bad_pace = CliRunner().invoke(cli, ["emulator", "--batch-pace", "soon", "--port", "0"])
    assert bad_pace.exit_code == 1 and "expected instant, N/read or N/s" in bad_pace.output
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "sigmaform", "emulator", "--port", str(port)]
    command += ["--judge", "refund*=fail", "--batch-pace", "1/read", "--batch-stall-at", "2"]
    command += ["--batch-jobs", "listed", "--success-field", "isSuccesful"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None and "listening" in proc.stdout.readline()
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, headers={"X-API-Key": KEY}) as api:
            agent_id = new_agent(api)
            batch_id = run_batch(api, agent_id, new_case(api, agent_id, "refund-x", attempt=3))
            seen = [counts(batch(api, agent_id, batch_id)) for _ in range(3)]
            assert seen == [(0, 1, 1), (0, 2, 2), (0, 2, 2)]
            job = batch(api, agent_id, batch_id)["jobIds"][0]
            run = api.get(f"/v1/test-runs/{job}", params={"batchId": batch_id, "agentId": agent_id})
            assert run.json()["isSuccesful"] is False
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
