"""The promotion gate on tests: prod takes an agent only at content that passed in staging.

    gate_on_tests(source_resources, source_state, target_addresses, require_tests) -> [GateProblem]

Pure. For each agent the target receives (and the source also declares) that has test
cases in the source's files, the source's recorded test result (`state.tests`) must be a
pass at the agent's current config digest and at every one of its test cases' current
digests (config and gate). With `promoteRequiresTests: true` on the target, an agent
without test cases is refused too. Digests are those of the files rendered for the source
environment: the same content promote's first gate checks was applied there.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sigmaform import invocation
from sigmaform.digest import config_digest
from sigmaform.errors import PromotionGateError
from sigmaform.promote import GateProblem, Reason
from sigmaform.resource import Resource
from sigmaform.state import State
from sigmaform.test_record import case_digest

TEST_CASE = "TestCase"


def gate_on_tests(
    source_resources: Sequence[Resource],
    source_state: State,
    target_addresses: Collection[str],
    *,
    require_tests: bool = False,
) -> list[GateProblem]:
    env = source_state.environment
    cases_of: dict[str, list[Resource]] = {}
    for resource in source_resources:
        if resource.kind == TEST_CASE:
            cases_of.setdefault(f"agent.{resource.spec.get('agent')}", []).append(resource)
    problems: list[GateProblem] = []
    for agent in sorted(source_resources, key=lambda r: r.name):
        if agent.kind != "Agent" or agent.address not in target_addresses:
            continue
        cases = cases_of.get(agent.address, [])
        problem = _check(agent, cases, source_state.tests.get(agent.address), env)
        if problem is None and not cases and require_tests:
            problem = (
                Reason.NO_TESTS,
                "it has no test cases, and promoteRequiresTests asks for them",
            )
        if problem is not None:
            problems.append(GateProblem(agent.address, problem[0], problem[1], agent.source))
    return problems


def _check(
    agent: Resource,
    cases: Sequence[Resource],
    record: Mapping[str, Any] | None,
    env: str,
) -> tuple[Reason, str] | None:
    if not cases:
        return None
    if record is None:
        return Reason.TESTS_NEVER_RAN, f"{env} never ran its tests"
    stale = f"{env}'s tests have not passed at this content"
    if record.get("agentDigest") != config_digest(agent):
        return Reason.TESTS_STALE, f"{stale} (the agent changed since they ran)"
    entries = record.get("cases") or {}
    for case in sorted(cases, key=lambda r: r.name):
        address = f"test-case.{case.name}"
        entry = entries.get(address)
        if not isinstance(entry, Mapping):
            return Reason.TESTS_STALE, f"{stale} ({address} has not run)"
        if entry.get("digest") != case_digest(case, case.gate):
            return Reason.TESTS_STALE, f"{stale} ({address} changed since it ran)"
    if record.get("verdict") != "passed" or any(
        entries[f"test-case.{c.name}"].get("verdict") != "passed" for c in cases
    ):
        counts = f"{record.get('successful', 0)}/{record.get('attempts', 0)} attempts passed"
        return Reason.TESTS_FAILED, f"{env}'s tests failed at this content ({counts})"
    return None


def untested_refusal(
    source_env: str, target_env: str, problems: Sequence[GateProblem]
) -> PromotionGateError:
    """The exit-3 error naming every agent and why."""
    count = len(problems)
    noun = "agent has not passed its" if count == 1 else "agents have not passed their"
    lines = [
        f"promotion to `{target_env}` refused: {count} {noun} tests in "
        f"`{source_env}` at this content:",
        *(f"  {p}" for p in problems),
        f"Run them there ({invocation.command('test', env=source_env)}), then promote again.",
    ]
    return PromotionGateError("\n".join(lines))


__all__ = ["gate_on_tests", "untested_refusal"]
