"""`sigmaform graph`: the routing of one environment as mermaid or dot, offline."""

from __future__ import annotations

import click

from sigmaform.cli.app import cli, load_project_for, target_option
from sigmaform.graph import only_reaching, routing_graph, to_dot, to_mermaid
from sigmaform.operations import backend_for, read_state
from sigmaform.plan import normalise_targets
from sigmaform.targets import check_targets


@cli.command("graph")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot"]),
    default="mermaid",
    show_default=True,
)
@target_option
@click.pass_context
def graph(ctx: click.Context, fmt: str, targets: tuple[str, ...]) -> None:
    """Draw phone numbers -> agents -> transfer numbers, and chats -> agents.

    From the files as rendered for the environment (secrets need not be set), with the
    remote ids recorded in a local state file when there is one. No request is sent.
    With --target, only those resources and their direct neighbours.

    \b
    Examples:
      sigmaform -e prod graph > routing.mmd
      sigmaform -e prod graph --format dot | dot -Tsvg > routing.svg
    """
    project = load_project_for(ctx, secrets="placeholder")
    ids: dict[str, str] = {}
    # Only a local state file: a database backend is not worth a connection for a picture.
    if project.state.backend == "local":
        state = read_state(backend_for(project), project.environment.name)
        ids = {address: r.id for address, r in state.resources.items() if r.id}
    drawn = routing_graph(project.resources, ids)
    if targets:
        wanted = normalise_targets(targets)
        check_targets(wanted, {r.address for r in project.resources})
        drawn = only_reaching(drawn, wanted)
    click.echo(to_mermaid(drawn) if fmt == "mermaid" else to_dot(drawn), nl=False)
