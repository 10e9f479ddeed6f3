"""`sigmaform apply`: make the remote match the files, or apply a saved plan exactly."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import click

from sigmaform.apply import ApplyOptions, Outcome
from sigmaform.cli.app import (
    cli,
    get_globals,
    load_project_for,
    parallelism_option,
    target_option,
)
from sigmaform.errors import EXIT_ERROR, EXIT_OK, ConfigError
from sigmaform.operations import ApplyRequest, apply_project
from sigmaform.plan import Plan
from sigmaform.render import SYMBOL, render_plan


@cli.command()
@click.argument("planfile", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--auto-approve", is_flag=True, help="Do not ask; required without a terminal.")
@click.option("--allow-delete", is_flag=True, help="Delete resources whose files are gone.")
@click.option("--force", is_flag=True, help="Override safety thresholds (never `protect: true`).")
@click.option(
    "--refresh/--no-refresh",
    default=True,
    show_default=True,
    help="Read each managed resource from the API before planning.",
)
@target_option
@parallelism_option
@click.pass_context
def apply(
    ctx: click.Context,
    planfile: Path | None,
    auto_approve: bool,
    allow_delete: bool,
    force: bool,
    refresh: bool,
    targets: tuple[str, ...],
    parallelism: int,
) -> None:
    """Apply the changes a plan shows.

    With PLANFILE (from `plan --out`), exactly that plan is applied, and refused if state
    or the files changed since. Without it, a fresh plan is shown and confirmed first.

    \b
    Examples:
      sigmaform -e local apply --auto-approve
      sigmaform -e staging plan --out plan.json && sigmaform -e staging apply plan.json
    """
    g = get_globals(ctx)
    project = load_project_for(ctx)
    if planfile is not None and targets:
        raise ConfigError("--target cannot be combined with a saved plan (it has its own)")
    lock = threading.Lock()
    done = [0]
    total = [0]

    def confirm(plan: Plan) -> bool:
        total[0] = len(plan.pending())
        click.echo(render_plan(plan, "text", color=g.color), nl=False)
        if planfile is not None or auto_approve:
            return True
        if not sys.stdin.isatty():
            raise ConfigError(
                "stdin is not a terminal: pass --auto-approve to apply without confirmation"
            )
        return click.confirm("Apply these changes?", default=False)

    def report(outcome: Outcome) -> None:
        with lock:
            done[0] += 1
            progress = f"[{done[0]}/{total[0]}] " if g.color else ""
            symbol = "!" if outcome.failed else SYMBOL[outcome.action]
            detail = f": {outcome.message}" if outcome.message else ""
            click.echo(f"{progress}{symbol} {outcome.address}: {outcome.status}{detail}")

    request = ApplyRequest(
        plan_file=planfile,
        targets=targets,
        refresh=refresh,
        options=ApplyOptions(allow_delete=allow_delete, force=force, parallelism=parallelism),
    )
    plan, result = apply_project(project, request, confirm=confirm, on_outcome=report)
    if result is None:
        if plan.has_changes:
            click.echo("Apply cancelled; nothing was changed.")
        else:
            click.echo(render_plan(plan, "text", color=g.color), nl=False)
        ctx.exit(EXIT_OK)
    counts: dict[str, int] = {}
    for outcome in result.outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    if result.failures:
        click.echo(f"Apply finished with errors ({parts}). Failed:", err=True)
        for outcome in result.failures:
            click.echo(f"  {outcome.address}: {outcome.message}", err=True)
        ctx.exit(EXIT_ERROR)
    click.echo(f"Apply complete: {parts}.")
    ctx.exit(EXIT_OK)
