"""`sigmaform fmt`: rewrite resource files in the one canonical layout."""

from __future__ import annotations

from pathlib import Path

import click

from sigmaform.cli.app import cli, get_globals
from sigmaform.errors import EXIT_ERROR, EXIT_OK


@cli.command("fmt")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; list the files that would change and exit 1 if there are any.",
)
@click.pass_context
def fmt(ctx: click.Context, paths: tuple[Path, ...], check: bool) -> None:
    """Rewrite resource files in one canonical layout, keeping comments.

    Keys in the schema's order (kind, name, protect, only, ignoreChanges, spec in the
    order of the Update Agent page, environments), two-space indentation, multi-line
    text as `|` blocks. Values never change: the rendered config stays the same.
    Without PATHS, every resource file of the project; PATHS (files or directories,
    relative to the -C directory, or without -C to the current one) choose others.
    YAML files that hold no resource are left alone. Exit 0: formatted (or, with
    --check, nothing to change); 1: --check found files to change, or an error.

    \b
    Examples:
      sigmaform fmt
      sigmaform fmt --check agents/   # the pre-commit hook
    """
    from sigmaform.fmt import format_paths, project_files

    g = get_globals(ctx)
    if paths:
        base = g.project_dir if g.project_dir is not None else Path.cwd()
        root = base
        files = [p if p.is_absolute() else base / p for p in paths]
    else:
        root = g.project_root()
        files = project_files(root)
    results = format_paths(files, root)
    changed = [r for r in results if r.changed]
    for result in changed:
        if check:
            click.echo(f"would reformat {result.display}")
        else:
            result.write()
            click.echo(f"formatted {result.display}")
    if check and changed:
        click.echo(f"{len(changed)} file(s) would be reformatted: run `sigmaform fmt`", err=True)
        ctx.exit(EXIT_ERROR)
    ctx.exit(EXIT_OK)
