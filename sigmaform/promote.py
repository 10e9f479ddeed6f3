"""The promotion gate: may ENV receive the current files, given what its source env applied?

    gate(source_resources, source_state, target_addresses) -> list[GateProblem]

Pure. A resource passes when the digest of its config rendered for the source
environment equals the `configDigest` the source's state recorded at its last verified
apply. The digest counts secrets by their source expression, so the source renders with
placeholders: promotion needs none of the source environment's secrets.

Which resources are gated: those of the target environment that also exist in the source
environment. A resource the source never declares (`only: [prod]`) cannot be applied
there, so it is reported as not gated rather than blocking every promotion. Values that
only the target's `environments:` override sets are, by design, not compared: they are
the intended differences (`sigmaform diff-env` shows them for review).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sigmaform import invocation
from sigmaform.digest import config_digest
from sigmaform.errors import PromotionGateError
from sigmaform.plan import Action, Plan
from sigmaform.resource import Resource
from sigmaform.state import State


class Reason(StrEnum):
    CHANGED = "changed"
    NEVER_APPLIED = "never-applied"
    UNVERIFIED = "unverified"
    DELETE_NOT_APPLIED = "delete-not-applied"
    # The test gate (promote_tests.py)
    TESTS_NEVER_RAN = "tests-never-ran"
    TESTS_STALE = "tests-stale"
    TESTS_FAILED = "tests-failed"
    NO_TESTS = "no-tests"


@dataclass(frozen=True)
class GateProblem:
    """One resource the target may not receive yet, and why (in the user's words)."""

    address: str
    reason: Reason
    message: str
    source: str = ""  # the file that declares it, when known

    def __str__(self) -> str:
        where = f" ({self.source})" if self.source else ""
        return f"{self.address}{where}: {self.message}"


@dataclass(frozen=True)
class GateResult:
    source_env: str
    target_env: str
    problems: tuple[GateProblem, ...]
    gated: tuple[str, ...]  # addresses compared and found as the source applied them
    not_gated: tuple[str, ...]  # addresses only the target declares

    @property
    def passed(self) -> bool:
        return not self.problems


def gate(
    source_resources: Sequence[Resource],
    source_state: State,
    target_addresses: Collection[str],
    *,
    target_env: str = "",
) -> GateResult:
    """Compare each target resource that the source also declares with the source's state."""
    source_env = source_state.environment
    by_address = {r.address: r for r in source_resources}
    problems: list[GateProblem] = []
    gated: list[str] = []
    not_gated: list[str] = []
    for address in sorted(target_addresses):
        resource = by_address.get(address)
        if resource is None:
            not_gated.append(address)
            continue
        problem = _check(resource, source_state, source_env)
        if problem is None:
            gated.append(address)
        else:
            problems.append(problem)
    return GateResult(source_env, target_env, tuple(problems), tuple(gated), tuple(not_gated))


def _check(resource: Resource, state: State, env: str) -> GateProblem | None:
    recorded = state.resources.get(resource.address)
    if recorded is None:
        return GateProblem(
            resource.address,
            Reason.NEVER_APPLIED,
            f"{env} never applied it",
            resource.source,
        )
    if not recorded.config_digest:
        return GateProblem(
            resource.address,
            Reason.UNVERIFIED,
            f"{env}'s last apply of it could not be verified",
            resource.source,
        )
    if recorded.config_digest != config_digest(resource):
        return GateProblem(
            resource.address,
            Reason.CHANGED,
            f"changed since {env} applied it",
            resource.source,
        )
    return None


def gate_deletes(target_plan: Plan, source_state: State) -> list[GateProblem]:
    """Deletes the target would run while the source still manages the resource.

    Only meaningful with `--allow-delete`: without it the target's deletes are reported and
    left alone. Protected resources are never deleted, so they are not gated either.
    """
    env = source_state.environment
    return [
        GateProblem(
            rp.address,
            Reason.DELETE_NOT_APPLIED,
            f"its file is gone but {env} still manages it: "
            "delete it there first "
            f"({invocation.command('apply', '--allow-delete', env=env)})",
        )
        for rp in target_plan.resources
        if rp.action is Action.DELETE and not rp.protect and rp.address in source_state.resources
    ]


def refusal(
    source_env: str, target_env: str, problems: Sequence[GateProblem]
) -> PromotionGateError:
    """The exit-3 error naming every resource and why."""
    count = len(problems)
    noun = "resource is" if count == 1 else "resources are"
    lines = [
        f"promotion to `{target_env}` refused: {count} {noun} not what `{source_env}` "
        "last applied:",
        *(f"  {p}" for p in problems),
        f"Apply the current files to `{source_env}` first "
        f"({invocation.command('apply', env=source_env)}), then promote again.",
    ]
    return PromotionGateError("\n".join(lines))


__all__ = ["GateProblem", "GateResult", "Reason", "gate", "gate_deletes", "refusal"]
