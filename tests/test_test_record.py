"""Test results in state, and the promotion gate on them (gate_on_tests), with hand-made state.

Test cases here are `Resource` records built by hand and state is written as apply would
record it; runs are real runs against the emulator, recorded through `recorded_tests`.
(tests/test_test_e2e.py does the same through the CLI.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from sigmaform.client import Client, RetryPolicy
from sigmaform.digest import config_digest
from sigmaform.emulator import EmulatorApp
from sigmaform.emulator.judge import Judge, Rule
from sigmaform.promote import Reason
from sigmaform.promote_tests import gate_on_tests, untested_refusal
from sigmaform.resource import Resource, TestSettings
from sigmaform.state import LocalBackend, ResourceState, State
from sigmaform.test_gate import CaseGate
from sigmaform.test_record import case_digest, recorded_tests
from sigmaform.testrun import CaseToRun, plan_run, run_plan

KEY = "test-key-record"
FAST = RetryPolicy(max_elapsed_s=5.0, base_delay_s=0.005, max_delay_s=0.05, max_attempts=5)


def agent(prompt: str = "Be helpful.") -> Resource:
    return Resource("Agent", "support", {"agentName": "Support", "instructions": prompt}, "a.yaml")


def case(name: str = "refund", criteria: str = "Offers a human.", attempt: int = 3) -> Resource:
    spec = {"agent": "support", "userPrompt": "Refund me.", "successCriteria": criteria}
    return Resource("TestCase", name, {**spec, "attempt": attempt}, f"tests/{name}.yaml")


class Staging:
    """staging's emulator workspace and state, applied by hand from `Resource` records."""

    def __init__(self, client: Client, raw: httpx.Client) -> None:
        self.client, self.raw = client, raw
        self.agent_id = raw.post("/v1/agents", json={"agentName": "Support"}).json()["agentId"]
        self.case_ids: dict[str, str] = {}
        self.declared: dict[str, str] = {}  # every case's address -> digest, as the files say
        self.state = State.new("staging")

    def apply(self, *resources: Resource) -> None:
        """What `apply` records: ids and config digests."""
        for r in resources:
            if r.kind == "TestCase" and r.name not in self.case_ids:
                body = {k: v for k, v in r.spec.items() if k != "agent"}
                created = self.raw.post("/v1/test-cases", json={**body, "agentId": self.agent_id})
                self.case_ids[r.name] = created.json()["testCaseId"]
            if r.kind == "TestCase":
                self.declared[f"test-case.{r.name}"] = case_digest(r, None)
            rid = self.agent_id if r.kind == "Agent" else self.case_ids[r.name]
            address = "agent.support" if r.kind == "Agent" else f"test-case.{r.name}"
            held = ResourceState(r.kind, rid, {}, config_digest(r), "2026-12-02T00:00:00Z")
            self.state = self.state.with_resource(address, held)

    def test(self, the_agent: Resource, *cases: Resource, gate: CaseGate | None = None) -> str:
        """A real run against the emulator, recorded as `sigmaform test` records it."""
        runs = [
            CaseToRun(
                f"test-case.{c.name}",
                self.case_ids[c.name],
                "agent.support",
                self.agent_id,
                int(c.spec["attempt"]),
                gate or CaseGate(),
                case_digest(c, None),
                self.state.resources["agent.support"].config_digest,
            )
            for c in cases
        ]
        result = run_plan(plan_run("staging", runs, TestSettings()), self.client)
        tests = recorded_tests(self.state.tests, result, self.declared)
        self.state = replace(self.state, tests=tests)
        return result.verdict


@pytest.fixture
def make_staging() -> Iterator[Any]:
    def build(*rules: str) -> Staging:
        app = EmulatorApp(judge=Judge(rules=tuple(Rule.parse(r) for r in rules)))
        transport = httpx.WSGITransport(app=app)
        raw = httpx.Client(transport=transport, base_url="http://e", headers={"X-API-Key": KEY})
        client = Client("http://e", KEY, transport=transport, retry=FAST)
        opened.append((raw, client))
        return Staging(client, raw)

    opened: list[tuple[httpx.Client, Client]] = []
    yield build
    for raw, client in opened:
        raw.close()
        client.close()


def gate_for(staging: Staging, *resources: Resource, require: bool = False) -> list[Any]:
    return gate_on_tests(resources, staging.state, ["agent.support"], require_tests=require)


def test_promotion_follows_what_staging_tested(make_staging: Any) -> None:
    staging: Staging = make_staging("Refund me.*=pass")
    support, refund = agent(), case()
    staging.apply(support, refund)
    never = gate_for(staging, support, refund)
    assert [(p.reason, p.message) for p in never] == [
        (Reason.TESTS_NEVER_RAN, "staging never ran its tests")
    ]
    assert staging.test(support, refund) == "passed"
    assert gate_for(staging, support, refund) == []  # passes after staging applied and passed

    # The prompt changed and was applied to staging, but not tested.
    edited = agent("Be helpful and brief.")
    staging.apply(edited)
    [stale] = gate_for(staging, edited, refund)
    assert stale.reason is Reason.TESTS_STALE
    assert str(stale) == (
        "agent.support (a.yaml): staging's tests have not passed at this content "
        "(the agent changed since they ran)"
    )
    assert staging.test(edited, refund) == "passed"
    assert gate_for(staging, edited, refund) == []  # a green run at this content

    # A test case changed (and was applied).
    stricter = case(criteria="Offers a human within one message.")
    staging.apply(stricter)
    [changed] = gate_for(staging, edited, stricter)
    assert changed.message.endswith("(test-case.refund changed since it ran)")


def test_failed_tests_refuse_until_a_green_run(make_staging: Any) -> None:
    staging: Staging = make_staging("tc_*=ffpppp")
    support, refund = agent(), case(attempt=3)
    staging.apply(support, refund)
    assert staging.test(support, refund) == "failed"  # 1/3
    [failed] = gate_for(staging, support, refund)
    assert failed.reason is Reason.TESTS_FAILED
    assert failed.message == "staging's tests failed at this content (1/3 attempts passed)"
    assert staging.test(support, refund) == "passed"  # 3/3: passes again after a green run
    assert gate_for(staging, support, refund) == []


def test_a_new_case_that_never_ran_blocks_and_a_targeted_run_keeps_the_others(
    make_staging: Any,
) -> None:
    staging: Staging = make_staging()
    support, refund, greeting = agent(), case(), case("greeting")
    staging.apply(support, refund, greeting)
    staging.test(support, refund)
    [missing] = gate_for(staging, support, refund, greeting)
    assert missing.message.endswith("(test-case.greeting has not run)")
    staging.test(support, greeting)  # like `test --target TestCase.greeting`
    assert sorted(staging.state.tests["agent.support"]["cases"]) == [
        "test-case.greeting",
        "test-case.refund",
    ]
    assert gate_for(staging, support, refund, greeting) == []


def test_promote_requires_tests_refuses_an_agent_without_cases(make_staging: Any) -> None:
    staging: Staging = make_staging()
    staging.apply(agent())
    assert gate_for(staging, agent()) == []
    [untested] = gate_for(staging, agent(), require=True)
    assert untested.reason is Reason.NO_TESTS
    refusal = untested_refusal("staging", "prod", [untested])
    assert refusal.exit_code == 3
    assert str(refusal).splitlines() == [
        "promotion to `prod` refused: 1 agent has not passed its tests in `staging` at "
        "this content:",
        "  agent.support (a.yaml): it has no test cases, and promoteRequiresTests asks for them",
        "Run them there (sigmaform -e staging test), then promote again.",
    ]


def test_the_gate_counts_in_a_case_digest() -> None:
    refund = case()
    assert case_digest(refund, None) == case_digest(refund, {"minPassRate": 1.0})
    assert case_digest(refund, None) != case_digest(refund, {"minPassRate": 0.8})
    assert case_digest(refund, {"required": True}) != case_digest(refund, None)


def test_state_keeps_tests_and_old_files_still_load(tmp_path: Path, make_staging: Any) -> None:
    staging: Staging = make_staging()
    staging.apply(agent(), case())
    staging.test(agent(), case())
    backend = LocalBackend(tmp_path / "staging.json")
    written = backend.write(staging.state)
    document = json.loads((tmp_path / "staging.json").read_text())
    record = document["tests"]["agent.support"]
    assert record["verdict"] == "passed" and record["attempts"] == 3
    assert record["agentDigest"] == config_digest(agent())
    assert record["cases"]["test-case.refund"]["batches"][0].startswith("batch_")
    assert backend.read() == written
    # A state file from before `tests` existed has none, and writes none.
    del document["tests"]
    (tmp_path / "staging.json").write_text(json.dumps(document))
    old = backend.read()
    assert old is not None and old.tests == {}
    assert "tests" not in old.to_dict()


def test_a_damaged_tests_record_is_refused(tmp_path: Path) -> None:
    state = State.new("staging").to_dict()
    state["tests"] = {"agent.support": {"verdict": "great"}}
    (tmp_path / "staging.json").write_text(json.dumps(state))
    with pytest.raises(Exception, match="damaged state") as error:
        LocalBackend(tmp_path / "staging.json").read()
    assert "tests" in str(error.value)
