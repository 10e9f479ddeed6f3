"""`sigmaform init [DIR]`: scaffold a project that validates and plans against the emulator."""

from __future__ import annotations

from pathlib import Path

import click

from sigmaform.cli.app import cli, get_globals
from sigmaform.errors import EXIT_OK
from sigmaform.scaffold import next_steps, scaffold


@cli.command("init")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@click.pass_context
def init_command(ctx: click.Context, directory: Path | None, force: bool) -> None:
    """Create a new project in DIRECTORY (default: the -C directory, else '.').

    Writes sigmaform.yaml with a `local` environment on the embedded emulator, one
    example agent with its prompt, and a .gitignore entry for .sigmaform/.

    \b
    Examples:
      sigmaform init my-agents
      sigmaform -C my-agents plan
    """
    root = directory or get_globals(ctx).project_dir or Path(".")
    written = scaffold(root, force=force)
    click.echo(f"Created a sigmaform project in {root}:")
    for path in written:
        click.echo(f"  {path}")
    click.echo("Next:")
    for step in next_steps(str(root)):
        click.echo(f"  {step}")
    ctx.exit(EXIT_OK)
