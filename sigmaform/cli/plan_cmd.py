"""`sigmaform plan`: show what apply would change."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from sigmaform import invocation
from sigmaform.cli.app import (
    allow_recreate_option,
    cli,
    get_globals,
    load_project_and_state_for,
    parallelism_option,
    target_option,
)
from sigmaform.destroy import destroy_plan
from sigmaform.errors import EXIT_CHANGES, EXIT_OK, ConfigError
from sigmaform.operations import client_for, make_plan, save_plan
from sigmaform.refresh_guard import check_destroy_reaches
from sigmaform.render import render_plan_blocks


@cli.command()
@click.option(
    "--refresh/--no-refresh",
    default=True,
    show_default=True,
    help="Read each managed resource from the API first (drift detection).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Save the plan to FILE for `sigmaform apply FILE`.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 2 when there are changes, 0 when none, 1 on error.",
)
@click.option(
    "--destroy",
    is_flag=True,
    help="Plan deleting every managed agent and forgetting every adopted object.",
)
@click.option(
    "--allow-delete",
    is_flag=True,
    help="Plan for `apply --allow-delete`: resources whose files are gone show as deletes.",
)
@allow_recreate_option
@target_option
@parallelism_option
@click.pass_context
def plan(
    ctx: click.Context,
    refresh: bool,
    out: Path | None,
    fmt: str,
    detailed_exitcode: bool,
    destroy: bool,
    allow_delete: bool,
    allow_recreate: bool,
    targets: tuple[str, ...],
    parallelism: int,
) -> None:
    """Compare the files with state (and the live API) and print what would change.

    \b
    Examples:
      sigmaform -e staging plan
      sigmaform -e staging plan --format markdown --out plan.json
      sigmaform -e prod plan --no-refresh --detailed-exitcode
      sigmaform -e pr-123 plan --destroy
    """
    project, state = load_project_and_state_for(ctx)
    if destroy and targets:
        raise ConfigError("--destroy plans every managed resource: it takes no --target")
    with contextlib.ExitStack() as stack:
        client = stack.enter_context(client_for(project, parallelism)) if refresh else None
        if destroy:
            result = destroy_plan(project.resources, state)
            if client is not None and result.has_changes:
                # As `destroy` does before it asks: under a key of another workspace every
                # delete would answer 404, so this plan would promise deletes that never happen.
                check_destroy_reaches(state, client)
        else:
            result = make_plan(
                project,
                state,
                client,
                targets,
                allow_delete=allow_delete,
                allow_recreate=allow_recreate,
                # Only a plan that is written out (saved, or JSON) needs its digests.
                digests=out is not None or fmt == "json",
            )
    if out is not None:
        save_plan(result, out)
    for block in render_plan_blocks(result, fmt, color=get_globals(ctx).color):
        click.echo(block, nl=False)
    if out is not None and fmt == "text":
        click.echo(
            f"Saved the plan to {out}; apply it with: {invocation.command('apply', str(out))}"
        )
    ctx.exit(EXIT_CHANGES if detailed_exitcode and result.has_changes else EXIT_OK)
