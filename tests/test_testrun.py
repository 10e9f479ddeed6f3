"""The test runner against the emulator: one batch per case, gates, reruns, stall, timeout.

Test cases are created through the emulator's API directly and handed to the runner as
`CaseToRun` records, the way `cases_for` builds them from state.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import httpx
import pytest
from jsonschema import Draft202012Validator

from sigmaform.client import Client, RetryPolicy
from sigmaform.emulator import EmulatorApp, Faults
from sigmaform.emulator.judge import Judge, Pace, Rule
from sigmaform.emulator.modes import Modes
from sigmaform.errors import EXIT_REFUSED, RefusedError
from sigmaform.resource import TestSettings
from sigmaform.test_gate import CaseGate, case_verdict, suite_passes
from sigmaform.test_report import render_json, render_junit, render_markdown, render_text
from sigmaform.testrun import CaseToRun, RunResult, plan_run, run_plan

KEY = "test-key-runner"
FAST = RetryPolicy(max_elapsed_s=5.0, base_delay_s=0.005, max_delay_s=0.05, max_attempts=5)


@dataclass
class Bench:
    app: EmulatorApp
    client: Client
    raw: httpx.Client
    agent_id: str

    def case(
        self, name: str, attempt: int = 5, gate: CaseGate | None = None, agent_id: str = ""
    ) -> CaseToRun:
        agent = agent_id or self.agent_id
        body = {
            "agentId": agent,
            "label": name,
            "userPrompt": f"You are a customer testing {name}.",
            "successCriteria": "The agent stays polite and offers a human.",
            "attempt": attempt,
        }
        response = self.raw.post("/v1/test-cases", json=body)
        assert response.status_code == 201, response.text
        return CaseToRun(
            address=f"test-case.{name}",
            case_id=response.json()["testCaseId"],
            agent_address="agent.support",
            agent_id=agent,
            attempt=attempt,
            gate=gate or CaseGate(),
            digest=f"sha256:{name}",
            agent_digest="sha256:agent",
            label=name,
        )

    def batch_posts(self) -> list[Any]:
        return [
            e for e in self.app.journal.entries if e.method == "POST" and e.path == "/v1/batch-runs"
        ]


def bench_for(app: EmulatorApp, transport: httpx.WSGITransport | None = None) -> Iterator[Bench]:
    transport = transport or httpx.WSGITransport(app=app)
    headers = {"X-API-Key": KEY}
    with (
        httpx.Client(transport=transport, base_url="http://emulator", headers=headers) as raw,
        Client("http://emulator", KEY, transport=transport, retry=FAST) as client,
    ):
        agent = raw.post("/v1/agents", json={"agentName": "Support"})
        yield Bench(app, client, raw, agent.json()["agentId"])


def make_bench(**kwargs: Any) -> Iterator[Bench]:
    yield from bench_for(EmulatorApp(**kwargs))


@pytest.fixture
def bench() -> Iterator[Bench]:
    judge = Judge(rules=(Rule.parse("fails*=fail"), Rule.parse("mostly=ppppf")))
    yield from make_bench(judge=judge, modes=Modes(batch_jobs="listed"))


def run(bench: Bench, *cases: CaseToRun, **settings: Any) -> RunResult:
    plan = plan_run("staging", cases, TestSettings(**settings))
    return run_plan(plan, bench.client)


def test_passing_cases_run_one_batch_each(bench: Bench) -> None:
    result = run(bench, bench.case("greeting"), bench.case("refund", attempt=3))
    assert result.verdict == "passed"
    assert [(c.successful, c.attempts, c.verdict) for c in result.cases] == [
        (5, 5, "passed"),
        (3, 3, "passed"),
    ]
    assert all(len(c.batches) == 1 for c in result.cases)
    bodies = [entry.body for entry in bench.batch_posts()]
    assert sorted(b["testCases"][0] for b in bodies) == sorted(c.case.case_id for c in result.cases)
    assert all(len(b["testCases"]) == 1 for b in bodies)


def test_a_failing_case_fails_the_gate_with_remarks_and_conversation(bench: Bench) -> None:
    result = run(bench, bench.case("greeting"), bench.case("fails-always", attempt=2))
    assert result.verdict == "failed"
    failing = result.cases[1]
    assert (failing.successful, failing.attempts, failing.verdict) == (0, 2, "failed")
    assert len(failing.failures) == 2
    assert failing.failures[0].remarks.startswith("The agent did not meet the success criteria")
    assert failing.failures[0].conversation[0].role == "user"


def test_without_job_ids_only_counts_are_known() -> None:
    for bench in make_bench(judge=Judge(rules=(Rule.parse("*=fail"),))):
        result = run(bench, bench.case("fails", attempt=2))
        assert result.cases[0].verdict == "failed" and result.cases[0].failures == ()
        reads = [e for e in bench.app.journal.entries if e.path.startswith("/v1/test-runs")]
        assert reads == []


def test_the_older_verdict_spelling_is_read() -> None:
    modes = Modes(batch_jobs="listed", success_field="isSuccesful")
    for bench in make_bench(judge=Judge(rules=(Rule.parse("*=pf"),)), modes=modes):
        result = run(bench, bench.case("typo", attempt=2), min_pass_rate=0.0)
        assert [f.passed for f in result.cases[0].failures] == [False]


@pytest.mark.parametrize(
    ("gate", "verdict"),
    [
        (CaseGate(0.8), "passed"),
        (CaseGate(), "failed"),  # default: every attempt
        (CaseGate(0.5, required=True), "failed"),
        (CaseGate(0.81), "failed"),
    ],
)
def test_each_case_meets_its_own_gate(bench: Bench, gate: CaseGate, verdict: str) -> None:
    result = run(bench, bench.case("mostly", gate=gate))
    assert (result.cases[0].successful, result.cases[0].attempts) == (4, 5)
    assert result.cases[0].verdict == verdict


def test_the_suite_must_meet_the_environments_pass_rate(bench: Bench) -> None:
    cases = (bench.case("mostly", gate=CaseGate(0.8)), bench.case("fails-x", 5, CaseGate(0.0)))
    result = run(bench, *cases, min_pass_rate=0.9)
    assert [c.verdict for c in result.cases] == ["passed", "passed"]
    assert (result.successful, result.attempts) == (4, 10)
    assert not result.suite_passed and result.verdict == "failed"


def test_rerun_failed_judges_a_case_on_all_its_attempts() -> None:
    for bench in make_bench(judge=Judge(rules=(Rule.parse("flaky=ffpp"),))):
        case = bench.case("flaky", attempt=2, gate=CaseGate(0.5))
        once = run(bench, case)
        assert once.cases[0].verdict == "failed" and len(once.cases[0].batches) == 1
    for bench in make_bench(judge=Judge(rules=(Rule.parse("flaky=ffpp"),))):
        case = bench.case("flaky", attempt=2, gate=CaseGate(0.5))
        rerun = run(bench, case, rerun_failed=2)
        first = rerun.cases[0]
        # 0/2, then 2/2: 2/4 meets 0.5, so the second rerun is not needed.
        assert (first.successful, first.attempts, first.verdict) == (2, 4, "passed")
        assert len(first.batches) == 2 and len(bench.batch_posts()) == 2


def test_reruns_spend_from_max_attempts(bench: Bench) -> None:
    result = run(bench, bench.case("fails-a", attempt=3), rerun_failed=3, max_attempts=7)
    assert result.cases[0].attempts == 6 and len(result.cases[0].batches) == 2
    assert result.skipped_reruns == 1
    assert len(bench.batch_posts()) == 2


def test_the_cost_guard_refuses_before_any_batch(bench: Bench) -> None:
    cases = [bench.case("greeting", attempt=150), bench.case("refund", attempt=60)]
    with pytest.raises(RefusedError) as refused:
        plan_run("staging", cases, TestSettings(max_attempts=200))
    assert refused.value.exit_code == EXIT_REFUSED
    assert "refusing to run 210 attempts in `staging`: more than tests.maxAttempts (200)" in (
        str(refused.value)
    )
    assert bench.batch_posts() == []


def test_a_stalled_batch_is_an_error_never_a_pass() -> None:
    judge = Judge(pace=Pace.parse("1/read"), stall_at=1)
    for bench in make_bench(judge=judge):
        started = time.monotonic()
        result = run(bench, bench.case("stuck", attempt=3), stall_after=0.3, timeout=30.0)
        assert time.monotonic() - started < 5
        case = result.cases[0]
        assert result.verdict == "error" and case.verdict == "error"
        assert "stalled: its counters stayed at 1/3 attempts for 0.3s (tests.stallAfter)" in (
            case.error
        )


def test_a_run_past_its_timeout_is_an_error() -> None:
    # Counters keep moving (no stall), but 1,000 attempts at one per read take too long.
    for bench in make_bench(judge=Judge(pace=Pace.parse("1/read"))):
        result = run(
            bench,
            bench.case("slow", attempt=1000),
            max_attempts=1000,
            stall_after=60.0,
            timeout=0.5,
        )
        assert result.verdict == "error"
        assert "when the run reached its 0.5s limit (tests.timeout)" in result.cases[0].error


def test_an_api_failure_is_an_error_for_that_case(bench: Bench) -> None:
    good = bench.case("greeting", attempt=1)
    bad = CaseToRun(
        "test-case.gone", "tc_missing", "agent.support", bench.agent_id, 1, CaseGate(), "d", "a"
    )
    result = run(bench, good, bad)
    assert [c.verdict for c in result.cases] == ["passed", "error"]
    assert "-> 400" in result.cases[1].error and "no test case with id" in result.cases[1].error
    assert result.verdict == "error"


def test_a_lost_batch_create_is_found_not_sent_again(tmp_path: Path) -> None:
    # Two emulator processes on one data directory: the one that receives batch creates
    # acts, then loses every answer (502); the runner must find the batch in the agent's
    # listing instead of running (and billing) it twice.
    normal = EmulatorApp(tmp_path)
    dropping = EmulatorApp(tmp_path, faults=Faults(drop_rate=1.0))

    def split(environ: dict[str, Any], start_response: Any) -> Any:
        creates = environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"] == "/v1/batch-runs"
        return (dropping if creates else normal)(environ, start_response)

    for bench in bench_for(normal, transport=httpx.WSGITransport(app=split)):
        result = run(bench, bench.case("lost", attempt=2))
        assert result.verdict == "passed"
        posts = [e for e in dropping.journal.entries if e.method == "POST"]
        assert [e.status for e in posts] == [502]
        listed = bench.raw.get("/v1/batch-runs", params={"agentId": bench.agent_id}).json()
        assert [b["batchId"] for b in listed["data"]] == list(result.cases[0].batches)


def test_gate_arithmetic() -> None:
    assert case_verdict(9, 10, CaseGate(0.9)) == "passed"
    assert case_verdict(0, 0, CaseGate(0.0)) == "failed"
    assert suite_passes(0, 0, 0.0) and not suite_passes(0, 0, 0.5)


# -- the report ------------------------------------------------------------------------


def mixed_result(bench: Bench) -> RunResult:
    cases = (bench.case("greeting", attempt=2), bench.case("fails-always", attempt=2))
    return run(bench, *cases)


def test_text_report_shows_the_table_failures_and_verdict(bench: Bench) -> None:
    text = render_text(mixed_result(bench))
    lines = text.splitlines()
    assert lines[0].split() == ["CASE", "AGENT", "SUCCESSFUL", "GATE", "VERDICT"]
    assert lines[1].split() == [
        "test-case.greeting",
        "agent.support",
        "2/2",
        "(100%)",
        "every",
        "attempt",
        "passed",
    ]
    assert "Suite: 2/4 attempts passed (50%)." in lines
    assert "Failed attempts of test-case.fails-always:" in lines
    assert any(line.strip().startswith("user: You are a customer testing") for line in lines)
    assert lines[-1] == "Test gate failed: 1 case below its gate."


def test_json_report_matches_its_schema(bench: Bench) -> None:
    document = json.loads(render_json(mixed_result(bench)))
    schema = json.loads(
        (resources.files("sigmaform.schemas") / "test-report.schema.json").read_text()
    )
    Draft202012Validator.check_schema(schema)
    assert list(Draft202012Validator(schema).iter_errors(document)) == []
    assert document["verdict"] == "failed"
    assert [c["verdict"] for c in document["cases"]] == ["passed", "failed"]
    assert len(document["cases"][1]["failures"]) == 2


def test_markdown_report(bench: Bench) -> None:
    markdown = render_markdown(mixed_result(bench))
    assert markdown.startswith("### sigmaform test: `staging` ❌")
    assert (
        "| `test-case.fails-always` | `agent.support` | 0/2 (0%) | every attempt | ❌ failed |"
        in (markdown)
    )
    assert "<details><summary>test-case.fails-always job_" in markdown


def test_junit_report_has_one_testcase_per_case(bench: Bench) -> None:
    cases = (bench.case("greeting", attempt=1), bench.case("fails-always", attempt=1))
    missing = CaseToRun(
        "test-case.gone", "tc_missing", "agent.support", bench.agent_id, 1, CaseGate(), "d", "a"
    )
    root = ElementTree.fromstring(render_junit(run(bench, *cases, missing)))
    assert root.tag == "testsuites"
    [suite] = root
    assert suite.get("name") == "sigmaform test staging"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    by_name = {c.get("name"): c for c in suite.iter("testcase")}
    assert sorted(by_name) == ["test-case.fails-always", "test-case.gone", "test-case.greeting"]
    assert by_name["test-case.greeting"].find("failure") is None
    failure = by_name["test-case.fails-always"].find("failure")
    assert failure is not None and failure.get("message") == (
        "0/1 attempts passed; gate every attempt"
    )
    error = by_name["test-case.gone"].find("error")
    assert error is not None and "no test case with id" in (error.get("message") or "")
    assert by_name["test-case.greeting"].get("classname") == "agent.support"


# -- a server that answers batch runs in shapes the docs do not show ---------------------


def odd_server(batch: Any, created: Any = None, run: Any = None) -> Client:
    """A fake service answering every batch create, batch read and test run the same way."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        if method == "POST":
            body = {"batchId": "batch_1"} if created is None else created
        elif path.startswith("/v1/test-runs/"):
            body = run
        else:
            body = batch
        data = json.dumps(body).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [data]

    return Client("http://odd", KEY, transport=httpx.WSGITransport(app=app), retry=FAST)


@pytest.mark.parametrize(
    ("batch", "created", "run", "message"),
    [
        ({}, {"id": "x"}, None, "the server answered the batch run without a `batchId`"),
        ([], None, None, "the server answered without the batch run object"),
        (
            {"successfulAttempts": "5", "failedAttempts": 0},
            None,
            None,
            "the batch run's `successfulAttempts` is not a count: '5'",
        ),
        (
            {"successfulAttempts": 0, "failedAttempts": -1},
            None,
            None,
            "the batch run's `failedAttempts` is not a count: -1",
        ),
        (
            {"successfulAttempts": 0, "failedAttempts": 1, "jobIds": ["job_1"]},
            None,
            "nonsense",
            "the server answered without the test run object",
        ),
    ],
)
def test_answers_of_another_shape_are_errors_never_a_pass(
    batch: Any, created: Any, run: Any, message: str
) -> None:
    case = CaseToRun("test-case.odd", "tc_1", "agent.support", "ag_1", 1, CaseGate(), "d", "a")
    with odd_server(batch, created, run) as client:
        result = run_plan(plan_run("staging", [case], TestSettings()), client)
    assert result.verdict == "error"
    assert message in result.cases[0].error
