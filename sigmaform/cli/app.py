"""The click group, its global options, and the one place errors become exit codes."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from sigmaform import __version__
from sigmaform.errors import EXIT_ERROR, SigmaformError
from sigmaform.resource import Project


@dataclass(frozen=True)
class Globals:
    """Options every command shares (set before the command name)."""

    project_dir: Path
    env: str | None
    color: bool
    verbose: int


class SigmaformGroup(click.Group):
    """Turns a SigmaformError into its message on stderr and its exit code: never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SigmaformError as error:
            click.echo(f"Error: {error}", err=True)
            ctx.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except OSError as error:
            # A file we could not read or write: the message names it; no traceback.
            click.echo(f"Error: {error}", err=True)
            ctx.exit(EXIT_ERROR)


def _use_color(no_color: bool) -> bool:
    if no_color or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


@click.group(cls=SigmaformGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-C",
    "--project-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Directory holding sigmaform.yaml.",
)
@click.option(
    "-e",
    "--env",
    envvar="SIGMAFORM_ENV",
    help="Environment to use (or SIGMAFORM_ENV); required when the project has several.",
)
@click.option("--no-color", is_flag=True, help="Never colour output (also NO_COLOR).")
@click.option("-v", "--verbose", count=True, help="More detail on stderr.")
@click.version_option(__version__, prog_name="sigmaform")
@click.pass_context
def cli(
    ctx: click.Context, project_dir: Path, env: str | None, no_color: bool, verbose: int
) -> None:
    """Config-as-code for SigmaMind AI agents.

    \b
    Example:
      sigmaform -C examples validate
      sigmaform -C examples -e local plan
    """
    ctx.obj = Globals(project_dir=project_dir, env=env, color=_use_color(no_color), verbose=verbose)
    if verbose:
        _log_to_stderr()


def _log_to_stderr() -> None:
    """-v shows each API request (method, path, status, time; never bodies or headers)."""
    logger = logging.getLogger("sigmaform")
    # Replace, not keep, an earlier handler: in one process (tests, embedding) stderr may
    # have been swapped since, and a stale stream would swallow the log.
    for old in [h for h in logger.handlers if getattr(h, "_sigmaform", False)]:
        logger.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    handler._sigmaform = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def get_globals(ctx: click.Context) -> Globals:
    obj = ctx.find_root().obj
    assert isinstance(obj, Globals)
    return obj


def load_project_for(ctx: click.Context, *, secrets: str = "required") -> Project:
    """The project of `-C` rendered for `-e`; "placeholder" secrets when nothing is sent."""
    from sigmaform.operations import open_project

    g = get_globals(ctx)
    return open_project(g.project_dir, g.env, secrets=secrets)


parallelism_option = click.option(
    "--parallelism",
    type=click.IntRange(1, 256),
    default=10,
    show_default=True,
    help="Resources refreshed or applied at once.",
)
target_option = click.option(
    "--target",
    "targets",
    multiple=True,
    metavar="KIND.NAME",
    help="Limit to this resource (repeatable), e.g. Agent.support.",
)
