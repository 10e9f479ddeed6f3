"""`sigmaform validate`: every problem in the project's files, offline."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sigmaform.cli.app import cli, get_globals
from sigmaform.errors import EXIT_ERROR, EXIT_OK
from sigmaform.validate import Report, check_project


@cli.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="How to print the problems.",
)
@click.pass_context
def validate(ctx: click.Context, paths: tuple[Path, ...], output_format: str) -> None:
    """Check YAML, schemas, names and references, offline; report every problem at once.

    PATHS (files or directories, relative to the project directory) limit the report to
    those files; the whole project is still read so references resolve. Without -e, every
    environment is checked, with secrets as placeholders.
    """
    g = get_globals(ctx)
    report = check_project(g.project_dir, g.env, paths)
    if output_format == "json":
        click.echo(json.dumps(report.to_dict(), indent=2, sort_keys=True))
    else:
        for problem in report.problems:
            click.echo(str(problem))
        click.echo(summary(report))
    ctx.exit(EXIT_OK if report.valid else EXIT_ERROR)


def summary(report: Report) -> str:
    """`2 errors, 1 warning` or `OK: 5 resources valid`."""

    def count(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    if report.valid:
        text = f"OK: {count(report.resources, 'resource')} valid"
        return text + (f" ({count(report.warnings, 'warning')})" if report.warnings else "")
    text = count(report.errors, "error")
    return text + (f", {count(report.warnings, 'warning')}" if report.warnings else "")
