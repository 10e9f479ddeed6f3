"""`sigmaform render`: the configuration as one environment sees it, offline."""

from __future__ import annotations

import click

from sigmaform.cli.app import cli, load_project_for, target_option
from sigmaform.files import dump_json
from sigmaform.rendered_config import rendered_config
from sigmaform.yamldump import dump_yaml


@cli.command("render")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
)
@target_option
@click.pass_context
def render(ctx: click.Context, fmt: str, targets: tuple[str, ...]) -> None:
    """Print the resources as rendered for one environment, for policy checks.

    Vars, `environments:` overrides and `only:` are applied and `!file` prompts inlined;
    secrets print as `(sensitive)` and need not be set. No API key, no request.

    \b
    Examples:
      sigmaform -e prod render --format json | jq '.resources[].spec.agentSettings.llmModel'
      sigmaform -e staging render --target Agent.support
    """
    project = load_project_for(ctx, secrets="placeholder")
    data = rendered_config(project, targets)
    click.echo(dump_json(data) if fmt == "json" else dump_yaml(data), nl=False)
