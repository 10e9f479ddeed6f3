"""`sigmaform test`: run the environment's test cases, judge them, record the result."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from sigmaform.cli.app import cli, load_project_for, parallelism_option
from sigmaform.cli.completion import complete_target
from sigmaform.cli.lock_option import lock_timeout_option
from sigmaform.errors import EXIT_ERROR, EXIT_OK, EXIT_REFUSED
from sigmaform.files import write_atomic
from sigmaform.operations import backend_for, client_for, read_state
from sigmaform.state import LockInfo
from sigmaform.test_record import case_digest, recorded_tests
from sigmaform.test_report import RENDERERS, describe_plan, render_junit
from sigmaform.testrun import TEST_CASE, RunPlan, cases_for, check_remote, run_plan


@cli.command("test")
@click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="KIND.NAME",
    help="Run only this agent's test cases, or this test case (repeatable), e.g. "
    "Agent.support or TestCase.refund-over-limit.",
    shell_complete=complete_target,
)
@click.option("--dry-run", is_flag=True, help="Print what would run, start nothing.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="How to print the result; json follows `sigmaform schema test-report`.",
)
@click.option(
    "--junit",
    "junit_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the result as JUnit XML to FILE (one testcase per test case).",
)
@parallelism_option
@lock_timeout_option
@click.pass_context
def test(
    ctx: click.Context,
    targets: tuple[str, ...],
    dry_run: bool,
    fmt: str,
    junit_file: Path | None,
    parallelism: int,
    lock_timeout: float,
) -> None:
    """Run the environment's test cases (chat simulations) and judge them.

    Prints what will run first, and refuses (exit 3) before starting anything when that is
    more than `tests.maxAttempts`, or when an agent or test case is not what the files
    declare as applied (`sigmaform apply` first). One batch run per test case, at most
    --parallelism at once. Each case must reach its own gate (`gate: {minPassRate: R}` or
    `{required: true}`; default every attempt) and the suite `tests.minPassRate`; a failed
    case is rerun up to `tests.rerunFailed` times and judged on all its attempts. The
    result is recorded in state, where `promote` requires it. Exit 0: gate passed; 3: gate
    failed (or refused); 1: error (a batch stalled for `tests.stallAfter`, the run took
    longer than `tests.timeout`, the API failed).

    \b
    Examples:
      sigmaform -e staging test --dry-run
      sigmaform -e staging test --junit test-results.xml
      sigmaform -e staging test --target Agent.support --format markdown
    """
    project = load_project_for(ctx, secrets="placeholder")
    env = project.environment
    backend = backend_for(project)
    # Held for the whole run: an apply meanwhile would change what is being tested.
    with backend.lock(LockInfo("test"), lock_timeout):
        state = read_state(backend, env.name)
        plan = RunPlan(env.name, tuple(cases_for(project, state, targets)), env.tests)
        to_stderr = fmt == "json"
        if not plan.cases:
            click.echo(f"No test cases to run in `{env.name}`.", err=to_stderr)
            ctx.exit(EXIT_OK)
        # What would run is shown even when the cost guard then refuses it.
        click.echo(describe_plan(plan), err=to_stderr)
        plan.check_cost()
        if dry_run:
            ctx.exit(EXIT_OK)

        def report(line: str) -> None:
            click.echo(line, err=True)  # a long run shows each case as it finishes

        with client_for(project, parallelism) as client:
            check_remote(project, state, client, plan)
            result = run_plan(plan, client, on_progress=report)
        declared = {
            f"test-case.{r.name}": case_digest(r, r.gate)
            for r in project.resources
            if r.kind == TEST_CASE
        }
        backend.write(replace(state, tests=recorded_tests(state.tests, result, declared)))
    if junit_file is not None:
        junit_file.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(junit_file, render_junit(result))
    click.echo(RENDERERS[fmt](result), nl=False)
    codes = {"passed": EXIT_OK, "failed": EXIT_REFUSED, "error": EXIT_ERROR}
    ctx.exit(codes[result.verdict])
