"""`sigmaform promote --to ENV`: plan (and apply) ENV only with what its source env applied."""

from __future__ import annotations

import click

from sigmaform.apply import ApplyOptions
from sigmaform.cli.app import (
    allow_recreate_option,
    cli,
    get_globals,
    load_project_for,
    parallelism_option,
)
from sigmaform.cli.apply_console import ApplyConsole
from sigmaform.cli.lock_option import lock_timeout_option
from sigmaform.errors import EXIT_OK, ConfigError
from sigmaform.operations import (
    ApplyRequest,
    apply_project,
    backend_for,
    client_for,
    make_plan,
    open_project,
    read_state,
)
from sigmaform.plan import Plan
from sigmaform.projectfile import PROJECT_FILE
from sigmaform.promote import GateResult, gate, gate_deletes, refusal
from sigmaform.promote_tests import gate_on_tests, untested_refusal
from sigmaform.render import render_plan


@cli.command("promote")
@click.option("--to", "target", required=True, metavar="ENV", help="Environment to promote to.")
@click.option("--apply", "do_apply", is_flag=True, help="Apply the plan after the gate passes.")
@click.option("--auto-approve", is_flag=True, help="Do not ask; required without a terminal.")
@click.option("--allow-delete", is_flag=True, help="Delete resources whose files are gone.")
@click.option("--force", is_flag=True, help="Override safety thresholds (never `protect: true`).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="How to print the plan; with --apply, json prints one JSON object per line as "
    "each resource finishes (`sigmaform schema apply-event`).",
)
@allow_recreate_option
@parallelism_option
@lock_timeout_option
@click.pass_context
def promote(
    ctx: click.Context,
    target: str,
    do_apply: bool,
    auto_approve: bool,
    allow_delete: bool,
    force: bool,
    fmt: str,
    allow_recreate: bool,
    parallelism: int,
    lock_timeout: float,
) -> None:
    """Plan ENV with the current files, only if its `promoteFrom` env applied them.

    Every resource ENV declares that the source environment also declares must be exactly
    what the source last applied (same rendered config, verified apply), and every agent
    with test cases must have passed them there at that content (`sigmaform test`);
    otherwise the promotion is refused (exit 3) naming each resource. The source's secrets are not
    needed. `-e` is ignored: --to chooses the environment.

    \b
    Examples:
      sigmaform promote --to prod
      sigmaform promote --to prod --apply --auto-approve
      sigmaform promote --to prod --apply --auto-approve --format json
    """
    g = get_globals(ctx)
    # Placeholders: only the resource set and promoteFrom matter before the gate.
    root = g.project_root()
    declared = open_project(root, target, secrets="placeholder")
    source_env = declared.environment.promote_from
    if source_env is None:
        raise ConfigError(
            f"environment `{target}` has no `promoteFrom`, so there is nothing to promote "
            f"from: add `promoteFrom: ENV` under environments.{target} in {PROJECT_FILE} "
            f"(known: {', '.join(sorted(declared.environments))})"
        )
    source = open_project(root, source_env, secrets="placeholder")
    source_state = read_state(backend_for(source), source_env)
    result = gate(
        source.resources,
        source_state,
        [r.address for r in declared.resources],
        target_env=target,
    )
    if not result.passed:
        raise refusal(source_env, target, result.problems)
    untested = gate_on_tests(
        source.resources,
        source_state,
        [r.address for r in declared.resources],
        require_tests=declared.environment.promote_requires_tests,
    )
    if untested:
        raise untested_refusal(source_env, target, untested)
    _echo_gate(result, to_stderr=fmt == "json")

    # Through the CLI's loader, so that hints from here on (a held lock, a stale state)
    # name the target environment.
    project = load_project_for(ctx, env=target)
    if not do_apply:
        state = read_state(backend_for(project), target)
        with client_for(project, parallelism) as client:
            plan = make_plan(
                project,
                state,
                client,
                allow_delete=allow_delete,
                allow_recreate=allow_recreate,
            )
        if allow_delete and (deleting := gate_deletes(plan, source_state)):
            raise refusal(source_env, target, deleting)
        click.echo(render_plan(plan, fmt, color=g.color), nl=False)
        ctx.exit(EXIT_OK)

    def gate_deletes_first(plan: Plan) -> None:
        # Deletes are known only once the target is planned, so they are gated here,
        # before anything is sent (apply_project confirms before executing).
        if allow_delete and (deleting := gate_deletes(plan, source_state)):
            raise refusal(source_env, target, deleting)

    console = ApplyConsole(
        g,
        label=f"Promotion to {target}",
        fmt=fmt,
        auto_approve=auto_approve,
        before_confirm=gate_deletes_first,
    )
    console.require_answerable()
    request = ApplyRequest(
        options=ApplyOptions(allow_delete=allow_delete, force=force, parallelism=parallelism),
        allow_recreate=allow_recreate,
        lock_timeout=lock_timeout,
    )
    plan, applied = apply_project(
        project, request, confirm=console.confirm, on_outcome=console.report
    )
    console.finish(ctx, plan, applied)


def _echo_gate(result: GateResult, *, to_stderr: bool) -> None:
    count = len(result.gated)
    noun = "resource is" if count == 1 else "resources are"
    click.echo(
        f"Promotion gate passed: {count} {noun} as {result.source_env} last applied them.",
        err=to_stderr,
    )
    if result.not_gated:
        click.echo(
            f"Not gated (not declared in {result.source_env}): {', '.join(result.not_gated)}.",
            err=to_stderr,
        )
    click.echo("", err=to_stderr)
