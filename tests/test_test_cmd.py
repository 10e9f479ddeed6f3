"""`sigmaform test` and the `tests:` settings through the real CLI; `promoteRequiresTests`."""

from __future__ import annotations

import pytest
from conftest import Project
from multienv import MultiEnv, multi

from sigmaform.duration import parse_duration

__all__ = ["multi"]  # the fixture, imported for pytest

PROD = "    promoteFrom: staging\n"


def set_prod(project_root: object, line: str) -> None:
    path = project_root / "sigmaform.yaml"  # type: ignore[operator]
    text = path.read_text()
    assert PROD in text
    path.write_text(text.replace(PROD, PROD + line))


def test_a_project_without_test_cases_has_nothing_to_run(example: Project) -> None:
    result = example.run("test")
    assert result.exit_code == 0, result.output
    assert result.output == "No test cases to run in `local`.\n"
    assert example.journal() == []  # nothing sent


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("TestCase.nope", "--target test-case.nope: no such agent or test case in environment"),
        ("Agent.nope", "--target agent.nope: no such agent or test case in environment"),
        ("nope", "--target 'nope': expected Agent.NAME or TestCase.NAME"),
        ("PhoneNumber.main-line", "expected Agent.NAME or TestCase.NAME"),
    ],
)
def test_a_bad_target_is_an_error(example: Project, target: str, message: str) -> None:
    result = example.run("test", "--target", target)
    assert result.exit_code == 1
    assert message in result.output
    assert example.journal() == []


def test_bad_test_settings_name_the_file_line_and_field(example: Project) -> None:
    set_prod(example.root, "    tests: {stallAfter: 5 minutes, timeout: 0s}\n")
    result = example.run("validate")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "sigmaform.yaml:32:25: environments.prod.tests.stallAfter: expected a duration such "
        "as 90s, 5m or 1h, not '5 minutes'",
        "sigmaform.yaml:32:45: environments.prod.tests.timeout: expected a duration such "
        "as 90s, 5m or 1h, not '0s'",
        "2 errors",
    ]
    assert example.journal() == []


def test_a_negative_rerun_count_is_refused(example: Project) -> None:
    set_prod(example.root, "    tests: {rerunFailed: -1}\n")
    result = example.run("test")
    assert result.exit_code == 1
    assert "sigmaform.yaml:32:" in result.output
    assert "environments.prod.tests.rerunFailed" in result.output


def test_test_settings_load(example: Project) -> None:
    set_prod(
        example.root,
        "    promoteRequiresTests: true\n"
        "    tests: {minPassRate: 0.9, maxAttempts: 50, stallAfter: 90s, timeout: 1h,"
        " rerunFailed: 2}\n",
    )
    from sigmaform.operations import open_project

    prod = open_project(example.root, "prod", secrets="placeholder").environment
    assert prod.promote_requires_tests is True
    assert (prod.tests.min_pass_rate, prod.tests.max_attempts) == (0.9, 50)
    assert (prod.tests.stall_after, prod.tests.timeout, prod.tests.rerun_failed) == (90, 3600, 2)
    local = open_project(example.root, "local", secrets="placeholder").environment
    assert (local.tests.stall_after, local.tests.timeout, local.tests.max_attempts) == (
        300,
        1800,
        200,
    )
    assert local.promote_requires_tests is False


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90.0), ("5m", 300.0), ("1h", 3600.0), ("1m30s", 90.0), ("5", None), ("5 m", None)],
)
def test_durations(text: str, seconds: float | None) -> None:
    """In sigmaform.yaml a duration needs its unit: a bare `5` could mean anything."""
    assert parse_duration(text, unit_required=True) == seconds


def test_promote_requires_tests_refuses_agents_without_test_cases(multi: MultiEnv) -> None:
    set_prod(multi.root, "    promoteRequiresTests: true\n")
    assert multi.run("apply", "--auto-approve").exit_code == 0
    refused = multi.run("promote", "--to", "prod", env=None)
    assert refused.exit_code == 3, refused.output
    assert (
        "promotion to `prod` refused: 3 agents have not passed their tests in `staging` at "
        "this content:" in refused.output
    )
    assert (
        "agent.support (agents/support.yaml): it has no test cases, and promoteRequiresTests "
        "asks for them" in refused.output
    )
    assert f"Run them there (sigmaform -C {multi.root} -e staging test)" in refused.output
    assert multi.agents("sk-prod-8d3e6b0c51") == {}  # nothing sent to prod


def test_without_test_cases_or_the_setting_promotion_is_unchanged(multi: MultiEnv) -> None:
    assert multi.run("apply", "--auto-approve").exit_code == 0
    result = multi.run("promote", "--to", "prod", env=None)
    assert result.exit_code == 0, result.output


def test_check_remote_refuses_an_agent_changed_in_the_dashboard(example: Project) -> None:
    from sigmaform.errors import RefusedError
    from sigmaform.operations import backend_for, client_for, open_project, read_state
    from sigmaform.resource import TestSettings
    from sigmaform.test_gate import CaseGate
    from sigmaform.testrun import CaseToRun, RunPlan, check_remote

    assert example.run("apply", "--auto-approve").exit_code == 0
    project = open_project(example.root, "local", secrets="placeholder")
    state = read_state(backend_for(project), "local")
    support = state.resources["agent.support"]
    case = CaseToRun("test-case.x", "tc_x", "agent.support", support.id, 1, CaseGate(), "d", "a")
    plan = RunPlan("local", (case,), TestSettings())
    with client_for(project, 4) as client:
        check_remote(project, state, client, plan)  # as applied: nothing to refuse
        with example.api() as api:
            edited = api.patch(f"/v1/agents/{support.id}", json={"instructions": "Be terse."})
            assert edited.status_code == 200
        with pytest.raises(RefusedError) as refused:
            check_remote(project, state, client, plan)
    assert str(refused.value).splitlines() == [
        "refusing to test `local`: tests must run on what the files declare, and the remote "
        "differs:",
        "  agent.support: changed outside sigmaform",
        "Apply first (sigmaform -e local apply) to restore what the files declare "
        "(`sigmaform -e local drift` shows the changes), then test again.",
    ]
