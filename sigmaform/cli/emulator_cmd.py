"""`sigmaform emulator`: serve the local SigmaMind API over HTTP until interrupted."""

from __future__ import annotations

import errno
import ipaddress
from pathlib import Path

import click

from sigmaform.cli.app import cli
from sigmaform.emulator import EmulatorApp, Faults, serve
from sigmaform.emulator.judge import Judge, Pace, Rule
from sigmaform.emulator.modes import CHOICES, Modes
from sigmaform.errors import EXIT_ERROR, EXIT_OK


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@cli.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="0: any."
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep workspaces in DIR (default: in memory).",
)
@click.option(
    "--api-key",
    "api_keys",
    multiple=True,
    help="Accept only this key (repeatable; default: any non-empty key).",
)
@click.option("--latency-ms", type=click.FloatRange(min=0), default=0.0, help="Delay per request.")
@click.option("--error-rate", type=click.FloatRange(0, 1), default=0.0, help="Share of 503s.")
@click.option(
    "--drop-rate", type=click.FloatRange(0, 1), default=0.0, help="Share acted on, then 502."
)
@click.option(
    "--rate-limit",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Requests per second per key; excess gets 429 with Retry-After.",
)
@click.option("--seed", type=int, default=None, help="Make faults and ids reproducible.")
@click.option(
    "--settings-patch",
    type=click.Choice(["merge", "replace"]),
    default="merge",
    show_default=True,
    help="How PATCH treats a partial agentSettings object.",
)
@click.option(
    "--list-items",
    type=click.Choice(CHOICES["list_items"]),
    default="whole",
    show_default=True,
    help="Whether the agent list answers whole agents or summaries.",
)
@click.option(
    "--webhook-secrets",
    type=click.Choice(CHOICES["webhook_secrets"]),
    default="echoed",
    show_default=True,
    help="Whether responses carry webhook secrets.",
)
@click.option(
    "--phone-number-field",
    type=click.Choice(CHOICES["phone_number_field"]),
    default="sipPhoneNumber",
    show_default=True,
    help="The name phone-number responses give the number.",
)
@click.option(
    "--agent-delete",
    type=click.Choice(CHOICES["agent_delete"]),
    default="allowed",
    show_default=True,
    help="Whether DELETE /v1/agents/{id} exists (or answers 405 or 404).",
)
@click.option(
    "--create-names",
    type=click.Choice(CHOICES["create_names"]),
    default="any",
    show_default=True,
    help="Post-conversation names agent create takes: both, the Create page's, the Update page's.",
)
@click.option(
    "--webhook-ids",
    type=click.Choice(CHOICES["webhook_ids"]),
    default="kept",
    show_default=True,
    help="Whether a PATCHed webhook keeps the webhookId it names, or gets a new one.",
)
@click.option(
    "--test-cases",
    type=click.Choice(CHOICES["test_cases"]),
    default="present",
    show_default=True,
    help="Whether the /v1/test-cases endpoints exist.",
)
@click.option(
    "--batch-jobs",
    type=click.Choice(CHOICES["batch_jobs"]),
    default="hidden",
    show_default=True,
    help="listed: batch runs also list their completed attempts' jobIds (not documented).",
)
@click.option(
    "--success-field",
    type=click.Choice(CHOICES["success_field"]),
    default="isSuccessful",
    show_default=True,
    help="The name a test run gives its verdict (the older docs spell it isSuccesful).",
)
@click.option(
    "--judge",
    "judge_rules",
    multiple=True,
    metavar="PATTERN=OUTCOME",
    help="How test cases whose label or id match the glob PATTERN turn out: pass, fail, a "
    "pass probability (0.8) or a p/f sequence (ffp); first match wins, default pass.",
)
@click.option("--judge-seed", type=int, default=0, help="Seed of the pass probabilities.")
@click.option(
    "--batch-pace",
    default="instant",
    show_default=True,
    help="How batch attempts complete: instant, N/read (per GET of the batch) or N/s.",
)
@click.option(
    "--batch-stall-at",
    type=click.IntRange(min=0),
    default=None,
    help="Batch counters stop moving after this many attempts (a stalled run).",
)
@click.option(
    "--journal",
    "journal_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append each request as a JSON line to FILE.",
)
@click.pass_context
def emulator(
    ctx: click.Context,
    host: str,
    port: int,
    data_dir: Path | None,
    api_keys: tuple[str, ...],
    latency_ms: float,
    error_rate: float,
    drop_rate: float,
    rate_limit: float | None,
    seed: int | None,
    settings_patch: str,
    list_items: str,
    webhook_secrets: str,
    phone_number_field: str,
    agent_delete: str,
    create_names: str,
    webhook_ids: str,
    test_cases: str,
    batch_jobs: str,
    success_field: str,
    judge_rules: tuple[str, ...],
    judge_seed: int,
    batch_pace: str,
    batch_stall_at: int | None,
    journal_file: Path | None,
) -> None:
    """Serve the local SigmaMind emulator over HTTP (Ctrl-C stops it).

    Each API key is its own workspace. Point an environment at it with
    `baseUrl: http://127.0.0.1:8765` (plain http is allowed for loopback only).

    \b
    Examples:
      sigmaform emulator --port 8765 --data .emulator
      sigmaform emulator --latency-ms 50 --error-rate 0.05 --seed 1
      sigmaform emulator --settings-patch replace --list-items partial
      sigmaform emulator --judge 'refund-*=0.7' --batch-pace 2/read --batch-jobs listed
    """
    try:
        judge = Judge(
            rules=tuple(Rule.parse(rule) for rule in judge_rules),
            seed=judge_seed,
            pace=Pace.parse(batch_pace),
            stall_at=batch_stall_at,
        )
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    faults = Faults(
        latency_ms=latency_ms,
        error_rate=error_rate,
        drop_rate=drop_rate,
        rate_limit=rate_limit,
        seed=seed,
    )
    app = EmulatorApp(
        data_dir,
        faults=faults,
        settings_patch="replace" if settings_patch == "replace" else "merge",
        api_keys=set(api_keys) if api_keys else None,
        journal_file=journal_file,
        # Nothing in this process reads the entries back: they stay in the journal files
        # only (in memory, 10,000 creates' bodies grew the server by ~170 MB).
        keep_journal=False,
        modes=Modes.parse(
            {
                "list_items": list_items,
                "webhook_secrets": webhook_secrets,
                "phone_number_field": phone_number_field,
                "agent_delete": agent_delete,
                "create_names": create_names,
                "webhook_ids": webhook_ids,
                "test_cases": test_cases,
                "batch_jobs": batch_jobs,
                "success_field": success_field,
            }
        ),
        judge=judge,
    )
    if not _is_loopback(host):
        click.echo(
            f"Warning: {host} is not a loopback address: anyone who can reach it can use "
            "the emulator.",
            err=True,
        )
    try:
        server = serve(host, port, app)
    except OSError as error:
        reason = "address already in use" if error.errno == errno.EADDRINUSE else error.strerror
        click.echo(f"Error: cannot listen on {host}:{port}: {reason}", err=True)
        ctx.exit(EXIT_ERROR)
    where = str(data_dir) if data_dir is not None else "memory"
    shown_host = f"[{host}]" if ":" in host else host
    click.echo(
        f"SigmaMind emulator listening on http://{shown_host}:{server.server_port} (data: {where})"
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("Emulator stopped.")
    finally:
        server.server_close()
    ctx.exit(EXIT_OK)
