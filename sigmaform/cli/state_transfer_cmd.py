"""`sigmaform state push|pull`: move state between the local file and a shared backend."""

from __future__ import annotations

import click

from sigmaform.cli.app import load_project_for
from sigmaform.cli.lock_option import lock_timeout_option
from sigmaform.cli.state_cmd import state
from sigmaform.errors import EXIT_OK
from sigmaform.operations import backend_for
from sigmaform.state_transfer import Transfer, pull, push

force_option = click.option(
    "--force",
    is_flag=True,
    help="Overwrite even a different lineage, a newer serial, or diverged content.",
)


def _report(transfer: Transfer, verb: str) -> str:
    if not transfer.written:
        return f"{transfer.destination} already holds {transfer.source} (serial {transfer.serial})."
    return (
        f"{verb} {transfer.source} to {transfer.destination}: "
        f"serial {transfer.serial}, {transfer.resources} resources."
    )


@state.command("push")
@force_option
@lock_timeout_option
@click.pass_context
def state_push(ctx: click.Context, force: bool, lock_timeout: float) -> None:
    """Copy the local state file (state.path) to the shared backend.

    For moving a project from local state to a team's database; refuses to replace a
    different or newer state there unless --force.

    \b
    Example:
      sigmaform -e staging state push
    """
    project = load_project_for(ctx, secrets="placeholder")
    click.echo(
        _report(
            push(project, backend_for(project), force=force, lock_timeout=lock_timeout), "Pushed"
        )
    )
    ctx.exit(EXIT_OK)


@state.command("pull")
@force_option
@lock_timeout_option
@click.pass_context
def state_pull(ctx: click.Context, force: bool, lock_timeout: float) -> None:
    """Copy the shared backend's state to the local file (state.path).

    For inspecting or backing up a team's state, or moving back to local state; refuses
    to replace a different or newer local file unless --force.

    \b
    Example:
      sigmaform -e staging state pull
    """
    project = load_project_for(ctx, secrets="placeholder")
    click.echo(
        _report(
            pull(project, backend_for(project), force=force, lock_timeout=lock_timeout), "Pulled"
        )
    )
    ctx.exit(EXIT_OK)
