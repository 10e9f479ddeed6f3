"""What state keeps of a test run, per agent: the content tested, and how it went.

    state.tests["agent.support"] = {
        "agentDigest": "Ab3...",                # the agent's configDigest the cases ran on
        "cases": {"test-case.refund": {"digest": "sha256:...", "batches": ["batch_..."],
                                       "successful": 4, "attempts": 5, "verdict": "passed"}},
        "successful": 4, "attempts": 5, "verdict": "passed", "ranAt": "2026-12-02T02:00:00Z"}

A case's digest covers its rendered config and its gate, so loosening a gate counts as a
change. A run of some of an agent's cases (`--target`) keeps the earlier results of the
others while the agent is unchanged; results of cases no longer declared are dropped.
`promote` compares all of this with the files (promote_tests.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sigmaform.digest import full_config_digest
from sigmaform.resource import Resource
from sigmaform.test_gate import CaseGate, suite_passes

if TYPE_CHECKING:
    from sigmaform.testrun import CaseResult, RunResult


def case_digest(resource: Resource, gate: Mapping[str, Any] | None) -> str:
    """A test case's config digest together with its gate."""
    payload = {"config": full_config_digest(resource), "gate": CaseGate.of(gate).to_dict()}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _case_entry(result: CaseResult) -> dict[str, Any]:
    return {
        "digest": result.case.digest,
        "batches": list(result.batches),
        "successful": result.successful,
        "attempts": result.attempts,
        "verdict": result.verdict,
    }


def recorded_tests(
    tests: Mapping[str, Mapping[str, Any]],
    result: RunResult,
    declared: Mapping[str, str],
) -> dict[str, dict[str, Any]]:
    """`tests` with this run's results; `declared`: every case's address -> current digest."""
    out = {k: dict(v) for k, v in tests.items()}
    by_agent: dict[str, list[CaseResult]] = {}
    for case in result.cases:
        by_agent.setdefault(case.case.agent_address, []).append(case)
    for agent, results in sorted(by_agent.items()):
        agent_digest = results[0].case.agent_digest
        earlier = out.get(agent) or {}
        cases: dict[str, Any] = {}
        if earlier.get("agentDigest") == agent_digest:
            cases = {
                address: entry
                for address, entry in dict(earlier.get("cases") or {}).items()
                if isinstance(entry, Mapping) and declared.get(address) == entry.get("digest")
            }
        cases.update({r.case.address: _case_entry(r) for r in results})
        successful = sum(int(c["successful"]) for c in cases.values())
        attempts = sum(int(c["attempts"]) for c in cases.values())
        verdicts = {c["verdict"] for c in cases.values()}
        if "error" in verdicts:
            verdict = "error"
        elif verdicts == {"passed"} and suite_passes(
            successful, attempts, result.plan.settings.min_pass_rate
        ):
            verdict = "passed"
        else:
            verdict = "failed"
        out[agent] = {
            "agentDigest": agent_digest,
            "cases": dict(sorted(cases.items())),
            "successful": successful,
            "attempts": attempts,
            "verdict": verdict,
            "ranAt": result.started_at,
        }
    return out


__all__ = ["case_digest", "recorded_tests"]
