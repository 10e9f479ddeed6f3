"""`sigmaform doctor`: check the vendor API's behaviour against the account, and adapt."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import click

from sigmaform.api_profile import (
    BY_ID,
    DIFFERS,
    HOLDS,
    UNKNOWN,
    Finding,
    load_profile,
    merged,
    profile_path,
)
from sigmaform.cli.app import cli, load_project_for
from sigmaform.doctor import PREFIX, Doctor, DoctorReport
from sigmaform.errors import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, ConfigError, printable
from sigmaform.files import write_atomic
from sigmaform.operations import client_for


def _line(finding: Finding) -> str:
    # `seen` may quote what the server chose (ids, field names): escaped, one line.
    return f"{finding.verdict:<8}{finding.id}: {printable(finding.seen)} -> {finding.action}"


def _confirm(environment: str) -> bool:
    click.echo(
        f"doctor --write creates a throwaway agent `{PREFIX}...` and a test case in"
        f" environment '{environment}', checks them and deletes them."
    )
    click.echo("  Only 'yes' will be accepted to approve.\n")
    answer: str = click.prompt("  Enter a value", default="", show_default=False)
    return answer.strip() == "yes"


def _leftover_lines(report: DoctorReport) -> list[str]:
    lines = [
        f"Removed agent {printable(i)}, left by an earlier doctor run." for i in report.removed
    ]
    for kind, oid in report.leftovers:
        lines.append(
            f"Left behind: {kind} {printable(oid)} (named {PREFIX}...): remove it in the"
            " SigmaMind dashboard."
        )
    return lines


def _json(report: DoctorReport, environment: str, write: bool, profile: str) -> dict[str, Any]:
    """The JSON form, documented by schemas/doctor.schema.json."""
    return {
        "environment": environment,
        "write": write,
        "findings": [
            {
                "id": f.id,
                "assumption": BY_ID[f.id].statement,
                "verdict": f.verdict,
                "seen": f.seen,
                "action": f.action,
            }
            for f in report.findings
        ],
        "removedLeftovers": list(report.removed),
        "leftovers": [{"kind": kind, "id": oid} for kind, oid in report.leftovers],
        "profile": profile,
    }


@cli.command()
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--write",
    is_flag=True,
    help=f"Also check what only writes show, with a throwaway agent `{PREFIX}<random>`.",
)
@click.option("--auto-approve", is_flag=True, help="Do not ask before --write creates anything.")
@click.pass_context
def doctor(ctx: click.Context, fmt: str, write: bool, auto_approve: bool) -> None:
    """Check what sigmaform assumes about the SigmaMind API against this environment.

    Prints one line per assumption: holds, differs (with what was seen) or unknown, and
    what sigmaform does about it. The findings go to .sigmaform/api-profile/ENV.json
    (no key, no secret), which plan and apply follow. Without --write nothing is changed;
    with it a throwaway agent and test case are created and always removed (one left by
    a killed run is removed by the next). Exit 0: every assumption holds; 2: some
    differ (sigmaform adapted); 1: error.

    \b
    Examples:
      sigmaform -e staging doctor
      sigmaform -e staging doctor --write
    """
    project = load_project_for(ctx, secrets="placeholder")
    env = project.environment.name
    if write and not auto_approve:
        if not sys.stdin.isatty():
            raise ConfigError(
                "stdin is not a terminal: pass --auto-approve to let doctor --write create and"
                " delete a throwaway agent"
            )
        if not _confirm(env):
            click.echo("Doctor cancelled; nothing was sent.", err=True)
            ctx.exit(EXIT_ERROR)
    text = fmt == "text"
    echo = (lambda f: click.echo(_line(f))) if text else (lambda f: None)
    with client_for(project, 4) as client:
        run = Doctor(client, write=write, on_finding=echo)
        try:
            report = run.run()
        except BaseException:
            for line in _leftover_lines(run.report):
                click.echo(line, err=True)
            raise
    path = profile_path(project.root, env)
    profile = merged(load_profile(project.root, env), report.findings)
    checked_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    write_atomic(path, json.dumps(profile.to_json(env, checked_at), indent=2) + "\n")
    shown = str(path.relative_to(project.root))
    if text:
        for line in _leftover_lines(report):
            click.echo(line)
        verdicts = [f.verdict for f in report.findings]
        counts = {v: verdicts.count(v) for v in (HOLDS, DIFFERS, UNKNOWN)}
        click.echo(
            f"{counts[HOLDS]} hold, {counts[DIFFERS]} differ, {counts[UNKNOWN]} unknown;"
            f" findings written to {shown}."
        )
    else:
        click.echo(json.dumps(_json(report, env, write, shown), indent=2))
    ctx.exit(EXIT_CHANGES if report.differs else EXIT_OK)
