"""`sigmaform show PLANFILE`: a saved plan, rendered again, offline."""

from __future__ import annotations

from pathlib import Path

import click

from sigmaform.cli.app import cli, get_globals
from sigmaform.render import render_plan
from sigmaform.saved_plan import read_plan_file


@cli.command("show")
# Not `dir_okay=False`: the plan reader refuses a directory (or a device) with exit 1.
@click.argument("planfile", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
@click.pass_context
def show(ctx: click.Context, planfile: Path, fmt: str) -> None:
    """Print a saved plan (from `plan --out`) as `plan` printed it.

    The file is checked as `apply` checks it (a damaged or edited file is refused, exit 1);
    nothing is read from the API or state and no secret is needed.

    \b
    Examples:
      sigmaform show plan.json
      sigmaform show plan.json --format markdown > comment.md
    """
    plan = read_plan_file(planfile)
    click.echo(render_plan(plan, fmt, color=get_globals(ctx).color), nl=False)
