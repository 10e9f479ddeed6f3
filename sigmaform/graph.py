"""The routing as a graph: phone numbers -> agents -> transfer numbers, chats -> agents.

Built from rendered resources (`sigmaform graph`) or from a plan (the markdown plan's
picture of what it touches); written as mermaid (GitHub and GitLab render it in
markdown) or Graphviz dot. Node ids are generated identifiers, never the user's text,
and every label is escaped for its language: a name cannot break out of the diagram.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from sigmaform.kinds import KINDS
from sigmaform.plan import Action, Plan
from sigmaform.resource import Resource

TRANSFER_TOOL = "voice_transfer_call"
AGENT, PHONE, CHAT, TRANSFER = "agent", "phone", "chat", "tel"


@dataclass(frozen=True)
class Node:
    key: str  # the resource address, or `tel:+1...` for a transfer number
    kind: str  # agent | phone | chat | tel
    label: str


@dataclass(frozen=True)
class Edge:
    source: str  # Node.key
    target: str
    label: str  # inbound | outbound | transfer | chat | routes to


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    highlighted: frozenset[str] = frozenset()  # keys drawn as changed (the markdown plan)


_KIND_OF = {"Agent": AGENT, "PhoneNumber": PHONE, "Chat": CHAT}
_REFERENCE_LABEL = {"inboundAgent": "inbound", "outboundAgent": "outbound", "agent": "chat"}


def _resource_label(resource: Resource, ids: Mapping[str, str]) -> str:
    spec = resource.spec
    if resource.kind == "Agent":
        text = f"{resource.name}: {spec['agentName']}" if spec.get("agentName") else resource.name
    elif resource.kind == "PhoneNumber" and isinstance(spec.get("phoneNumber"), str):
        text = f"{resource.name}: {spec['phoneNumber']}"
    else:
        text = resource.name
    shown_id = ids.get(resource.address)
    # A phone number's id is its number, already shown.
    if shown_id and resource.kind != "PhoneNumber":
        text += f" ({shown_id})"
    return text


def transfer_numbers(spec: Mapping[str, object]) -> list[str]:
    """The `transferTo` of each voice_transfer_call tool, in order, once each."""
    found: list[str] = []
    tools = spec.get("tools")
    for tool in tools if isinstance(tools, list) else []:
        if isinstance(tool, dict) and tool.get("type") == TRANSFER_TOOL:
            number = tool.get("transferTo")
            if isinstance(number, str) and number not in found:
                found.append(number)
    return found


def routing_graph(resources: Sequence[Resource], ids: Mapping[str, str] | None = None) -> Graph:
    """Every resource a node; references and transfer tools the edges, sorted."""
    ids = ids or {}
    nodes: dict[str, Node] = {}
    edges: set[Edge] = set()
    # Only what routes calls and chats: a test case is no part of the routing.
    resources = [r for r in resources if r.kind in _KIND_OF]
    for resource in resources:
        nodes[resource.address] = Node(
            resource.address, _KIND_OF.get(resource.kind, AGENT), _resource_label(resource, ids)
        )
    for resource in resources:
        for spec_field, (target_kind, _) in resource.kind_info.references.items():
            name = resource.spec.get(spec_field)
            if not isinstance(name, str):
                continue
            target = f"{KINDS[target_kind].prefix}.{name}"
            if target not in nodes:  # not declared in this environment: still drawn
                nodes[target] = Node(target, AGENT, name)
            edges.add(Edge(resource.address, target, _REFERENCE_LABEL.get(spec_field, spec_field)))
        for number in transfer_numbers(resource.spec):
            key = f"tel:{number}"
            nodes.setdefault(key, Node(key, TRANSFER, number))
            edges.add(Edge(resource.address, key, "transfer"))
    return Graph(tuple(sorted(nodes.values(), key=_order)), tuple(sorted(edges, key=_edge_order)))


def plan_graph(plan: Plan) -> Graph:
    """The routing edges at the resources a plan touches (changes or drift): those
    resources and their direct neighbours; a touched resource nothing routes to is left
    out, as the plan's table already lists it."""
    by_address = {rp.address: rp for rp in plan.resources}
    touched = {rp.address for rp in plan.resources if rp.action is not Action.NOOP or rp.drift}
    edges = {
        Edge(rp.address, dep, "routes to" if rp.kind == "PhoneNumber" else "chat")
        for rp in plan.resources
        if rp.kind in _KIND_OF
        for dep in rp.depends_on
    }
    shown = {e for e in edges if e.source in touched or e.target in touched}
    keys = {e.source for e in shown} | {e.target for e in shown}
    nodes = []
    for key in keys:
        rp = by_address.get(key)
        kind = _KIND_OF.get(rp.kind, AGENT) if rp is not None else AGENT
        nodes.append(Node(key, kind, key))
    return Graph(
        tuple(sorted(nodes, key=_order)),
        tuple(sorted(shown, key=_edge_order)),
        frozenset(touched & keys),
    )


def _order(node: Node) -> tuple[int, str]:
    return ([PHONE, CHAT, AGENT, TRANSFER].index(node.kind), node.key)


def _edge_order(edge: Edge) -> tuple[str, str, str]:
    return (edge.source, edge.target, edge.label)


def node_ids(nodes: Iterable[Node]) -> dict[str, str]:
    """Each key -> an identifier of ASCII letters, digits and `_`, unique, kind first.

    The kind prefix keeps ids clear of both languages' keywords (`end`, `graph`,
    `subgraph`) and of mermaid's `o`/`x` edge endings.
    """
    out: dict[str, str] = {}
    used: set[str] = set()
    for node in nodes:
        _, _, rest = node.key.partition(":" if node.kind == TRANSFER else ".")
        base = f"{node.kind}_" + re.sub(r"[^A-Za-z0-9]", "_", rest or node.key)
        ident, n = base, 1
        while ident in used:
            n += 1
            ident = f"{base}_{n}"
        used.add(ident)
        out[node.key] = ident
    return out


_MERMAID_SAFE = re.compile(r"[A-Za-z0-9 .,:+_\-/@]")


def mermaid_text(text: str) -> str:
    """A label for inside mermaid's quotes: everything but plain characters as `#N;`."""
    return "".join(c if _MERMAID_SAFE.fullmatch(c) else f"#{ord(c)};" for c in text)


_MERMAID_SHAPE = {
    PHONE: ('(["', '"])'),
    CHAT: ('[("', '")]'),
    AGENT: ('["', '"]'),
    TRANSFER: ('{{"', '"}}'),
}


def to_mermaid(graph: Graph, direction: str = "LR") -> str:
    ids = node_ids(graph.nodes)
    lines = [f"flowchart {direction}"]
    for node in graph.nodes:
        left, right = _MERMAID_SHAPE[node.kind]
        lines.append(f"  {ids[node.key]}{left}{mermaid_text(node.label)}{right}")
    for edge in graph.edges:
        lines.append(f'  {ids[edge.source]} -->|"{mermaid_text(edge.label)}"| {ids[edge.target]}')
    highlighted = [ids[n.key] for n in graph.nodes if n.key in graph.highlighted]
    if highlighted:
        lines.append("  classDef changed stroke-width:3px,stroke-dasharray:4 2")
        lines.append(f"  class {','.join(highlighted)} changed")
    return "\n".join(lines) + "\n"


def dot_text(text: str) -> str:
    """A label for inside dot's double quotes."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", escaped)


_DOT_SHAPE = {PHONE: "cds", CHAT: "note", AGENT: "box", TRANSFER: "hexagon"}


def to_dot(graph: Graph) -> str:
    ids = node_ids(graph.nodes)
    lines = ["digraph sigmaform {", "  rankdir=LR;"]
    for node in graph.nodes:
        style = ", penwidth=3" if node.key in graph.highlighted else ""
        lines.append(
            f'  {ids[node.key]} [shape={_DOT_SHAPE[node.kind]}, label="{dot_text(node.label)}"'
            f"{style}];"
        )
    for edge in graph.edges:
        lines.append(
            f'  {ids[edge.source]} -> {ids[edge.target]} [label="{dot_text(edge.label)}"];'
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def only_reaching(graph: Graph, keys: Collection[str]) -> Graph:
    """`keys` and their direct neighbours (for `graph --target`)."""
    edges = tuple(e for e in graph.edges if e.source in keys or e.target in keys)
    kept = set(keys) | {e.source for e in edges} | {e.target for e in edges}
    return Graph(tuple(n for n in graph.nodes if n.key in kept), edges, graph.highlighted)
