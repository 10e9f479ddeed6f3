"""`sigmaform import`: bring existing remote agents under management and write their YAML."""

from __future__ import annotations

from pathlib import Path

import click

from sigmaform import invocation
from sigmaform.adopt import (
    ImportRequest,
    ImportResult,
    RemoteAgent,
    check_request,
    import_agents,
    list_remote_agents,
)
from sigmaform.cli.app import cli, load_project_for, parallelism_option
from sigmaform.cli.lock_option import lock_timeout_option
from sigmaform.errors import EXIT_OK, ConfigError, printable


@cli.command("import")
@click.argument("agent_ids", nargs=-1, metavar="[AGENT_ID]...")
@click.option("--all", "import_all", is_flag=True, help="Import every agent not managed yet.")
@click.option("--name", help="Logical name for the agent (with exactly one AGENT_ID).")
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the files, relative to the project directory.  [default: agents]",
)
@click.option(
    "--all-environments",
    is_flag=True,
    help="Write no `only:`: the agent is declared for every environment.",
)
@click.option("--list", "list_only", is_flag=True, help="List the remote agents and their state.")
@click.option(
    "--dry-run", is_flag=True, help="Show the files and state it would write; write none."
)
@parallelism_option
@lock_timeout_option
@click.pass_context
def import_(
    ctx: click.Context,
    agent_ids: tuple[str, ...],
    import_all: bool,
    name: str | None,
    out_dir: Path | None,
    all_environments: bool,
    list_only: bool,
    dry_run: bool,
    parallelism: int,
    lock_timeout: float,
) -> None:
    """Adopt remote agents: write their YAML and record them in state.

    Writes agents/NAME.yaml (and agents/prompts/NAME.md for long instructions), with
    webhook secrets as ${secret.X} placeholders, and records each agent in state so the
    next plan shows no changes once those variables are set. NAME is --name, or a slug of
    the agentName. Each file says `only: [ENV]` (the environment imported from), so that
    promotion does not copy the agent elsewhere, unless --all-environments. An agent's
    test cases come with it (agents/tests/NAME.yaml); an id that names no agent is looked
    up as a test case of a managed agent and imported alone.

    \b
    Examples:
      sigmaform -e staging import SPIlVscbB0kkXBvZ --name support
      sigmaform -e staging import --list
      sigmaform -e staging import --all --dry-run
    """
    if list_only:
        if agent_ids or import_all or dry_run or name or out_dir or all_environments:
            raise ConfigError("--list takes no agent ids and no other import option")
        _echo_listing(list_remote_agents(load_project_for(ctx, secrets="placeholder")))
        ctx.exit(EXIT_OK)
    request = ImportRequest(
        agent_ids=agent_ids,
        all=import_all,
        name=name,
        out_dir=out_dir,
        parallelism=parallelism,
        all_environments=all_environments,
        dry_run=dry_run,
        lock_timeout=lock_timeout,
    )
    check_request(request)  # usage mistakes first: no need to read the project for them
    # Nothing is sent that needs a secret: the files are rendered with placeholders.
    project = load_project_for(ctx, secrets="placeholder")
    result = import_agents(project, request)
    if not result.imported:
        click.echo("Nothing to import: every remote agent is already managed.")
        ctx.exit(EXIT_OK)
    if dry_run:
        _echo_preview(result)
        ctx.exit(EXIT_OK)
    for item in result.imported:
        # The id is the server's: escaped, it cannot add lines (or terminal codes) of its own.
        agent_id = printable(item.agent_id)
        if item.adopted_from is not None:
            click.echo(
                f"Adopted {item.address} (id {agent_id}) as declared in "
                f"{item.adopted_from}; that file is unchanged"
            )
            continue
        click.echo(f"Imported {item.address} (id {agent_id}): {', '.join(item.files)}")
        if item.dropped:
            dropped = printable(", ".join(item.dropped))
            click.echo(f"    not imported (sigmaform does not manage): {dropped}")
    count = sum(1 for item in result.imported if not item.address.startswith("test-case."))
    cases = len(result.imported) - count
    recorded = [f"{count} agent{'' if count == 1 else 's'}"] if count or not cases else []
    if cases:
        recorded.append(f"{cases} test case{'' if cases == 1 else 's'}")
    click.echo(f"Recorded {' and '.join(recorded)} in state {result.state}.")
    if any(item.adopted_from for item in result.imported):
        click.echo(
            f"Run `{invocation.command('plan')}` to see where the remote differs from "
            "the declared files."
        )
    if result.secret_variables:
        click.echo("Set these variables before plan/apply (each webhook's current signing secret):")
        for variable in result.secret_variables:
            click.echo(f"  {variable}")
    ctx.exit(EXIT_OK)


def _echo_listing(agents: list[RemoteAgent]) -> None:
    if not agents:
        click.echo("No agents in this workspace.")
        return
    for agent in agents:
        where = f"managed as {agent.address}" if agent.address else "not managed"
        # Server values, escaped: a name or id cannot add lines (or terminal codes).
        click.echo(f"{printable(agent.agent_id)}\t{printable(agent.agent_name)}\t{where}")
    managed = sum(1 for a in agents if a.address)
    click.echo(f"{len(agents)} agents: {managed} managed, {len(agents) - managed} not managed.")


def _echo_preview(result: ImportResult) -> None:
    """--dry-run: every file with its text, then the state entries; nothing was written."""
    for path, text in result.previews:
        click.echo(f"Would write {path}:")
        for line in text.splitlines():
            click.echo(f"    {line}")
    for item in result.imported:
        agent_id = printable(item.agent_id)
        click.echo(f"Would record {item.address} (id {agent_id}) in state {result.state}")
    click.echo("Dry run: nothing was written.")
