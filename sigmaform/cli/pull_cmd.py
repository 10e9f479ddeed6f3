"""`sigmaform pull`: write what changed in the dashboard back into the files."""

from __future__ import annotations

import json

import click

from sigmaform.cli.app import cli, load_project_for, parallelism_option, target_option
from sigmaform.errors import EXIT_CHANGES, EXIT_OK
from sigmaform.moves import move_state
from sigmaform.operations import backend_for, client_for, fetch_remote, read_state
from sigmaform.plan import build_plan, normalise_targets
from sigmaform.refresh_guard import check_workspace


@cli.command()
@click.option(
    "--env-only",
    is_flag=True,
    help="Write into each resource's `environments.ENV` override, so no other "
    "environment's plan changes.  [default: the base spec and prompt files]",
)
@click.option(
    "--include-undeclared",
    is_flag=True,
    help="Also write fields the remote holds that the files do not declare yet.",
)
@click.option("--dry-run", is_flag=True, help="Print the diff of each file it would write.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@target_option
@parallelism_option
@click.pass_context
def pull(
    ctx: click.Context,
    env_only: bool,
    include_undeclared: bool,
    dry_run: bool,
    fmt: str,
    targets: tuple[str, ...],
    parallelism: int,
) -> None:
    """Write managed fields changed outside sigmaform back into the files.

    A field is pulled when its remote value differs from the files and from what was
    last applied (a local edit not applied yet is never reverted). Files are edited in
    place, keeping comments, key order and quoting; a prompt held in a `!file` is
    written into that file. A value the file builds from ${var.X}, ${env.X} or
    ${secret.X} is reported and left alone; secrets are never written. Then
    `plan` for this environment is clean. Exit 0: nothing to pull; 2: files were
    (with --dry-run: would be) changed; 1: error.

    \b
    Examples:
      sigmaform -e staging pull --dry-run
      sigmaform -e staging pull --env-only --target Agent.support
    """
    from sigmaform.pull import PullOptions, pull_changes, unified_diff, write_changes

    # Like drift, the values come from the remote, so secrets need not be set.
    project = load_project_for(ctx, secrets="placeholder")
    state = read_state(backend_for(project), project.environment.name)
    state = move_state(state, project.moves)[0]
    wanted = normalise_targets(targets)
    with client_for(project, parallelism) as client:
        remote = fetch_remote(project.resources, state, client, wanted)
        # A key of another workspace would make every resource look gone: say so (exit 3).
        check_workspace(
            state,
            remote,
            key_label=client.key_variable,
            ask_workspace=client.workspace_id,
            allow_recreate=True,
        )
    plan = build_plan(project.resources, state, remote, targets=wanted)
    result = pull_changes(project, state, remote, plan, PullOptions(env_only, include_undeclared))
    if not dry_run:
        write_changes(result)
    if fmt == "json":
        click.echo(json.dumps({**result.to_dict(), "dryRun": dry_run}, indent=2, sort_keys=True))
    else:
        for value in result.values:
            if value.reason:
                click.echo(f"! {value.address}: {value.path} left alone: {value.reason}")
            else:
                click.echo(f"~ {value.address}: {value.path} -> {value.file}")
        if dry_run:
            for change in result.files:
                click.echo(unified_diff(change), nl=False)
        verb = "Would write" if dry_run else "Wrote"
        if result.changed:
            shown = ", ".join(f.display for f in result.files)
            click.echo(f"{verb} {len(result.files)} file(s): {shown}")
        elif result.values:
            click.echo("No file to change: the values above are left as the files write them.")
        else:
            click.echo("Nothing to pull: the files hold what the remote holds.")
    ctx.exit(EXIT_CHANGES if result.changed else EXIT_OK)
