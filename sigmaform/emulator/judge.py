"""The emulator's stand-in for SigmaMind's simulation judge: deterministic and configurable.

A real batch run simulates conversations and an LLM judges each attempt; here the outcome
of every attempt is chosen by rules a test sets, and attempts complete at a chosen pace:

* `rules`: `PATTERN=OUTCOME`, first match wins (no match: pass). PATTERN is a glob over a
  test case's `label` or `testCaseId`. OUTCOME is `pass`, `fail`, a pass probability
  (`0.8`, decided by a hash of `seed`, the case id and the attempt's number, so the same
  data gives the same outcomes) or a sequence of `p`/`f` letters taken in turn by the
  case's attempts across all its batches (`ffp`: fail, fail, pass, fail, ...).
* `pace`: `instant` (a batch is done when created), `N/read` (each GET of the batch
  completes N more attempts) or `N/s` (N attempts complete per second after creation).
* `stall_at`: the counters stop once this many attempts completed (`0`: nothing ever
  completes), as a batch whose simulations hang would look from outside.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Literal

# The keys of emulator.json that configure the judge.
JUDGE_KEYS = ("judge", "judge_seed", "batch_pace", "batch_stall_at")
PaceUnit = Literal["instant", "read", "s"]
_SEQUENCE = re.compile(r"[pf]+")
_PACE = re.compile(r"(?P<n>[0-9]+(?:\.[0-9]+)?)/(?P<unit>read|s)")


@dataclass(frozen=True)
class Rule:
    """Which cases (a glob over label or id) get which outcome."""

    pattern: str
    outcome: str  # "pass", "fail", a probability such as "0.8", or a p/f sequence

    @classmethod
    def parse(cls, text: str) -> Rule:
        pattern, sep, outcome = text.rpartition("=")
        if not sep or not pattern:
            raise ValueError(f"judge rule {text!r}: expected PATTERN=OUTCOME, e.g. 'refund-*=fail'")
        outcome = outcome.strip().lower()
        if outcome not in ("pass", "fail") and not _SEQUENCE.fullmatch(outcome):
            try:
                probability = float(outcome)
            except ValueError:
                probability = -1.0
            if not 0.0 <= probability <= 1.0:
                raise ValueError(
                    f"judge rule {text!r}: the outcome must be pass, fail, a pass probability "
                    "from 0 to 1, or a sequence of p and f"
                )
        return cls(pattern.strip(), outcome)

    def matches(self, case: dict[str, Any]) -> bool:
        names = (case.get("label"), case.get("testCaseId"))
        return any(isinstance(n, str) and fnmatchcase(n, self.pattern) for n in names)

    def __str__(self) -> str:
        return f"{self.pattern}={self.outcome}"


@dataclass(frozen=True)
class Pace:
    unit: PaceUnit = "instant"
    rate: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Pace:
        if text == "instant":
            return cls()
        found = _PACE.fullmatch(text.strip())
        if found is None or float(found["n"]) <= 0:
            raise ValueError(
                f"batch pace {text!r}: expected instant, N/read or N/s (N above 0), e.g. 2/read"
            )
        unit: PaceUnit = "read" if found["unit"] == "read" else "s"
        return cls(unit, float(found["n"]))

    def __str__(self) -> str:
        return "instant" if self.unit == "instant" else f"{self.rate:g}/{self.unit}"


@dataclass(frozen=True)
class Judge:
    rules: tuple[Rule, ...] = ()
    seed: int = 0
    pace: Pace = Pace()
    stall_at: int | None = None

    def __post_init__(self) -> None:
        if self.stall_at is not None and self.stall_at < 0:
            raise ValueError("batch_stall_at must be 0 or greater")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Judge:
        """From emulator.json's `judge`, `judge_seed`, `batch_pace`, `batch_stall_at`."""
        rules = config.get("judge", [])
        if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
            raise ValueError("judge must be a list of PATTERN=OUTCOME strings")
        seed = config.get("judge_seed", 0)
        stall = config.get("batch_stall_at")
        for name, value in (("judge_seed", seed), ("batch_stall_at", stall)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{name} must be an integer")
        pace = config.get("batch_pace", "instant")
        if not isinstance(pace, str):
            raise ValueError("batch_pace must be a string: instant, N/read or N/s")
        return cls(tuple(Rule.parse(r) for r in rules), seed or 0, Pace.parse(pace), stall)

    def overridden_by(self, other: Judge) -> Judge:
        """`self` with every setting `other` changed from the default."""
        default = Judge()
        return Judge(
            rules=other.rules or self.rules,
            seed=other.seed if other.seed != default.seed else self.seed,
            pace=other.pace if other.pace != default.pace else self.pace,
            stall_at=other.stall_at if other.stall_at is not None else self.stall_at,
        )

    def outcome(self, case: dict[str, Any], ordinal: int) -> bool:
        """Whether the case's attempt number `ordinal` (0-based, over all its batches) passes."""
        rule = next((r for r in self.rules if r.matches(case)), None)
        if rule is None or rule.outcome == "pass":
            return True
        if rule.outcome == "fail":
            return False
        if _SEQUENCE.fullmatch(rule.outcome):
            return rule.outcome[ordinal % len(rule.outcome)] == "p"
        seed = f"{self.seed}:{case.get('testCaseId')}:{ordinal}".encode()
        draw = int.from_bytes(hashlib.sha256(seed).digest()[:8], "big") / 2**64
        return draw < float(rule.outcome)

    def completed(self, total: int, reads: int, elapsed_s: float) -> int:
        """How many of a batch's `total` attempts are done after `reads` GETs and `elapsed_s`."""
        if self.pace.unit == "instant":
            done = total
        elif self.pace.unit == "read":
            done = math.floor(reads * self.pace.rate)
        else:
            done = math.floor(elapsed_s * self.pace.rate)
        if self.stall_at is not None:
            done = min(done, self.stall_at)
        return max(0, min(done, total))
