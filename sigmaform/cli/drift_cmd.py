"""`sigmaform drift`: read every managed resource and report what changed outside sigmaform."""

from __future__ import annotations

import click

from sigmaform.cli.app import (
    cli,
    get_globals,
    load_project_for,
    parallelism_option,
    target_option,
)
from sigmaform.errors import EXIT_CHANGES, EXIT_OK
from sigmaform.moves import move_state
from sigmaform.operations import agent_listing, backend_for, client_for, fetch_remote, read_state
from sigmaform.plan import build_plan, normalise_targets
from sigmaform.refresh_guard import check_workspace
from sigmaform.render_drift import drift_report, render_drift


@cli.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
@target_option
@parallelism_option
@click.pass_context
def drift(ctx: click.Context, fmt: str, targets: tuple[str, ...], parallelism: int) -> None:
    """Report managed fields changed outside sigmaform since the last apply.

    Reads each managed resource from the API and compares it with what state recorded;
    also lists possible duplicates (unmanaged agents named like a managed one). Changes
    nothing. Exit 0: no drift; 2: drift or possible duplicates found; 1: error. Secrets
    need not be set (their values are compared by fingerprint with what the server
    returns).

    \b
    Examples:
      sigmaform -e prod drift
      sigmaform -e prod drift --format markdown >> "$GITHUB_STEP_SUMMARY"
    """
    # Drift compares the remote with state, never with the files' values, so a nightly
    # job needs only the API key, not every webhook secret.
    project = load_project_for(ctx, secrets="placeholder")
    state = read_state(backend_for(project), project.environment.name)
    # A pending `moved:` rename is not drift: compare under the new addresses.
    state = move_state(state, project.moves)[0]
    wanted = normalise_targets(targets)
    with client_for(project, parallelism) as client:
        # One listing serves the refresh and the possible-duplicate check.
        agents = agent_listing(client, state)
        remote = fetch_remote(project.resources, state, client, wanted, lambda: agents or [])
        # Everything "deleted" under a key of another workspace is not drift: when the API
        # names another workspace than state's, say so (exit 3) instead.
        check_workspace(
            state,
            remote,
            key_label=client.key_variable,
            ask_workspace=client.workspace_id,
            allow_recreate=True,
        )
    # A file that now names another number or chat is a pending change, not drift.
    plan = build_plan(
        project.resources, state, remote, targets=wanted, agents=agents, retarget=False
    )
    report = drift_report(plan, state)
    click.echo(render_drift(report, fmt, color=get_globals(ctx).color), nl=False)
    ctx.exit(EXIT_CHANGES if report.has_drift else EXIT_OK)
