"""`sigmaform test`: plan a run of test cases, run one batch per case, judge the results.

    cases_for(project, state, targets) -> [CaseToRun]     what the files declare, as applied
    check_remote(project, state, client, plan)            ... and as the remote still holds
    RunPlan(env, cases, settings).check_cost()          refused (exit 3) past maxAttempts
    run_plan(plan, client, ...) -> RunResult              batches, polling, reruns, verdicts

One batch per case, because a batch's counters are its only result: per-case pass rates
need a batch each. A batch is finished when successful + failed attempts reach the case's
`attempt`; counters that stop moving for `stallAfter`, or a run past `timeout`, are errors,
never a pass. `rerunFailed: N` gives a case that failed its gate up to N more batches and
judges it on all its attempts together; reruns spend from the same `maxAttempts` budget.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sigmaform import invocation
from sigmaform.batch_api import BatchApi, BatchCounts, TestRun
from sigmaform.digest import config_digest
from sigmaform.errors import ApiError, ConfigError, RefusedError
from sigmaform.operations import fetch_remote
from sigmaform.plan import build_plan
from sigmaform.render_drift import drift_report
from sigmaform.resource import Project, Resource, TestSettings
from sigmaform.state import State, describe_wait, utc_now
from sigmaform.test_gate import CaseGate, Verdict, case_verdict, rate, suite_passes
from sigmaform.test_record import case_digest

if TYPE_CHECKING:
    from sigmaform.client import Client

TEST_CASE = "TestCase"
CASE_PREFIX = "test-case"
AGENT_PREFIX = "agent"
FIRST_POLL_S = 0.2
MAX_POLL_S = 15.0
POLL_GROWTH = 1.5
# Failed attempts whose details are read and shown per case: enough to see the pattern.
MAX_DETAILS = 5


@dataclass(frozen=True)
class CaseToRun:
    """One test case as the environment holds it: the ids to send and the gate to meet."""

    address: str  # test-case.NAME
    case_id: str
    agent_address: str  # agent.NAME
    agent_id: str
    attempt: int
    gate: CaseGate
    digest: str  # test_record.case_digest: the case's config and its gate
    agent_digest: str
    label: str = ""


@dataclass(frozen=True)
class RunPlan:
    environment: str
    cases: tuple[CaseToRun, ...]
    settings: TestSettings

    @property
    def attempts(self) -> int:
        return sum(c.attempt for c in self.cases)

    @property
    def agents(self) -> tuple[str, ...]:
        return tuple(sorted({c.agent_address for c in self.cases}))

    def check_cost(self) -> None:
        """The cost guard: refused (exit 3) past `tests.maxAttempts`, before any batch."""
        if self.attempts > self.settings.max_attempts:
            raise RefusedError(
                f"refusing to run {self.attempts} attempts in `{self.environment}`: more "
                f"than tests.maxAttempts ({self.settings.max_attempts}) in sigmaform.yaml. "
                "Run fewer (--target), lower `attempt`, or raise maxAttempts"
            )


@dataclass(frozen=True)
class CaseResult:
    case: CaseToRun
    batches: tuple[str, ...]
    successful: int
    attempts: int  # judged attempts, over all its batches
    verdict: Verdict
    error: str = ""
    failures: tuple[TestRun, ...] = ()  # failed attempts the server let us read

    @property
    def pass_rate(self) -> float:
        return rate(self.successful, self.attempts)


@dataclass(frozen=True)
class RunResult:
    plan: RunPlan
    cases: tuple[CaseResult, ...]
    started_at: str
    skipped_reruns: int = 0  # reruns the maxAttempts budget did not allow

    @property
    def successful(self) -> int:
        return sum(c.successful for c in self.cases)

    @property
    def attempts(self) -> int:
        return sum(c.attempts for c in self.cases)

    @property
    def suite_passed(self) -> bool:
        return suite_passes(self.successful, self.attempts, self.plan.settings.min_pass_rate)

    @property
    def errors(self) -> tuple[CaseResult, ...]:
        return tuple(c for c in self.cases if c.verdict == "error")

    @property
    def verdict(self) -> Verdict:
        if self.errors:
            return "error"
        ok = self.suite_passed and all(c.verdict == "passed" for c in self.cases)
        return "passed" if ok else "failed"


# -- what to run -----------------------------------------------------------------------


def _address(target: str) -> str:
    """`agent.x`, `Agent.x`, `test-case.x` or `TestCase.x` as a state address."""
    prefix, dot, name = target.partition(".")
    kinds = {"agent": AGENT_PREFIX, "Agent": AGENT_PREFIX}
    kinds.update({"test-case": CASE_PREFIX, "TestCase": CASE_PREFIX})
    if not dot or not name or prefix not in kinds:
        raise ConfigError(
            f"--target {target!r}: expected Agent.NAME or TestCase.NAME (an agent runs all "
            "its test cases)"
        )
    return f"{kinds[prefix]}.{name}"


def cases_for(project: Project, state: State, targets: Sequence[str] = ()) -> list[CaseToRun]:
    """The project's test cases (all, or those `targets` select) with their remote ids.

    Refused (exit 3) when a case or its agent is not what the files declare as applied:
    tests must run on the declared content, and their record names it.
    """
    wanted = {_address(t) for t in targets}
    agents = {r.address: r for r in project.resources if r.kind == "Agent"}
    cases = [r for r in project.resources if r.kind == TEST_CASE]
    known = set(agents) | {_case_address(r) for r in cases}
    unknown = sorted(wanted - known)
    if unknown:
        raise ConfigError(
            f"--target {', '.join(unknown)}: no such agent or test case in "
            f"environment `{project.environment.name}`"
        )
    chosen: list[CaseToRun] = []
    stale: list[str] = []
    for resource in sorted(cases, key=_case_address):
        address = _case_address(resource)
        agent_address = f"{AGENT_PREFIX}.{resource.spec.get('agent')}"
        if wanted and address not in wanted and agent_address not in wanted:
            continue
        agent = agents.get(agent_address)
        agent_state = state.resources.get(agent_address)
        case_state = state.resources.get(address)
        if agent is None:
            raise ConfigError(f"{address} ({resource.source}): no agent `{agent_address}`")
        for what, held, declared in (
            (agent_address, agent_state, agent),
            (address, case_state, resource),
        ):
            if held is None:
                stale.append(f"{what}: never applied")
            elif not held.config_digest:
                stale.append(f"{what}: its last apply could not be verified")
            elif held.config_digest != config_digest(declared):
                stale.append(f"{what}: the files differ from what was applied")
        if agent_state is None or case_state is None:
            continue
        chosen.append(
            CaseToRun(
                address=address,
                case_id=case_state.id,
                agent_address=agent_address,
                agent_id=agent_state.id,
                attempt=int(resource.spec.get("attempt", 1)),
                gate=CaseGate.of(resource.gate),
                digest=case_digest(resource, resource.gate),
                agent_digest=agent_state.config_digest,
                label=str(resource.spec.get("label") or ""),
            )
        )
    if stale:
        env = project.environment.name
        lines = [
            f"refusing to test `{env}`: tests must run on what the files declare, and a plan "
            "would change:",
            *(f"  {line}" for line in sorted(set(stale))),
            f"Apply first ({invocation.command('apply', env=env)}), then test again.",
        ]
        raise RefusedError("\n".join(lines))
    return chosen


def check_remote(project: Project, state: State, client: Client, plan: RunPlan) -> None:
    """Refused (exit 3) when what will be tested was changed outside sigmaform since it was
    applied: the test would run on other content than the files (and the record) say."""
    wanted = {c.address for c in plan.cases} | set(plan.agents)
    addresses = sorted(a for a in wanted if a in state.resources)  # what was applied
    remote = fetch_remote(project.resources, state, client, addresses)
    refreshed = build_plan(project.resources, state, remote, targets=addresses, retarget=False)
    entries = drift_report(refreshed, state).entries
    if not entries:
        return
    env = project.environment.name
    lines = [
        f"refusing to test `{env}`: tests must run on what the files declare, and the remote "
        "differs:",
        *(
            f"  {e.plan.address}: "
            + ("deleted outside sigmaform" if e.status == "gone" else "changed outside sigmaform")
            for e in entries
        ),
        f"Apply first ({invocation.command('apply', env=env)}) to restore what the files "
        f"declare (`{invocation.command('drift', env=env)}` shows the changes), then test again.",
    ]
    raise RefusedError("\n".join(lines))


def _case_address(resource: Resource) -> str:
    return f"{CASE_PREFIX}.{resource.name}"


def plan_run(environment: str, cases: Sequence[CaseToRun], settings: TestSettings) -> RunPlan:
    """The run, refused (exit 3) before anything is started when it would cost too much."""
    plan = RunPlan(environment, tuple(cases), settings)
    plan.check_cost()
    return plan


# -- running ---------------------------------------------------------------------------


class _Budget:
    """Attempts still allowed for reruns, shared by the cases' threads."""

    def __init__(self, left: int) -> None:
        self.left = left
        self.refused = 0
        self._lock = threading.Lock()

    def take(self, attempts: int) -> bool:
        with self._lock:
            if attempts > self.left:
                self.refused += 1
                return False
            self.left -= attempts
            return True


class _RunFailed(Exception):
    """A batch that stalled or ran out of time: the case is an error."""


@dataclass
class _Clock:
    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    deadline: float = field(default=0.0)


def run_plan(
    plan: RunPlan,
    client: Client,
    *,
    on_progress: Callable[[str], None] = lambda _: None,
    now: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> RunResult:
    """Run every case of the plan, concurrently within the client's parallelism."""
    started_at = utc_now()
    api = BatchApi(client)
    clock = _Clock(now, sleep, now() + plan.settings.timeout)
    budget = _Budget(plan.settings.max_attempts - plan.attempts)

    def one(case: CaseToRun) -> CaseResult:
        result = _run_case(case, api, plan.settings, budget, clock)
        shown = result.error or f"{result.successful}/{result.attempts} {result.verdict}"
        on_progress(f"{case.address}: {shown}")
        return result

    outcomes = client.map_concurrent(one, list(plan.cases))
    results = []
    for case, outcome in zip(plan.cases, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            if not isinstance(outcome, Exception):
                raise outcome  # Ctrl-C and the like stop the run
            outcome = CaseResult(case, (), 0, 0, "error", error=f"unexpected: {outcome!r}")
        results.append(outcome)
    return RunResult(plan, tuple(results), started_at, skipped_reruns=budget.refused)


def _run_case(
    case: CaseToRun, api: BatchApi, settings: TestSettings, budget: _Budget, clock: _Clock
) -> CaseResult:
    batches: list[str] = []
    successful = attempts = 0
    failures: list[TestRun] = []
    reruns = 0
    while True:
        try:
            batch_id = api.start(case.agent_id, [case.case_id])
            batches.append(batch_id)
            counts = _wait(case, api, batch_id, settings, clock)
            failures.extend(_failures(case, api, batch_id, counts, MAX_DETAILS - len(failures)))
        except (ApiError, _RunFailed) as error:
            return CaseResult(
                case, tuple(batches), successful, attempts, "error", str(error), tuple(failures)
            )
        successful += counts.successful
        attempts += counts.judged
        verdict = case_verdict(successful, attempts, case.gate)
        if verdict == "passed" or reruns >= settings.rerun_failed:
            break
        if not budget.take(case.attempt):
            break
        reruns += 1
    return CaseResult(case, tuple(batches), successful, attempts, verdict, "", tuple(failures))


def _wait(
    case: CaseToRun, api: BatchApi, batch_id: str, settings: TestSettings, clock: _Clock
) -> BatchCounts:
    """Poll a batch with growing pauses until its counters reach the case's attempts."""
    interval = FIRST_POLL_S
    last: tuple[int, int] | None = None
    moved_at = clock.now()
    while True:
        counts = api.read(case.agent_id, batch_id)
        now = clock.now()
        if counts.judged >= case.attempt:
            return counts
        if (counts.successful, counts.failed) != last:
            last, moved_at = (counts.successful, counts.failed), now
        if now - moved_at >= settings.stall_after:
            raise _RunFailed(
                f"batch {batch_id} stalled: its counters stayed at {counts.judged}/"
                f"{case.attempt} attempts for {describe_wait(settings.stall_after)} "
                "(tests.stallAfter)"
            )
        if now >= clock.deadline:
            raise _RunFailed(
                f"batch {batch_id} had {counts.judged}/{case.attempt} attempts done when the "
                f"run reached its {describe_wait(settings.timeout)} limit (tests.timeout)"
            )
        pause = min(interval, moved_at + settings.stall_after - now, clock.deadline - now)
        clock.sleep(max(pause, 0.01))
        interval = min(interval * POLL_GROWTH, MAX_POLL_S)


def _failures(
    case: CaseToRun, api: BatchApi, batch_id: str, counts: BatchCounts, room: int
) -> list[TestRun]:
    """The failed attempts' details, where the server names the jobs (never otherwise)."""
    found: list[TestRun] = []
    if counts.failed == 0 or room <= 0:
        return found
    for job_id in counts.job_ids:
        run = api.test_run(case.agent_id, batch_id, job_id)
        if run.passed is False:
            found.append(run)
            if len(found) >= room:
                break
    return found


__all__ = [
    "CaseResult",
    "CaseToRun",
    "RunPlan",
    "RunResult",
    "cases_for",
    "check_remote",
    "plan_run",
    "run_plan",
]
