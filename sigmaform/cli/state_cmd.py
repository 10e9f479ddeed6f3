"""`sigmaform state ...`: inspect and repair state."""

from __future__ import annotations

import json
import socket

import click

from sigmaform import invocation
from sigmaform.cli.app import cli, load_project_for
from sigmaform.cli.completion import complete_state_address
from sigmaform.cli.lock_option import lock_timeout_option
from sigmaform.errors import EXIT_OK, ConfigError, RefusedError
from sigmaform.kinds import BY_PREFIX, canonical_address
from sigmaform.moves import Move, move_state
from sigmaform.operations import backend_for, read_state
from sigmaform.sensitive import mask_tree
from sigmaform.state import LockInfo
from sigmaform.state_check import address_kind, address_problem


@cli.group()
def state() -> None:
    """Inspect, repair and copy state (list, show, rm, mv, unlock, push, pull).

    \b
    Example:
      sigmaform -e staging state list
    """


@state.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.pass_context
def state_list(ctx: click.Context, fmt: str) -> None:
    """List managed resources: address, id, last applied.

    \b
    Example:
      sigmaform -e staging state list --format json
    """
    project = load_project_for(ctx, secrets="placeholder")
    current = read_state(backend_for(project), project.environment.name)
    rows = [
        {"address": a, "kind": r.kind, "id": r.id, "appliedAt": r.applied_at, "protect": r.protect}
        for a, r in sorted(current.resources.items())
    ]
    if fmt == "json":
        click.echo(json.dumps({"serial": current.serial, "resources": rows}, indent=2))
        return
    for row in rows:
        flag = "  (protected)" if row["protect"] else ""
        click.echo(f"{row['address']}\t{row['id']}\t{row['appliedAt']}{flag}")


@state.command("show")
@click.argument("address", shell_complete=complete_state_address)
@click.pass_context
def state_show(ctx: click.Context, address: str) -> None:
    """Show one resource's state (secrets appear only as `(sensitive)`).

    \b
    Example:
      sigmaform -e staging state show agent.support
    """
    address = _address(address)
    project = load_project_for(ctx, secrets="placeholder")
    current = read_state(backend_for(project), project.environment.name)
    found = current.resources.get(address)
    if found is None:
        raise _not_in_state(address)
    click.echo(json.dumps(mask_tree(found.to_dict(inline=True)), indent=2, sort_keys=True))


def _address(text: str) -> str:
    """The state address TEXT names: `Agent.support` and `agent.support` are one resource."""
    address = canonical_address(text)
    if address is None:
        known = ", ".join(sorted(BY_PREFIX))
        raise ConfigError(
            f"`{text}` is not an address (expected KIND.NAME, KIND one of {known}, "
            "or a kind's name such as Agent)"
        )
    if address_kind(address) is None:  # a name no resource file could have
        raise ConfigError(address_problem(address))
    return address


def _not_in_state(address: str) -> ConfigError:
    return ConfigError(
        f"no resource `{address}` in state (see `{invocation.command('state', 'list')}`)"
    )


@state.command("rm")
@click.argument("address", shell_complete=complete_state_address)
@lock_timeout_option
@click.pass_context
def state_rm(ctx: click.Context, address: str, lock_timeout: float) -> None:
    """Stop managing ADDRESS: remove it from state; the remote object is left alone.

    \b
    Example:
      sigmaform -e staging state rm agent.old-demo
    """
    address = _address(address)
    project = load_project_for(ctx, secrets="placeholder")
    backend = backend_for(project)
    with backend.lock(LockInfo("state rm"), lock_timeout):
        current = read_state(backend, project.environment.name)
        if address not in current.resources:
            raise _not_in_state(address)
        backend.write(current.without(address))
    click.echo(f"Removed {address} from state; the remote object was not touched.")


@state.command("mv")
@click.argument("source", shell_complete=complete_state_address)
@click.argument("destination", shell_complete=complete_state_address)
@lock_timeout_option
@click.pass_context
def state_mv(ctx: click.Context, source: str, destination: str, lock_timeout: float) -> None:
    """Rename a resource's address (after renaming `name:` in its file).

    \b
    Example:
      sigmaform -e staging state mv agent.support agent.customer-support
    """
    source, destination = _address(source), _address(destination)
    project = load_project_for(ctx, secrets="placeholder")
    backend = backend_for(project)
    with backend.lock(LockInfo("state mv"), lock_timeout):
        current = read_state(backend, project.environment.name)
        if source not in current.resources:
            raise _not_in_state(source)
        if destination in current.resources:
            raise ConfigError(f"`{destination}` is already in state")
        if source.split(".")[0] != destination.split(".")[0]:
            raise ConfigError("state mv cannot change a resource's kind")
        # References to it in other resources' applied values follow, or the next plan
        # would show them as changed outside sigmaform.
        moved, _ = move_state(current, [Move(source, destination)])
        backend.write(moved)
    click.echo(f"Moved {source} to {destination}.")


@state.command("unlock")
@click.option(
    "--force",
    is_flag=True,
    help="Accepted for scripts; a lock whose holder is still running is never removed.",
)
@click.pass_context
def state_unlock(ctx: click.Context, force: bool) -> None:
    """Clear the lock details left by a process that is gone.

    A lock held by a running process is never removed, with or without --force: a second
    apply beside it would create everything twice. Stop that process (or wait for it).

    \b
    Example:
      sigmaform -e staging state unlock
    """
    project = load_project_for(ctx, secrets="placeholder")
    backend = backend_for(project)
    holder = backend.lock_holder()
    if backend.is_locked():
        who = holder.describe() if holder else "a running process"
        if getattr(backend, "lock_outlives_holder", False) and (
            holder is not None and holder.host != socket.gethostname()
        ):
            # Only a process of this host can be seen to be gone (an s3 lock object outlives
            # its holder): for one elsewhere, the user decides.
            if not force:
                raise RefusedError(
                    f"the lock is held by {who} on another host, which may still be running: "
                    "if it is gone, use --force"
                )
        else:
            raise RefusedError(
                f"the lock is held by {who}, which is still running; a live holder's lock is "
                "never removed"
                + (" (not even with --force)" if force else "")
                + ": wait for it to finish, or stop that process first"
            )
    removed = backend.force_unlock()
    if removed is None:
        click.echo("No lock information found; state is not locked.")
    else:
        click.echo(f"Removed the lock of {removed.describe()}.")
    ctx.exit(EXIT_OK)
