"""`sigmaform destroy`: take down everything sigmaform manages in one environment."""

from __future__ import annotations

import click

from sigmaform.apply import ApplyOptions
from sigmaform.cli.app import cli, get_globals, load_project_for, parallelism_option
from sigmaform.cli.apply_console import ApplyConsole
from sigmaform.cli.lock_option import lock_timeout_option
from sigmaform.operations import ApplyRequest, apply_project


@cli.command()
@click.option("--auto-approve", is_flag=True, help="Do not ask; required without a terminal.")
@click.option("--force", is_flag=True, help="Override safety.allowDelete: false (never `protect`).")
@parallelism_option
@lock_timeout_option
@click.pass_context
def destroy(
    ctx: click.Context, auto_approve: bool, force: bool, parallelism: int, lock_timeout: float
) -> None:
    """Delete every managed agent and forget every adopted object of one environment.

    For a per-pull-request preview or a retired staging. Agents are deleted (numbers and
    chats first, then the agents they reference); phone numbers and chats, which existed
    before sigmaform adopted them, are removed from state and left as they are. A
    resource with `protect: true` refuses the whole destroy (exit 3, nothing sent).
    The confirmation names the environment and accepts only `yes`. `plan --destroy`
    shows the same plan without changing anything.

    \b
    Examples:
      sigmaform -e pr-123 plan --destroy
      sigmaform -e pr-123 destroy --auto-approve
    """
    g = get_globals(ctx)
    project = load_project_for(ctx)
    console = ApplyConsole(g, label="Destroy", auto_approve=auto_approve)
    console.require_answerable()
    request = ApplyRequest(
        destroy=True,
        options=ApplyOptions(allow_delete=True, force=force, parallelism=parallelism),
        lock_timeout=lock_timeout,
    )
    plan, result = apply_project(
        project, request, confirm=console.confirm, on_outcome=console.report
    )
    console.finish(ctx, plan, result)
