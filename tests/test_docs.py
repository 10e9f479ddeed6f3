"""Docs that must stay true: the generated reference and CLI pages, every command's example,
--version, shell completion, and each `--format json` output against its schema."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import click
import pytest
from click.testing import CliRunner
from conftest import Project
from jsonschema import Draft202012Validator

from sigmaform import __version__
from sigmaform.cli import cli
from sigmaform.errors import SigmaformError

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def all_commands(
    group: click.Group = cli, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))


def cli_command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


def invoke(*args: str, **kwargs: Any) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, **kwargs)


def test_reference_is_generated_from_the_current_schemas() -> None:
    page = (DOCS / "reference.md").read_text(encoding="utf-8")
    assert page == script("gen_reference").render_reference(), (
        "docs/reference.md is stale: run python scripts/gen_reference.py"
    )


def test_reference_covers_every_shipped_schema() -> None:
    page = (DOCS / "reference.md").read_text(encoding="utf-8")
    for schema in sorted((ROOT / "schemas").glob("*.schema.json")):
        assert f"schemas/{schema.name}" in page
    # Deep fields, through $refs and list items, are documented.
    for path in ("spec.agentSettings.webhooks[].secret", "spec.tools[].transferSettings"):
        assert f"| `{path}`" in page


def test_cli_page_is_generated_from_the_current_commands() -> None:
    page = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert page == script("gen_cli").render_cli(), "docs/cli.md is stale: run scripts/gen_cli.py"
    for path in all_commands():
        assert f"\n## sigmaform {' '.join(path)}\n" in page


def test_generators_check_mode_reports_staleness(tmp_path: Path) -> None:
    for name in ("gen_reference", "gen_cli"):
        module = script(name)
        assert module.main(["x", "--check"]) == 0
        module.OUTPUT = tmp_path / "stale.md"
        module.ROOT = tmp_path
        module.OUTPUT.write_text("old\n")
        assert module.main(["x", "--check"]) == 1


@pytest.mark.parametrize("path", list(all_commands()), ids=" ".join)
def test_every_command_help_has_an_example(path: tuple[str, ...]) -> None:
    result = invoke(*path, "--help")
    assert result.exit_code == 0
    assert re.search(r"^  Examples?:$", result.output, re.MULTILINE), result.output
    assert re.search(rf"^    sigmaform .*\b{re.escape(path[-1])}\b", result.output, re.MULTILINE)


@pytest.mark.parametrize(
    "path", [p for p in all_commands() if isinstance(cli_command(p), click.Group)], ids=" ".join
)
def test_group_help_names_every_subcommand(path: tuple[str, ...]) -> None:
    # A group's first line lists its commands: a new one must not be left out of it.
    group = cli_command(path)
    assert isinstance(group, click.Group)
    summary = (group.help or "").split("\n", 1)[0]
    for name in group.commands:
        assert re.search(rf"\b{re.escape(name)}\b", summary), (name, summary)


def test_root_help_has_an_example_and_short_help() -> None:
    result = invoke("-h")
    assert result.exit_code == 0
    assert "Example:\n    sigmaform -C examples validate" in result.output


def test_version() -> None:
    result = invoke("--version")
    assert (result.exit_code, result.output) == (0, f"sigmaform, version {__version__}\n")


def test_bash_completion_script_is_produced() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sigmaform"],
        env={"_SIGMAFORM_COMPLETE": "bash_source", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "_sigmaform_completion()" in done.stdout
    assert "complete -o nosort -F _sigmaform_completion sigmaform" in done.stdout


@pytest.mark.parametrize("shell", ["zsh_source", "fish_source"])
def test_other_shells_get_a_completion_script(shell: str) -> None:
    result = CliRunner().invoke(cli, [], prog_name="sigmaform", env={"_SIGMAFORM_COMPLETE": shell})
    assert result.exit_code == 0
    assert "sigmaform" in result.output and "_SIGMAFORM_COMPLETE" in result.output


@pytest.mark.parametrize(
    ("words", "cword", "expected"),
    [
        ("sigmaform pl", "1", "plain,plan"),
        ("sigmaform state ", "2", "plain,list"),
        ("sigmaform plan --format ", "3", "plain,markdown"),
    ],
)
def test_bash_completion_completes_commands_and_choices(
    words: str, cword: str, expected: str
) -> None:
    env = {"_SIGMAFORM_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": cword}
    result = CliRunner().invoke(cli, [], prog_name="sigmaform", env=env)
    assert result.exit_code == 0
    assert expected in result.output.splitlines()


def test_completion_is_documented() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for text in (readme, (DOCS / "cli.md").read_text(encoding="utf-8")):
        assert "_SIGMAFORM_COMPLETE=bash_source sigmaform" in text


# --- --format json outputs, each against the schema that documents it


def schema(name: str) -> Draft202012Validator:
    loaded = json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(loaded)
    return Draft202012Validator(loaded)


def conforms(name: str, output: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(output)
    problems = [f"{list(e.absolute_path)}: {e.message}" for e in schema(name).iter_errors(document)]
    assert problems == []
    return document


def test_validate_json_matches_its_schema(example: Project) -> None:
    ok = example.run("validate", "--format", "json")
    assert ok.exit_code == 0
    assert conforms("validate", ok.output)["valid"] is True
    example.edit("agents/support.yaml", "llmTemperature: 0.3", "llmTemperature: hot")
    bad = example.run("validate", "--format", "json")
    assert bad.exit_code == 1
    report = conforms("validate", bad.output)
    assert report["valid"] is False and report["errors"] == 1
    assert report["problems"][0]["file"] == "agents/support.yaml"


def test_plan_state_list_and_drift_json_match_their_schemas(example: Project) -> None:
    plan = example.run("plan", "--format", "json")
    assert plan.exit_code == 0
    assert conforms("plan", plan.output)["summary"]["create"] == 3
    empty = example.run("state", "list", "--format", "json")
    assert conforms("state-list", empty.output) == {"serial": 0, "resources": []}
    assert example.run("apply", "--auto-approve").exit_code == 0
    listed = conforms("state-list", example.run("state", "list", "--format", "json").output)
    assert [r["address"] for r in listed["resources"]] == [
        "agent.appointment-reminder",
        "agent.receptionist",
        "agent.support",
    ]
    assert [r["protect"] for r in listed["resources"]] == [False, False, True]
    drift = example.run("drift", "--format", "json")
    assert drift.exit_code == 0
    assert conforms("drift", drift.output)["summary"]["changed"] == 0


# --- the pages link to each other and the README points at them


def test_docs_pages_exist_and_local_links_resolve() -> None:
    pages = ["concepts", "reference", "ci", "editors", "troubleshooting", "cli"]
    for page in pages:
        assert (DOCS / f"{page}.md").is_file(), page
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Using sigmaform in CI and editors", 1)[1].split("\n## ", 1)[0]
    for page in pages:
        assert f"docs/{page}.md" in section
    for md in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", md.read_text(encoding="utf-8")):
            if not target.startswith(("http://", "https://", "mailto:")):
                assert (md.parent / target).exists(), f"{md.name}: broken link {target}"


# --- the messages docs/troubleshooting.md quotes are the ones the code prints

# Quoted on purpose though no sigmaform string holds them: the YAML parser's own words, and
# messages whose words come from a variable (a count, a plural, a list of kinds).
NOT_IN_OUR_CODE = {
    "found unexpected end of stream",
    "while scanning a quoted scalar",
    "did not find expected key",
    "while parsing a block mapping",
    "resources are not what",  # "resource is" / "resources are"
    "agents have not passed their tests in",  # "agent has ... its" / "agents have ... their"
    "0 resources valid",  # "OK: {count} valid"
    "No such command",  # click's usage errors
    "No such option",
    "Invalid value for",
}
# Words that stand for a value: CAPITALS, `...`, `<...>`, and a pasteable command (the code
# builds those, with -C and -e when needed).
PLACEHOLDER = re.compile(
    r"\.\.\.|\b[A-Z][A-Z0-9_]*\b(?:\.[A-Z]+)?|<[^>]*>|\bsigmaform(?: [-\w.]+)+"
)


def code_strings() -> str:
    """Every string in sigmaform/, f-string fields as NUL (module constants filled in),
    backticks dropped (the docs cannot nest them), joined by \x01."""
    trees = [ast.parse(p.read_text(encoding="utf-8")) for p in (ROOT / "sigmaform").rglob("*.py")]
    constants = {
        target.id: node.value.value
        for tree in trees
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }

    def field(node: ast.expr) -> str:
        if isinstance(node, ast.Constant):
            return str(node.value)
        if isinstance(node, ast.FormattedValue) and isinstance(node.value, ast.Name):
            return constants.get(node.value.id, "\0")
        return "\0"

    found: list[str] = []
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                found.append("".join(field(v) for v in node.values))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.append(node.value)
    return "\x01".join(found).replace("`", "")


def quoted_messages(page: str) -> Iterator[str]:
    """The code spans in the first column of every table: the messages the page explains."""
    for line in page.splitlines():
        if not line.startswith("| ") or line.startswith("|---"):
            continue
        cell = re.split(r"(?<!\\)\|", line)[1]
        for span in re.finditer(r"(`+) ?(.+?) ?\1(?!`)", cell):
            yield span.group(2)


def unknown_phrases(message: str, code: str) -> list[str]:
    """The phrases of `message` (between its placeholders) that no code string holds."""
    missing = []
    for fragment in PLACEHOLDER.split(message.replace("`", "").replace("\\|", "|")):
        fragment = fragment.strip(" .,:;()'\"")
        if len(fragment.split()) < 2 or fragment in code:
            continue
        # Built from pieces: each phrase of three words or more must be there, allowing
        # one word of it to be a field such as a kind's name.
        for phrase in (p.strip(" '\"") for p in re.split(r"[:;,()]", fragment)):
            words = phrase.split()
            if len(words) < 3 or phrase in code or phrase in NOT_IN_OUR_CODE:
                continue
            variants = (" ".join([*words[:i], "\0", *words[i + 1 :]]) for i in range(len(words)))
            if not any(v in code for v in variants):
                missing.append(phrase)
    return missing


def test_troubleshooting_quotes_the_messages_the_code_prints() -> None:
    page = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    code = code_strings()
    messages = list(quoted_messages(page))
    assert len(messages) > 100
    wrong = {m: unknown_phrases(m, code) for m in messages}
    assert {m: p for m, p in wrong.items() if p} == {}
    # The checker catches a reworded message.
    assert unknown_phrases("refusing to create agents that were never seen", code)


def error_exit_codes() -> dict[str, int]:
    def subclasses(cls: type[SigmaformError]) -> Iterator[type[SigmaformError]]:
        yield cls
        for sub in cls.__subclasses__():
            yield from subclasses(sub)

    return {cls.__name__: cls.exit_code for cls in subclasses(SigmaformError)}


def test_troubleshooting_exit_codes_match_the_errors_raised() -> None:
    """Each message in a table with an exit column: the error class raised where the code
    builds it (within a few lines above) has that exit code."""
    page = (DOCS / "troubleshooting.md").read_text(encoding="utf-8")
    codes = error_exit_codes()
    sources = [p.read_text(encoding="utf-8") for p in (ROOT / "sigmaform").rglob("*.py")]
    lines = [line.replace("`", "") for text in sources for line in text.splitlines()]
    raised = re.compile(r"\b(" + "|".join(codes) + r")\(")
    checked = 0
    for row in page.splitlines():
        cells = re.split(r"(?<!\\)\|", row)
        if len(cells) < 5 or not cells[2].strip().isdigit():
            continue
        for span in re.finditer(r"(`+) ?(.+?) ?\1(?!`)", cells[1]):
            phrases = [
                f.strip(" .,:;()'\"")
                for f in PLACEHOLDER.split(span.group(2).replace("`", ""))
                if len(f.split()) >= 3
            ]
            if not phrases:
                continue
            longest = max(phrases, key=len)[:40]
            for at, line in enumerate(lines):
                if longest in line:
                    near = raised.findall("\n".join(lines[max(0, at - 8) : at + 1]))
                    if near:
                        assert codes[near[-1]] == int(cells[2]), (span.group(2), near[-1])
                        checked += 1
    assert checked >= 20
