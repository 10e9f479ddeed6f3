"""The click group, its global options, and the one place errors become exit codes."""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from sigmaform import __version__, invocation
from sigmaform.cli.color import COLOR_CHOICES, use_color
from sigmaform.cli.commands import COMMAND_MODULES
from sigmaform.cli.completion import complete_environment, complete_target
from sigmaform.errors import EXIT_ERROR, SigmaformError
from sigmaform.invocation import Invocation
from sigmaform.resource import Project

if TYPE_CHECKING:
    from sigmaform.state import State
from sigmaform.sensitive import scrub


@dataclass(frozen=True)
class Globals:
    """Options every command shares, given before or after the command name."""

    project_dir: Path | None  # -C; None: found by searching upwards from the cwd
    env: str | None
    color: bool
    verbose: int

    def project_root(self) -> Path:
        """-C as given, else the nearest directory at or above the cwd with sigmaform.yaml."""
        if self.project_dir is not None:
            return self.project_dir
        from sigmaform.project import discover_project_root

        return discover_project_root(Path.cwd())


class UsageFailure(click.ClickException):
    """A usage error (unknown command or option, bad value): click's message, exit 1.

    click exits 2 for these, the code that means "changes pending" or "drift found" here;
    a misspelt `plan --detailled-exitcode` in CI must fail, not pass as changes.
    """

    exit_code = EXIT_ERROR

    def __init__(self, error: click.UsageError) -> None:
        super().__init__(error.format_message())
        self.error = error

    def show(self, file: IO[Any] | None = None) -> None:
        self.error.show(file)


@contextlib.contextmanager
def _usage_errors_exit_1() -> Iterator[None]:
    try:
        yield
    except click.UsageError as error:
        raise UsageFailure(error) from None


class SigmaformGroup(click.Group):
    """Turns a SigmaformError into its message on stderr and its exit code: never a traceback.

    Every command added gets the global options too, so that they work after its name.
    Command modules named in `modules` are imported when their command is first asked
    for: `plan` does not pay for importing the emulator, doctor or import at start-up.
    """

    group_class = type  # `state` and any other subgroup behave the same

    def __init__(
        self, *args: Any, modules: Mapping[str, tuple[str, ...]] | None = None, **kwargs: Any
    ) -> None:
        # Command name -> modules under sigmaform.cli that register it (not imported yet).
        self._unloaded: dict[str, tuple[str, ...]] = dict(modules or {})
        super().__init__(*args, **kwargs)

    @property  # type: ignore[override]
    def commands(self) -> dict[str, click.Command]:
        """Every command, importing the modules not imported yet (help, docs, completion)."""
        for name in list(self._unloaded):
            self._load(name)
        return self._registered

    @commands.setter
    def commands(self, value: dict[str, click.Command]) -> None:
        self._registered = dict(value)

    def _load(self, name: str) -> None:
        for module in self._unloaded.pop(name, ()):
            importlib.import_module(f"sigmaform.cli.{module}")  # registers on this group

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load(cmd_name)
        return self._registered.get(cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.commands)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        with _usage_errors_exit_1():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with _usage_errors_exit_1():
                return super().invoke(ctx)
        except SigmaformError as error:
            # Messages are built from names, never values; scrub() is the last line of
            # defence for text that came from elsewhere (a server, a database driver).
            click.echo(f"Error: {scrub(str(error))}", err=True)
            ctx.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except OSError as error:
            # A file we could not read or write: the message names it; no traceback.
            click.echo(f"Error: {scrub(str(error))}", err=True)
            ctx.exit(EXIT_ERROR)

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        cmd.params.extend(_global_options(after_command=True))
        name = name or cmd.name
        if name is None:
            raise TypeError("a command needs a name")
        # Not through `self.commands`: that would import every other command module.
        self._registered[name] = cmd


def _global_options(*, after_command: bool) -> list[click.Option]:
    """-C, -e, --color, --no-color, -v: on the group, and on every command (merged into Globals)."""
    extra: dict[str, Any] = (
        {"expose_value": False, "callback": _merge_global} if after_command else {}
    )
    return [
        click.Option(
            ["-C", "--project-dir"],
            type=click.Path(file_okay=False, path_type=Path),
            help="Directory holding sigmaform.yaml.  [default: the nearest one at or above "
            "the current directory]",
            **extra,
        ),
        click.Option(
            ["-e", "--env"],
            # Only the group reads SIGMAFORM_ENV: a value after the command overrides it.
            envvar=None if after_command else "SIGMAFORM_ENV",
            help="Environment to use (or SIGMAFORM_ENV); required when the project has several.",
            shell_complete=complete_environment,
            **extra,
        ),
        click.Option(
            ["--color", "color_mode"],
            type=click.Choice(COLOR_CHOICES),
            help="Colour output: auto (a terminal; NO_COLOR turns it off, FORCE_COLOR on), "
            "always or never.  [default: auto]",
            **extra,
        ),
        click.Option(["--no-color"], is_flag=True, help="Same as --color never.", **extra),
        click.Option(["-v", "--verbose"], count=True, help="More detail on stderr.", **extra),
    ]


def _merge_global(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A global option given after the command: it joins the group's values.

    `-C` and `-e` given on both sides must agree: `sigmaform -e staging apply -e prod`
    is ambiguous about the one thing that must not be, so it is a usage error.
    """
    root = ctx.find_root()
    g = root.obj
    name = param.name or ""
    if ctx.resilient_parsing or not isinstance(g, Globals):
        return value  # shell completion: no command runs
    if ctx.get_parameter_source(name) is not ParameterSource.COMMANDLINE:
        return value
    if name in ("project_dir", "env"):
        before = getattr(g, name)
        given_before = root.get_parameter_source(name) is ParameterSource.COMMANDLINE
        if given_before and before != value:
            flag = "/".join(param.opts)
            raise click.UsageError(
                f"{flag} is given before the command as {before} and after it as {value}: "
                "give it once",
                ctx=ctx,
            )
        g = replace(g, **{name: value})
    elif name == "no_color":
        g = replace(g, color=False)
    elif name == "color_mode":
        g = replace(g, color=use_color(value))
    elif name == "verbose":
        g = replace(g, verbose=g.verbose + value)
    _set_globals(root, g)
    ctx.color = g.color  # click.echo keeps (or strips) ANSI codes by this
    return value


def _set_globals(root: click.Context, g: Globals) -> None:
    root.obj = g
    shown = None if g.project_dir in (None, Path(".")) else str(g.project_dir)
    invocation.remember(Invocation(project_dir=shown))
    if g.verbose:
        _log_to_stderr()


@click.group(
    cls=SigmaformGroup,
    modules=COMMAND_MODULES,
    context_settings={"help_option_names": ["-h", "--help"]},
    params=_global_options(after_command=False),
)
@click.version_option(__version__, prog_name="sigmaform")
@click.pass_context
def cli(
    ctx: click.Context,
    project_dir: Path | None,
    env: str | None,
    color_mode: str | None,
    no_color: bool,
    verbose: int,
) -> None:
    """Config-as-code for SigmaMind AI agents.

    Global options (-C, -e, --color, --no-color, -v) go before or after the command name.

    \b
    Example:
      sigmaform -C examples validate
      sigmaform -C examples -e local plan
    """
    ctx.call_on_close(invocation.forget)
    color = use_color(color_mode, no_color)
    # click.echo strips ANSI codes from a pipe unless told: FORCE_COLOR in CI must keep them.
    ctx.color = color
    _set_globals(ctx, Globals(project_dir=project_dir, env=env, color=color, verbose=verbose))


def _log_to_stderr() -> None:
    """-v shows each API request (method, path, status, time; never bodies or headers)."""
    import logging  # here: ~8 ms of imports that only -v needs

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


def load_project_for(
    ctx: click.Context,
    *,
    secrets: str = "required",
    env: str | None = None,
    lazy_files: bool = False,
) -> Project:
    """The project of `-C` rendered for `-e` (or `env`); "placeholder" secrets when nothing
    is sent. Hints printed from here on name its environment when it has several.
    `lazy_files`: see operations.open_project."""
    from sigmaform.operations import open_project

    g = get_globals(ctx)
    project = open_project(g.project_root(), env or g.env, secrets=secrets, lazy_files=lazy_files)
    several = len(project.environments) > 1
    invocation.remember_env(project.environment.name if several else None)
    return project


def load_project_and_state_for(ctx: click.Context) -> tuple[Project, State]:
    """`load_project_for` and the project's state, read in the order that plans fastest
    (`operations.open_project_and_state`)."""
    from sigmaform.operations import open_project_and_state

    g = get_globals(ctx)
    project, state = open_project_and_state(g.project_root(), g.env)
    several = len(project.environments) > 1
    invocation.remember_env(project.environment.name if several else None)
    return project, state


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
    help="Limit to this resource and what it references (repeatable), e.g. Agent.support.",
    shell_complete=complete_target,
)
allow_recreate_option = click.option(
    "--allow-recreate",
    is_flag=True,
    help="Re-create managed resources even when all (or most) are missing remotely.",
)
