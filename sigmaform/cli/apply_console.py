"""What `apply` and `promote --apply` show while applying: the plan, the prompt, progress."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

import click

from sigmaform.apply import ApplyReport, Outcome
from sigmaform.apply_events import plan_event, resource_event, summary_event
from sigmaform.cli.app import Globals
from sigmaform.errors import EXIT_ERROR, EXIT_OK, ConfigError
from sigmaform.plan import Plan
from sigmaform.render import SYMBOL, render_plan_blocks


class ApplyConsole:
    """Callbacks for `operations.apply_project`, and the closing summary.

    `label` starts the summary line ("Apply", "Promotion to prod"); unless `auto_approve`,
    the user must type `yes` to go on (a saved, reviewed plan is applied as approved).
    With `fmt="json"`, stdout carries only JSON lines (sigmaform/apply_events.py).
    """

    def __init__(
        self,
        g: Globals,
        *,
        label: str = "Apply",
        fmt: str = "text",
        auto_approve: bool = False,
        before_confirm: Callable[[Plan], None] = lambda _: None,
    ) -> None:
        self._g = g
        self._label = label
        self._fmt = fmt
        self._auto_approve = auto_approve
        self._before_confirm = before_confirm
        self._lock = threading.Lock()
        self._done = 0
        self._total = 0

    def require_answerable(self) -> None:
        """Fail before planning (no request sent) when nobody could answer the prompt."""
        if self._fmt == "json" and not self._auto_approve:
            raise ConfigError(
                "--format json prints JSON lines only, so nobody can answer the prompt: "
                "pass --auto-approve (or apply a saved plan)"
            )
        if not self._auto_approve and not sys.stdin.isatty():
            raise ConfigError(
                "stdin is not a terminal: pass --auto-approve to apply without confirmation"
            )

    def confirm(self, plan: Plan) -> bool:
        self._before_confirm(plan)
        self._total = len(plan.pending())
        if self._fmt == "json":
            click.echo(plan_event(plan))
            return True  # require_answerable made sure of --auto-approve
        for block in render_plan_blocks(plan, self._fmt, color=self._g.color):
            click.echo(block, nl=False)
        if self._auto_approve:
            return True
        self.require_answerable()
        return ask_approval(plan.environment)

    def report(self, outcome: Outcome) -> None:
        """One line per resource as it finishes; a [n/total] counter on a terminal."""
        with self._lock:
            self._done += 1
            if self._fmt == "json":
                click.echo(resource_event(outcome))
                return
            progress = f"[{self._done}/{self._total}] " if self._g.color else ""
            symbol = "!" if outcome.failed else SYMBOL[outcome.action]
            detail = f": {outcome.message}" if outcome.message else ""
            click.echo(f"{progress}{symbol} {outcome.address}: {outcome.status}{detail}")

    def finish(self, ctx: click.Context, plan: Plan, result: ApplyReport | None) -> None:
        """Print the summary and exit: 0 done or nothing to do, 1 when a resource failed."""
        if self._fmt == "json":
            self._finish_json(ctx, plan, result)
        if result is None:
            if plan.has_changes:
                # Only a declined prompt leaves changes unapplied: a script must not take
                # that for success.
                click.echo(f"{self._label} cancelled; nothing was changed.", err=True)
                ctx.exit(EXIT_ERROR)
            for block in render_plan_blocks(plan, self._fmt, color=self._g.color):
                click.echo(block, nl=False)
            ctx.exit(EXIT_OK)
        counts: dict[str, int] = {}
        for outcome in result.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        if result.failures:
            click.echo(f"{self._label} finished with errors ({parts}). Failed:", err=True)
            for outcome in result.failures:
                click.echo(f"  {outcome.address}: {outcome.message}", err=True)
            ctx.exit(EXIT_ERROR)
        click.echo(f"{self._label} complete: {parts}.")
        ctx.exit(EXIT_OK)

    def _finish_json(self, ctx: click.Context, plan: Plan, result: ApplyReport | None) -> None:
        cancelled = result is None and plan.has_changes
        if not plan.has_changes:  # no prompt ran, so no plan event yet
            click.echo(plan_event(plan))
        outcomes = result.outcomes if result is not None else None
        click.echo(summary_event(plan.environment, outcomes, cancelled=cancelled))
        failed = cancelled or (result is not None and bool(result.failures))
        if result is not None:
            for outcome in result.failures:  # people read stderr in CI logs
                click.echo(f"{outcome.address}: {outcome.message}", err=True)
        ctx.exit(EXIT_ERROR if failed else EXIT_OK)


def ask_approval(environment: str) -> bool:
    """Terraform's rule: the environment is named, and only a typed `yes` approves."""
    click.echo(f"\nDo you want to perform these actions in environment '{environment}'?")
    click.echo("  Only 'yes' will be accepted to approve.\n")
    answer: str = click.prompt("  Enter a value", default="", show_default=False)
    return answer.strip() == "yes"
