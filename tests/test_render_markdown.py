"""Markdown plans and drift reports hold any value: backticks cannot end a code span or block.

The reader here applies CommonMark's rules for code spans (a span ends at a backtick run of
exactly the opening length) and fenced blocks (opened by three or more backticks and an info
string without one; closed by a line of at most three spaces and a fence at least as long),
which is what decides where a value could escape.
"""

from __future__ import annotations

import re

import pytest
from conftest import Project

from sigmaform.markdown import code_block, code_span, plain_text, table_code

HOSTILE = "a `b` ``c`` ``` </code><img src=x> [pwn](https://evil.example) | *x*"


def outside_code(markdown: str) -> str:
    """The markdown text with every fenced block and code span removed."""
    kept: list[str] = []
    fence: str | None = None
    for line in markdown.split("\n"):
        if fence is None:
            # A backtick fence's info string holds no backtick (else it is a code span).
            opening = re.fullmatch(r" {0,3}(`{3,})[^`]*", line)
            if opening:
                fence = opening.group(1)
                continue
            kept.append(_without_spans(line))
        elif re.fullmatch(r" {0,3}" + fence + r"`* *", line):
            fence = None
    assert fence is None, "a code block was never closed"
    return "\n".join(kept)


def _without_spans(line: str) -> str:
    out, at = [], 0
    runs = list(re.finditer(r"`+", line))
    index = 0
    while index < len(runs):
        run = runs[index]
        closing = next((r for r in runs[index + 1 :] if len(r.group()) == len(run.group())), None)
        if closing is None:
            index += 1
            continue
        out.append(line[at : run.start()])
        at = closing.end()
        index = runs.index(closing) + 1
    out.append(line[at:])
    return "".join(out)


@pytest.mark.parametrize(
    "value", ["`", "``", "a`b", "`a`", "```", " x ", "a ``` b", HOSTILE, "plain"]
)
def test_code_span_holds_any_value(value: str) -> None:
    span = code_span(value)
    assert outside_code(span) == ""
    fence = re.match(r"`+", span)
    assert fence is not None
    inner = span[len(fence.group()) : -len(fence.group())]
    if inner.startswith(" ") and inner.endswith(" ") and inner.strip(" "):
        inner = inner[1:-1]  # CommonMark strips one padding space from each side
    assert inner == value


def test_code_block_and_table_cells_hold_any_value() -> None:
    lines = ["+x", " ```", "-````", " ```` "]
    block = code_block(lines, "diff")
    assert block[0] == "`````diff" and block[-1] == "`````"
    assert outside_code("\n".join(block)) == ""
    assert "|" not in table_code("a|b").replace("\\|", "")
    assert plain_text("id <b>*x*</b> [l](u) `c` | y") == (
        "id \\<b\\>\\*x\\*\\</b\\> \\[l\\](u) \\`c\\` \\| y"
    )
    assert plain_text("update, id SPIlVscbB0kkXBvZ") == "update, id SPIlVscbB0kkXBvZ"


# One backtick: with naive single-backtick spans it closes the span and the rest is markup.
REMOTE = "a` </code><img src=x> [pwn](https://e.vil) *x*"


def test_remote_values_with_backticks_stay_in_their_code(example: Project) -> None:
    prompt_file = example.root / "agents" / "prompts" / "support.md"
    prompt_file.write_text("```\n" + prompt_file.read_text())
    assert example.run("apply", "--auto-approve").exit_code == 0
    support = next(a for a in example.agents() if a["agentName"] == "Acme Support (local)")
    # Someone edits the agent by hand: a line after the prompt's fence line, so the diff
    # has a context line " ```" (which closes a plain ```diff block).
    remote_prompt = "```\n" + REMOTE + "\n" + prompt_file.read_text()[4:]
    with example.api() as api:
        changed = api.patch(
            f"/v1/agents/{support['agentId']}",
            json={"welcomeMessage": REMOTE, "instructions": remote_prompt},
        )
        assert changed.status_code == 200, changed.text

    plan = example.run("plan", "--format", "markdown")
    assert plan.exit_code == 0, plan.output
    assert "changed outside sigmaform" in plan.output
    assert "welcomeMessage" in plan.output and "instructions" in plan.output
    assert plan.output.count("e.vil") >= 4  # shown (drift and update, cell and diff), as code
    visible = outside_code(plan.output)
    for markup in ("e.vil", "<img", "*x*"):
        assert markup not in visible, markup
    assert "````diff" in plan.output  # the prompt's diff is still a diff block

    drift = example.run("drift", "--format", "markdown")
    assert drift.exit_code == 2, drift.output
    assert drift.output.count("e.vil") >= 2
    assert "e.vil" not in outside_code(drift.output)
    assert "<img" not in outside_code(drift.output)
