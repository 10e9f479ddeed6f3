"""`sigmaform graph`: the routing as mermaid and dot, safe ids, escaped labels."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import Project

from sigmaform.graph import Edge, Graph, Node, dot_text, mermaid_text, to_dot, to_mermaid

IDENT = r"[A-Za-z][A-Za-z0-9_]*"
LABEL = r'[^"\n\r`]*'  # inside quotes: no quote, line break or backtick left raw
MERMAID_LINE = re.compile(
    rf"^(flowchart LR"
    rf'|  {IDENT}(\(\["{LABEL}"\]\)|\["{LABEL}"\]|\[\("{LABEL}"\)\]|\{{\{{"{LABEL}"\}}\}})'
    rf'|  {IDENT} -->\|"{LABEL}"\| {IDENT}'
    rf"|  classDef changed stroke-width:3px,stroke-dasharray:4 2"
    rf"|  class {IDENT}(,{IDENT})* changed)$"
)
DOT_LINE = re.compile(
    rf"^(digraph sigmaform \{{|  rankdir=LR;|\}}"
    rf'|  {IDENT} \[shape=\w+, label="(\\.|[^"\\\n])*"(, penwidth=3)?\];'
    rf'|  {IDENT} -> {IDENT} \[label="(\\.|[^"\\\n])*"\];)$'
)


def assert_mermaid_syntax(text: str) -> None:
    lines = text.splitlines()
    bad = [line for line in lines if not MERMAID_LINE.match(line)]
    assert not bad, bad


def test_graph_of_the_examples_names_each_routing_edge(example: Project) -> None:
    result = example.run("graph", env="staging")
    assert result.exit_code == 0, result.output
    assert_mermaid_syntax(result.stdout)
    assert '  phone_main_line -->|"inbound"| agent_support' in result.stdout
    assert '  agent_support -->|"transfer"| tel__14155550100' in result.stdout
    assert 'phone_main_line(["main-line: +14155550124"])' in result.stdout  # staging's number
    assert 'agent_receptionist["receptionist: Acme Receptionist #40;staging#41;"]' in (
        result.stdout
    )
    assert not example.journal()


def test_dot_names_the_same_edges(example: Project) -> None:
    result = example.run("graph", "--format", "dot", env="prod")
    assert result.exit_code == 0, result.output
    assert all(DOT_LINE.match(line) for line in result.stdout.splitlines()), result.stdout
    assert '  phone_main_line -> agent_support [label="inbound"];' in result.stdout
    assert '  agent_support -> tel__14155550100 [label="transfer"];' in result.stdout


def test_ids_from_local_state_and_chats(example: Project) -> None:
    assert example.run("apply", "--auto-approve").exit_code == 0
    with example.api() as api:
        agent = api.post("/v1/agents", json={"agentName": "Helper"}).json()
        chat = api.post("/v1/chats", json={"agentId": agent["agentId"], "input": "Hi"}).json()
    (example.root / "agents" / "chat.yaml").write_text(
        f"kind: Chat\nname: web\nspec:\n  chatId: {chat['chatId']}\n  agent: receptionist\n"
    )
    result = example.run("graph")
    assert result.exit_code == 0, result.output
    assert_mermaid_syntax(result.stdout)
    assert '  chat_web -->|"chat"| agent_receptionist' in result.stdout
    support_id = example.state()["resources"]["agent.support"]["id"]
    assert f"Acme Support #40;local#41; #40;{support_id}#41;" in result.stdout


def test_target_keeps_its_neighbours_only(example: Project) -> None:
    result = example.run("graph", "--target", "Agent.support", env="prod")
    assert result.exit_code == 0, result.output
    assert "phone_main_line" in result.stdout and "tel__14155550100" in result.stdout
    assert "agent_receptionist" not in result.stdout
    refused = example.run("graph", "--target", "agent.nobody", env="prod")
    assert refused.exit_code == 1
    assert "--target agent.nobody: no such resource" in refused.output


HOSTILE = 'Bob "the bot"] --> x[(end)]\n#quot; `code` <b>&amp;'
HOSTILE_GRAPH = Graph(
    nodes=(
        Node("phone-number.end", "phone", HOSTILE),
        Node("agent.a-b", "agent", HOSTILE),
        Node("agent.a_b", "agent", "twin"),  # would collide with agent.a-b as a_b
        Node("tel:+1 (415) 555", "tel", "+1 (415) 555"),
    ),
    edges=(
        Edge("phone-number.end", "agent.a-b", 'in"bound'),
        Edge("agent.a-b", "tel:+1 (415) 555", "transfer"),
    ),
    highlighted=frozenset({"agent.a-b"}),
)


def test_hostile_labels_stay_inside_their_quotes() -> None:
    text = to_mermaid(HOSTILE_GRAPH)
    assert_mermaid_syntax(text)
    assert mermaid_text('"[]') == "#34;#91;#93;"
    assert "agent_a_b[" in text and "agent_a_b_2[" in text  # unique ids
    assert "phone_end(" in text  # `end` alone would close a mermaid block
    dot = to_dot(HOSTILE_GRAPH)
    assert all(DOT_LINE.match(line) for line in dot.splitlines()), dot
    assert dot_text('a"b\\c\nd') == 'a\\"b\\\\c\\x0ad'


def _mermaid_modules() -> Path | None:
    given = os.environ.get("MERMAID_MODULES")
    if given and (Path(given) / "mermaid").is_dir() and shutil.which("node"):
        return Path(given)
    return None


@pytest.mark.skipif(
    _mermaid_modules() is None,
    reason="set MERMAID_MODULES to a node_modules with mermaid and jsdom (docs/cli.md)",
)
def test_mermaid_itself_parses_what_we_emit(example: Project, tmp_path: Path) -> None:
    files = []
    for env in ("staging", "prod"):
        out = tmp_path / f"{env}.mmd"
        out.write_text(example.run("graph", env=env).stdout)
        files.append(out)
    hostile = tmp_path / "hostile.mmd"
    hostile.write_text(to_mermaid(HOSTILE_GRAPH))
    golden = Path(__file__).parent / "golden" / "plan.md"
    block = golden.read_text().split("```mermaid\n", 1)[1].split("```", 1)[0]
    (tmp_path / "plan.mmd").write_text(block)
    files += [hostile, tmp_path / "plan.mmd"]
    script = Path(__file__).parent.parent / "scripts" / "check-mermaid.mjs"
    result = subprocess.run(
        ["node", str(script), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MERMAID_MODULES": str(_mermaid_modules())},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": ok (flowchart") == len(files)
