"""`--lock-timeout DURATION`: how long a command waits for the state lock (Terraform's
`-lock-timeout`). 0, the default, refuses at once when another process holds it."""

from __future__ import annotations

import click

from sigmaform.duration import parse_duration

# A day: longer is surely a typo, and a CI job would hang on it until its own timeout.
MAX_SECONDS = 86400.0


def _to_seconds(ctx: click.Context, param: click.Parameter, value: str) -> float:
    # A callback, not a ParamType: ParamType's typing differs between click versions.
    seconds = parse_duration(value)
    if seconds is None:
        raise click.BadParameter(f"{value!r} is not a duration (e.g. 0, 5s, 2m, 1m30s)")
    if seconds > MAX_SECONDS:
        raise click.BadParameter(f"{value!r} is longer than a day")
    return seconds


lock_timeout_option = click.option(
    "--lock-timeout",
    default="0",
    callback=_to_seconds,
    show_default=True,
    metavar="DURATION",
    help="Wait this long for the state lock (e.g. 30s, 2m) instead of failing at once.",
)
