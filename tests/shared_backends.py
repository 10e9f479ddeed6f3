"""The plan/apply end-to-end scenarios, run again on each shared state backend.

`test_apply_e2e` holds the scenarios; the backend modules parametrise one test over
`SCENARIOS`, pointing the example project's `state:` at their backend first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
import test_apply_e2e as e2e
from conftest import Project

from sigmaform.state import ResourceState

# The scenarios that are about the local file itself; the rest run on every backend.
LOCAL_FILE_SCENARIOS = {
    "test_concurrent_apply_is_refused_naming_the_holder",  # holds the file lock
    "test_no_secret_in_state_plan_files_or_outputs",  # reads .sigmaform/state/
    "test_state_file_is_sorted_and_matches_its_schema",
    "test_state_unlock_refuses_a_live_holder_even_forced",  # holds the file lock
}
SCENARIOS = sorted(n for n in vars(e2e) if n.startswith("test_") and n not in LOCAL_FILE_SCENARIOS)


def run_scenario(scenario: str, project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run one scenario on `project` (whose state() reads the shared backend)."""
    # `-v` adds its stderr handler once per process; one left by an earlier test's CliRunner
    # would swallow the verbose scenario's log lines.
    monkeypatch.setattr(logging.getLogger("sigmaform"), "handlers", [])
    getattr(e2e, scenario)(project)
    assert not (project.root / ".sigmaform" / "state").exists()


def a_resource(n: int) -> ResourceState:
    return ResourceState(
        kind="Agent",
        id=f"agent-{n}",
        applied={"agentName": f"Agent {n}", "agentSettings": {"llmTemperature": 0.3}},
        config_digest=f"sha256:{n}",
        applied_at="2026-01-01T00:00:00Z",
        protect=n == 1,
        nested_ids={"webhooks": {"events": "wh_1"}},
    )


def wait_for(condition: Callable[[], Any], what: str, limit: float = 30.0) -> Any:
    """Poll until `condition` is truthy; the limit only keeps a broken test from hanging."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"gave up waiting for {what}")
