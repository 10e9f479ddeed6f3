"""Generate docs/reference.md, the YAML and output-format reference, from schemas/*.schema.json.

    python scripts/gen_reference.py           # rewrite docs/reference.md
    python scripts/gen_reference.py --check   # exit 1 when docs/reference.md is stale

The schemas are the single source: a field documented here is a field the validator knows.
tests/test_docs.py fails when the committed page differs from what this script renders.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas"
OUTPUT = ROOT / "docs" / "reference.md"

# (schema, the heading it gets, where it is used): files first, then what commands print.
FILES = (
    ("project", "`sigmaform.yaml`", "The project file."),
    ("agent", "`kind: Agent`", "A resource file (e.g. `agents/support.yaml`)."),
    ("phone-number", "`kind: PhoneNumber`", "A resource file (e.g. `numbers/main-line.yaml`)."),
    ("chat", "`kind: Chat`", "A resource file."),
    ("test-case", "`kind: TestCase`", "A resource file (e.g. `agents/tests/refund.yaml`)."),
)
OUTPUTS = (
    ("plan", "`plan --format json`", "Also what `plan --out FILE` saves and `apply FILE` reads."),
    ("drift", "`drift --format json`", ""),
    ("pull", "`pull --format json`", ""),
    ("validate", "`validate --format json`", ""),
    ("doctor", "`doctor --format json`", "The findings go to `.sigmaform/api-profile/ENV.json`."),
    ("state-list", "`state list --format json`", ""),
    ("apply-event", "`apply --format json`", "One object per line."),
    ("test-report", "`test --format json`", "Exit 0: passed; 3: the gate failed; 1: error."),
    ("state", "State file", "`.sigmaform/state/ENV.json` (local backend)."),
)


@dataclass(frozen=True)
class Row:
    path: str
    type: str
    required: bool
    text: str


class Walker:
    """Flattens one schema into rows; a shared definition is expanded once, then referred to."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.expanded: dict[str, str] = {}

    def resolve(self, node: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The node with its `$ref` merged in (local keys win), and the definition's name."""
        ref = node.get("$ref")
        if not isinstance(ref, str):
            return node, None
        name = ref.rsplit("/", 1)[-1]
        target = self.schema["$defs"][name]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return merged, name

    def rows(self, node: dict[str, Any], path: str, required: bool) -> Iterator[Row]:
        node, ref = self.resolve(node)
        big = ref is not None and _has_fields(node)
        if big and ref in self.expanded:
            text = _describe(node) + f" Same fields as `{self.expanded[ref]}`."
            yield Row(path, _type(node, self), required, text.strip())
            return
        if big and ref is not None:
            self.expanded[ref] = path
        if path:
            yield Row(path, _type(node, self), required, _describe(node))
        yield from self.children(node, path)

    def children(self, node: dict[str, Any], path: str) -> Iterator[Row]:
        needed = set(node.get("required", ()))
        for name, child in node.get("properties", {}).items():
            yield from self.rows(child, f"{path}.{name}" if path else name, name in needed)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            key = "<env>" if "environmentName" in json.dumps(node.get("propertyNames", {})) else "*"
            yield from self.rows(extra, f"{path}.{key}" if path else key, False)
        items = node.get("items")
        if isinstance(items, dict):
            resolved, _ = self.resolve(items)
            if _has_fields(resolved):
                yield from self.rows(items, f"{path}[]", False)


def _has_fields(node: dict[str, Any]) -> bool:
    extra = node.get("additionalProperties")
    return bool(node.get("properties")) or (isinstance(extra, dict) and bool(extra))


def _type(node: dict[str, Any], walker: Walker) -> str:
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "enum" in node:
        return "one of " + ", ".join(f"`{json.dumps(v)}`" for v in node["enum"])
    for key in ("anyOf", "oneOf"):
        if key in node:
            return " or ".join(_type(walker.resolve(option)[0], walker) for option in node[key])
    kind = node.get("type")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array":
        items = node.get("items")
        if isinstance(items, dict):
            inner, _ = walker.resolve(items)
            return "list of " + ("objects" if _has_fields(inner) else _type(inner, walker))
        return "list"
    if kind == "object" and not _has_fields(node):
        return "map"
    return str(kind) if kind else "any"


def _describe(node: dict[str, Any]) -> str:
    parts = [str(node.get("description", "")).strip()]
    limits = []
    for key, word in (("minimum", "min"), ("maximum", "max")):
        if key in node:
            limits.append(f"{word} {node[key]}")
    for key, word in (("minLength", "min length"), ("maxLength", "max length")):
        if key in node:
            limits.append(f"{word} {node[key]}")
    if "minItems" in node:
        limits.append(f"at least {node['minItems']} item(s)")
    if node.get("uniqueItems"):
        limits.append("no duplicates")
    if "pattern" in node:
        limits.append(f"pattern `{node['pattern']}`")
    if "default" in node:
        limits.append(f"default `{json.dumps(node['default'])}`")
    if "examples" in node:
        limits.append("e.g. " + ", ".join(f"`{json.dumps(v)}`" for v in node["examples"]))
    conditional = _conditional_requirements(node)
    if conditional:
        limits.append(conditional)
    if limits:
        parts.append("(" + "; ".join(limits) + ")")
    return " ".join(p for p in parts if p)


def _conditional_requirements(node: dict[str, Any]) -> str:
    """`if type is X then required Y` rules, in words."""
    found = []
    for rule in node.get("allOf", []):
        when = rule.get("if", {}).get("properties", {})
        then = rule.get("then", {}).get("required", [])
        if len(when) == 1 and "const" in next(iter(when.values())) and then:
            field, test = next(iter(when.items()))
            names = ", ".join(f"`{n}`" for n in then)
            found.append(f"{names} required when `{field}` is `{json.dumps(test['const'])}`")
    return "; ".join(found)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_schema(name: str, heading: str, note: str) -> str:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text(encoding="utf-8"))
    lines = [f"## {heading}", ""]
    lines.append(f"{schema.get('description', '').strip()} {note}".strip())
    lines += ["", f"Schema: [`schemas/{name}.schema.json`](../schemas/{name}.schema.json)", ""]
    lines += ["| field | type | required | description |", "|---|---|---|---|"]
    for row in Walker(schema).rows(schema, "", True):
        lines.append(
            f"| `{_cell(row.path)}` | {_cell(row.type)} | {'yes' if row.required else ''} "
            f"| {_cell(row.text)} |"
        )
    return "\n".join(lines) + "\n"


def render_reference() -> str:
    """The whole page, deterministic for the same schemas."""
    head = [
        "# Reference",
        "",
        "<!-- Generated by scripts/gen_reference.py from schemas/*.schema.json; do not edit. -->",
        "",
        "Every field of the YAML files sigmaform reads, and of the JSON it prints, from the",
        "JSON Schemas it ships (`sigmaform schema KIND` prints one). A path like",
        "`spec.agentSettings.webhooks[].url` names a field inside a list's items; `<env>` stands",
        "for an environment's name. Values may use `${var.X}`, `${env.X}`, `${secret.X}`,",
        "`${environment}` and `!file PATH` (see [concepts](concepts.md)); the schema checks the",
        "rendered value.",
        "",
        "Files: " + ", ".join(f"[{h}](#{_anchor(h)})" for _, h, _ in FILES) + ".",
        "Outputs: " + ", ".join(f"[{h}](#{_anchor(h)})" for _, h, _ in OUTPUTS) + ".",
        "",
    ]
    sections = [render_schema(*entry) for entry in FILES + OUTPUTS]
    return "\n".join(head) + "\n" + "\n".join(sections)


def _anchor(heading: str) -> str:
    """GitHub's heading anchor: lowercase, punctuation dropped, spaces to dashes."""
    kept = "".join(c for c in heading.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def main(argv: list[str]) -> int:
    text = render_reference()
    if argv[1:] == ["--check"]:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT.relative_to(ROOT)} is stale: run python scripts/gen_reference.py")
            return 1
        return 0
    if argv[1:]:
        print(__doc__)
        return 2
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
