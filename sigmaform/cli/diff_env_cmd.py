"""`sigmaform diff-env A B`: how two environments' rendered configs differ, for review."""

from __future__ import annotations

import click

from sigmaform.cli.app import cli, get_globals
from sigmaform.envdiff import diff_environments, diff_json, diff_text
from sigmaform.errors import EXIT_CHANGES, EXIT_OK, ConfigError
from sigmaform.operations import open_project


@cli.command("diff-env")
@click.argument("env_a", metavar="A")
@click.argument("env_b", metavar="B")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 2 when the environments differ, 0 when identical, 1 on error.",
)
@click.pass_context
def diff_env(ctx: click.Context, env_a: str, env_b: str, fmt: str, detailed_exitcode: bool) -> None:
    """Show, per resource, the rendered fields that differ between environments A and B.

    Offline: nothing is read from the API and no secret needs to be set (secrets are
    compared by where they come from and shown only as `(sensitive, differs)`). Exits 0
    (informational) unless --detailed-exitcode is given. `-e` is ignored.

    \b
    Examples:
      sigmaform diff-env staging prod
      sigmaform diff-env staging prod --format json
    """
    if env_a == env_b:
        raise ConfigError(f"diff-env needs two different environments, got `{env_a}` twice")
    g = get_globals(ctx)
    root = g.project_root()
    a = open_project(root, env_a, secrets="placeholder")
    b = open_project(root, env_b, secrets="placeholder")
    result = diff_environments(a.resources, b.resources, env_a, env_b)
    click.echo(diff_json(result) if fmt == "json" else diff_text(result), nl=False)
    ctx.exit(EXIT_CHANGES if detailed_exitcode and result.differs else EXIT_OK)
