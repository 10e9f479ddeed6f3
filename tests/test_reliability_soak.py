"""Fault soak: seeded create / change / delete rounds through the real CLI against a loopback
emulator that is slow, fails (503), rate-limits (429) and drops responses (502 after acting).

After every round (at most three applies), the server must hold exactly the declared agents,
state must match the server, and a refreshed plan must have nothing to do.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from reliability import (
    API_KEY,
    Cli,
    agent_name,
    agent_spec,
    assert_converged,
    assert_no_secrets,
    inspector,
    list_agents,
    loopback_emulator,
    remove_agent,
    write_agents,
    write_project,
    written_files,
)

from sigmaform.emulator import Faults
from sigmaform.emulator.journal import read_journal

RUNS = 30


@pytest.fixture(scope="module")
def tally() -> Iterator[dict[int, Counter[int]]]:
    """Response statuses per seeded run. Once the whole soak ran, it must have met every
    kind of fault (not merely passed against a quiet server)."""
    seen: dict[int, Counter[int]] = {}
    yield seen
    if len(seen) == RUNS:
        total: Counter[int] = sum(seen.values(), Counter())
        assert total[503] > 0 and total[502] > 0 and total[429] > 0, dict(total)


def _faults(seed: int, round_: int) -> Faults:
    # A 429 costs at least a second (Retry-After is whole seconds), so the rate limit only
    # trips in the create round of every tenth run; every round sees 503s and lost responses.
    tight = seed % 10 == 0 and round_ == 0
    return Faults(
        latency_ms=1 + seed % 4,
        error_rate=0.1,
        drop_rate=0.05,
        rate_limit=10 if tight else 1000,
        seed=seed * 10 + round_,
    )


def _round(
    root: Path, data_dir: Path, faults: Faults, specs: dict[str, dict[str, Any]], *extra: str
) -> list[str]:
    """Apply (at most three times) until it succeeds, then check the invariants."""
    # A fresh server per round on the same data: each round gets its own faults.
    with loopback_emulator(data_dir, faults) as base_url:
        write_project(root, {"baseUrl": base_url, "apiKeyEnv": "REL_API_KEY"})
        cli = Cli(root, verbose=True)
        cli.apply_until_converged(*extra)
        with inspector(data_dir, API_KEY) as api:
            remote = list_agents(api)
        assert_converged(root, remote, {s["agentName"] for s in specs.values()})
        plan = cli("plan", "--detailed-exitcode")
        assert plan.exit_code == 0 and "Changed outside" not in plan.stdout, str(plan)
    return cli.outputs()


@pytest.mark.parametrize("seed", range(RUNS))
def test_apply_converges_under_faults(
    tmp_path: Path, seed: int, tally: dict[int, Counter[int]]
) -> None:
    rng = random.Random(seed)
    count = rng.randint(8, 10)
    root, data_dir = tmp_path / "project", tmp_path / "emulator"
    specs = {agent_name(i): agent_spec(i) for i in range(count)}
    write_agents(root, specs)
    outputs = _round(root, data_dir, _faults(seed, 0), specs)

    for name in rng.sample(sorted(specs), max(1, count // 5)):
        specs[name] = agent_spec(int(name[1:]), revision=rng.randint(1, 9))
    write_agents(root, specs)
    outputs += _round(root, data_dir, _faults(seed, 1), specs)

    for name in rng.sample(sorted(specs), max(1, count // 10)):
        del specs[name]
        remove_agent(root, name)
    outputs += _round(root, data_dir, _faults(seed, 2), specs, "--allow-delete")

    tally[seed] = Counter(e.status for e in read_journal(data_dir / "journal.jsonl"))
    assert_no_secrets(outputs, written_files(root))
