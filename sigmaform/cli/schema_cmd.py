"""`sigmaform schema KIND`: print a JSON Schema shipped with sigmaform (for editors and CI)."""

from __future__ import annotations

import re

import click

from sigmaform.cli.app import cli
from sigmaform.cli.completion import complete_schema_kind
from sigmaform.errors import EXIT_ERROR, EXIT_OK
from sigmaform.schemacheck import schema_folder

_SUFFIX = ".schema.json"


def available_schemas() -> list[str]:
    """Every `<name>.schema.json` shipped in the package, so a new schema needs no code."""
    folder = schema_folder()
    return sorted(
        entry.name[: -len(_SUFFIX)] for entry in folder.iterdir() if entry.name.endswith(_SUFFIX)
    )


def schema_name(kind: str) -> str:
    """`PhoneNumber`, `phone_number` and `phone-number` all name phone-number.schema.json."""
    kebab = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", kind.strip())
    return kebab.replace("_", "-").lower()


def read_schema(name: str) -> str:
    return (schema_folder() / f"{name}{_SUFFIX}").read_text(encoding="utf-8")


@cli.command("schema")
@click.argument("kind", shell_complete=complete_schema_kind)
@click.pass_context
def schema_command(ctx: click.Context, kind: str) -> None:
    """Print the JSON Schema for KIND (agent, phone-number, chat, project, ...).

    \b
    Examples:
      sigmaform schema agent > .vscode/agent.schema.json
      sigmaform schema plan
    """
    known = available_schemas()
    name = schema_name(kind)
    if name not in known:
        click.echo(f"Error: unknown schema kind {kind!r}; known: {', '.join(known)}", err=True)
        ctx.exit(EXIT_ERROR)
    click.echo(read_schema(name), nl=False)
    ctx.exit(EXIT_OK)
