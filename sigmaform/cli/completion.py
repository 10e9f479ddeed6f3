"""Shell completion of environment names, resource addresses and schema kinds.

Each callback reads the project as found from `-C` (given before the command) or the
current directory, offline, and offers nothing rather than fail: a broken file must not
print a traceback into the user's prompt, and `validate` is where it gets reported.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import click
from click.shell_completion import CompletionItem


def _project_root(ctx: click.Context) -> Path | None:
    from sigmaform.project import find_project_root

    given = ctx.find_root().params.get("project_dir")
    if isinstance(given, Path):
        return given
    return find_project_root(Path.cwd())


def _env(ctx: click.Context) -> str | None:
    value = ctx.find_root().params.get("env") or os.environ.get("SIGMAFORM_ENV")
    return str(value) if value else None


def _items(values: Iterable[str], incomplete: str) -> list[CompletionItem]:
    return [CompletionItem(v) for v in sorted(set(values)) if v.startswith(incomplete)]


def environment_names(ctx: click.Context) -> list[str]:
    from sigmaform.project import load_project_file

    root = _project_root(ctx)
    if root is None:
        return []
    return list(load_project_file(root).environments)


def declared_addresses(ctx: click.Context) -> list[str]:
    """`kind.name` of each resource in the files: of `-e`, else of every environment."""
    from sigmaform.project import load_project

    root = _project_root(ctx)
    if root is None:
        return []
    env = _env(ctx)
    envs = [env] if env else environment_names(ctx)
    found: list[str] = []
    for name in envs:
        project = load_project(root, name, secrets="placeholder")
        found += [r.address for r in project.resources]
    return found


def state_addresses(ctx: click.Context) -> list[str]:
    """The addresses in the environment's local state file (a database is not contacted)."""
    from sigmaform.operations import backend_for, open_project

    root = _project_root(ctx)
    if root is None:
        return []
    project = open_project(root, _env(ctx), secrets="placeholder")
    if project.state.backend != "local":
        return []
    state = backend_for(project).read()
    return list(state.resources) if state is not None else []


def _quietly(ctx: click.Context, *sources: Callable[[click.Context], list[str]]) -> list[str]:
    found: list[str] = []
    for source in sources:
        try:
            found += source(ctx)
        except Exception as error:
            import logging  # here: every command imports this module, few complete

            logging.getLogger(__name__).debug("completion: %s", error)
    return found


def complete_environment(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    return _items(_quietly(ctx, environment_names), incomplete)


def complete_target(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Addresses in the files; in `Kind.name` form when the user started with a capital."""
    from sigmaform.kinds import BY_PREFIX

    found = _quietly(ctx, declared_addresses)
    if incomplete[:1].isupper():
        found = [f"{BY_PREFIX[a.split('.', 1)[0]].name}.{a.split('.', 1)[1]}" for a in found]
    return _items(found, incomplete)


def complete_state_address(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Addresses in state, and (for `state mv` destinations) those in the files."""
    return _items(_quietly(ctx, state_addresses, declared_addresses), incomplete)


def complete_schema_kind(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    from sigmaform.cli.schema_cmd import available_schemas

    return _items(available_schemas(), incomplete)
