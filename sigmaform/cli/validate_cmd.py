"""`sigmaform validate`: every problem in the project's files, offline."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path

import click

from sigmaform.annotations import annotation_lines
from sigmaform.cli.app import cli, get_globals
from sigmaform.errors import EXIT_ERROR, EXIT_OK, problem_lines
from sigmaform.projectfile import PROJECT_FILE
from sigmaform.validate import Report, check_project


@cli.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="How to print the problems; github: GitHub Actions annotations on the diff.",
)
@click.option(
    "--find-projects",
    is_flag=True,
    help="PATHS are relative to the current directory: check, whole, each project whose "
    "sigmaform.yaml is above one of them; ignore the others. Without PATHS (the pre-commit "
    "hook), check every project below the current directory.",
)
@click.pass_context
def validate(
    ctx: click.Context, paths: tuple[Path, ...], output_format: str, find_projects: bool
) -> None:
    """Check YAML, schemas, names and references, offline; report every problem at once.

    PATHS (files or directories, relative to the -C directory, or without -C to the
    current one) limit the report to those files; the whole project is still read so
    references resolve. Without -e, every environment is checked, with secrets and unset
    ${env.X} as placeholders.

    \b
    Examples:
      sigmaform validate
      sigmaform -C examples validate agents/support.yaml --format json
      sigmaform validate --find-projects          # every project in the repository
      sigmaform validate --find-projects infra/agents/support.yaml
      sigmaform -C infra validate --format github   # in a GitHub Actions step
    """
    g = get_globals(ctx)
    if find_projects:
        roots = find_project_roots(paths) if paths else projects_below(Path.cwd())
        report = _check_found_projects(roots, g.env)
    else:
        # Found from the current directory (no -C), PATHS are the user's, as in git: from
        # there. With -C, they are from the project directory, as after `git -C`.
        given = paths if g.project_dir is not None else tuple(p.absolute() for p in paths)
        report = check_project(g.project_root(), g.env, given)
    if output_format == "json":
        click.echo(json.dumps(report.to_dict(), indent=2, sort_keys=True))
    elif output_format == "github":
        # GitHub resolves `file=` from the repository root, the job's working directory:
        # files named from the project directory get its path in front.
        base = None if find_projects else _relative(g.project_root().absolute())
        for line in annotation_lines(report.problems, base):
            click.echo(line)
        click.echo(summary(report))
    else:
        for line in problem_lines(report.problems):
            click.echo(line)
        click.echo(summary(report))
    ctx.exit(EXIT_OK if report.valid else EXIT_ERROR)


def summary(report: Report) -> str:
    """`2 errors, 1 warning` or `OK: 5 resources valid`."""

    def count(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    if report.valid:
        text = f"OK: {count(report.resources, 'resource')} valid"
        return text + (f" ({count(report.warnings, 'warning')})" if report.warnings else "")
    text = count(report.errors, "error")
    return text + (f", {count(report.warnings, 'warning')}" if report.warnings else "")


def find_project_roots(paths: Sequence[Path]) -> list[Path]:
    """The directories holding the nearest sigmaform.yaml above each path, in order, once.

    A path under no project (a CI workflow, a config file of another tool) names none.
    """
    roots: list[Path] = []
    for path in paths:
        start = path.absolute()
        for folder in (start, *start.parents):
            if (folder / PROJECT_FILE).is_file():
                if folder not in roots:
                    roots.append(folder)
                break
    return roots


def projects_below(top: Path) -> list[Path]:
    """Every directory under `top` holding a sigmaform.yaml, sorted.

    Hidden directories (.git, .venv, .sigmaform), node_modules and virtualenvs are not
    searched: they hold no project of the repository, and walking them would make the
    pre-commit hook slow.
    """
    roots: list[Path] = []
    for folder, subdirs, files in os.walk(top):
        if PROJECT_FILE in files:
            roots.append(Path(folder))
        subdirs[:] = [
            d
            for d in subdirs
            if not d.startswith(".")
            and d not in _NEVER_SEARCHED
            and not os.path.exists(os.path.join(folder, d, "pyvenv.cfg"))
        ]
    return sorted(roots)


_NEVER_SEARCHED = frozenset({"node_modules", "__pycache__"})


def _check_found_projects(roots: Sequence[Path], env: str | None) -> Report:
    """One report over every project, its files named from the current directory."""
    problems = []
    resources = 0
    for root in roots:
        report = check_project(root, env)
        prefix = _relative(root)
        problems += [
            dataclasses.replace(p, file=str(prefix / p.file)) if p.file else p
            for p in report.problems
        ]
        resources += report.resources
    return Report(tuple(problems), resources)


def _relative(root: Path) -> Path:
    try:
        return root.relative_to(Path.cwd().absolute())
    except ValueError:
        return root
