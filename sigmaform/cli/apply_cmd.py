"""`sigmaform apply`: make the remote match the files, or apply a saved plan exactly."""

from __future__ import annotations

from pathlib import Path

import click

from sigmaform import invocation
from sigmaform.apply import ApplyOptions
from sigmaform.cli.app import (
    allow_recreate_option,
    cli,
    get_globals,
    load_project_for,
    parallelism_option,
    target_option,
)
from sigmaform.cli.apply_console import ApplyConsole
from sigmaform.cli.lock_option import lock_timeout_option
from sigmaform.errors import ConfigError
from sigmaform.operations import ApplyRequest, apply_project, load_plan


@cli.command()
# Not `dir_okay=False`: the plan reader refuses a directory (or a device) with exit 1.
@click.argument("planfile", required=False, type=click.Path(path_type=Path))
@click.option("--auto-approve", is_flag=True, help="Do not ask; required without a terminal.")
@click.option("--allow-delete", is_flag=True, help="Delete resources whose files are gone.")
@click.option("--force", is_flag=True, help="Override safety thresholds (never `protect: true`).")
@click.option(
    "--refresh/--no-refresh",
    default=True,
    show_default=True,
    help="Read each managed resource from the API before planning.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON object per line as each resource finishes (`sigmaform schema "
    "apply-event`); needs --auto-approve or PLANFILE.",
)
@click.option(
    "--destroy",
    is_flag=True,
    help="PLANFILE is a destroy plan (`plan --destroy --out`): required to apply one.",
)
@allow_recreate_option
@target_option
@parallelism_option
@lock_timeout_option
@click.pass_context
def apply(
    ctx: click.Context,
    planfile: Path | None,
    auto_approve: bool,
    allow_delete: bool,
    force: bool,
    refresh: bool,
    fmt: str,
    destroy: bool,
    allow_recreate: bool,
    targets: tuple[str, ...],
    parallelism: int,
    lock_timeout: float,
) -> None:
    """Apply the changes a plan shows.

    With PLANFILE (from `plan --out`), the plan is applied to the environment it was made
    for (-e, if given, must name the same one): it is recomputed from state and the files
    (and the API, if the plan was refreshed) and applied only if it matches PLANFILE
    exactly, so it is refused if anything changed since. A destroy plan also needs
    --destroy. Without PLANFILE, a fresh plan is shown and must be confirmed by typing `yes`.

    \b
    Examples:
      sigmaform -e local apply --auto-approve
      sigmaform -e staging plan --out plan.json && sigmaform -e staging apply plan.json
      sigmaform -e pr-123 plan --destroy --out gone.json && sigmaform apply --destroy gone.json
      sigmaform -e staging apply --auto-approve --format json | jq -c .
    """
    g = get_globals(ctx)
    if planfile is not None and targets:
        raise ConfigError("--target cannot be combined with a saved plan (it has its own)")
    if destroy and planfile is None:
        raise ConfigError(
            "--destroy applies a saved destroy plan (PLANFILE); to destroy an environment, "
            f"run `{invocation.command('destroy')}`"
        )
    # A saved plan names its environment: without -e, that one is applied; with -e, a
    # different one is refused (exit 3) once the plan is checked against state.
    planned_env = load_plan(planfile).environment if planfile and g.env is None else None
    # Prompts are held by digest and read again when sent: 10,000 agents' text is not
    # kept in memory for the whole apply.
    project = load_project_for(ctx, env=planned_env, lazy_files=True)
    console = ApplyConsole(g, fmt=fmt, auto_approve=auto_approve or planfile is not None)
    console.require_answerable()
    request = ApplyRequest(
        plan_file=planfile,
        destroy=destroy,
        targets=targets,
        refresh=refresh,
        options=ApplyOptions(allow_delete=allow_delete, force=force, parallelism=parallelism),
        allow_recreate=allow_recreate,
        lock_timeout=lock_timeout,
    )
    plan, result = apply_project(
        project, request, confirm=console.confirm, on_outcome=console.report
    )
    console.finish(ctx, plan, result)
