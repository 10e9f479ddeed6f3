"""Judging a test run: each case against its own gate, the suite against the environment's.

    case_verdict(successful, attempts, gate) -> "passed" | "failed"
    suite_passes(successful, attempts, min_pass_rate) -> bool

Pure. A case's gate is `{minPassRate: R}` (successful / attempts >= R; default 1.0, every
attempt) or `{required: true}` (every attempt, whatever R says). A case with no judged
attempts has not passed: nothing was shown to work.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Verdict = Literal["passed", "failed", "error"]
DEFAULT_MIN_PASS_RATE = 1.0
# Rates are compared with a little slack: 0.9 of 10 attempts is 9, whatever floats say.
_EPSILON = 1e-9


@dataclass(frozen=True)
class CaseGate:
    """What one case must reach."""

    min_pass_rate: float = DEFAULT_MIN_PASS_RATE
    required: bool = False

    @classmethod
    def of(cls, gate: Mapping[str, Any] | None) -> CaseGate:
        if not gate:
            return cls()
        rate = gate.get("minPassRate", DEFAULT_MIN_PASS_RATE)
        return cls(float(rate), bool(gate.get("required", False)))

    def to_dict(self) -> dict[str, Any]:
        if self.required:
            return {"required": True}
        return {"minPassRate": self.min_pass_rate}

    def describe(self) -> str:
        if self.required or self.min_pass_rate >= 1.0:
            return "every attempt"
        return f">= {self.min_pass_rate:.0%}"


def rate(successful: int, attempts: int) -> float:
    return successful / attempts if attempts else 0.0


def case_verdict(successful: int, attempts: int, gate: CaseGate) -> Verdict:
    if attempts <= 0:
        return "failed"
    if gate.required:
        return "passed" if successful == attempts else "failed"
    return "passed" if rate(successful, attempts) + _EPSILON >= gate.min_pass_rate else "failed"


def suite_passes(successful: int, attempts: int, min_pass_rate: float) -> bool:
    if min_pass_rate <= 0:
        return True
    return attempts > 0 and rate(successful, attempts) + _EPSILON >= min_pass_rate


__all__ = ["CaseGate", "Verdict", "case_verdict", "rate", "suite_passes"]
