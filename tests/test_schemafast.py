"""schemafast never calls an instance valid that jsonschema rejects, and takes the fast path
for ordinary valid agents."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from benchmarks.generate import agent_document
from sigmaform.operations import open_project
from sigmaform.schemacheck import load_schema
from sigmaform.schemafast import certainly_valid
from sigmaform.sensitive import Sensitive

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCHEMAS = ("agent.schema.json", "phone-number.schema.json", "chat.schema.json")
ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    1.5,
    2.0,
    -0.5,
    3,
    "",
    "x",
    "static",
    "voice_transfer_call",
    "+14155550100",
    "gpt-4o",
    "http://x",
    "conversation_ended",
    [],
    ["conversation_ended", "conversation_ended"],
    {},
    {"type": "voice_end_call"},
    {"type": "voice_transfer_call"},
    Sensitive("s", "secret.X"),
    Sensitive("", "secret.Y"),
    "x" * 200,
]


def _jsonschema_valid(instance: Any, schema: str) -> bool:
    def reveal(value: Any) -> Any:
        if isinstance(value, Sensitive):
            return value.reveal() or "(sensitive)"
        if isinstance(value, dict):
            return {k: reveal(v) for k, v in value.items()}
        if isinstance(value, list):
            return [reveal(v) for v in value]
        return value

    return bool(Draft202012Validator(load_schema(schema)).is_valid(reveal(instance)))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _mutate(instance: Any, rng: random.Random) -> Any:
    out = _copy(instance)
    path = rng.choice(_paths(out)[1:])
    parent = out
    for part in path[:-1]:
        parent = parent[part]
    choice = rng.random()
    if choice < 0.6:
        parent[path[-1]] = _copy(rng.choice(ODD_VALUES))
    elif choice < 0.8 and isinstance(parent, dict):
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[rng.choice(["extra", "transferTo", "webhookId", "llmModel"])] = rng.choice(
            ODD_VALUES[:12]
        )
    return out


def _rendered(value: Any) -> Any:
    """A generated document as rendering would leave it: URLs filled in, secrets wrapped."""
    if isinstance(value, dict):
        return {k: _rendered(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rendered(v) for v in value]
    if isinstance(value, str) and value.startswith("${secret."):
        return Sensitive("s3cret", value[2:-1])
    if isinstance(value, str):
        return value.replace("${var.webhook_base}", "https://hooks.example")
    return value


def _instances() -> list[tuple[Any, str]]:
    rng = random.Random(5)
    found: list[tuple[Any, str]] = []
    project = open_project(EXAMPLES, "local")
    for r in project.resources:
        found.append(({"kind": r.kind, "name": r.name, "spec": r.spec}, r.kind_info.schema))
    for i in range(40):
        doc = agent_document(rng, i)
        doc.pop("environments", None)
        doc["spec"]["instructions"] = "prompt text"
        found.append((_rendered(doc), "agent.schema.json"))
    return found


def test_ordinary_valid_resources_take_the_fast_path() -> None:
    for instance, schema in _instances():
        assert _jsonschema_valid(instance, schema)
        assert certainly_valid(instance, schema), instance.get("name")


@pytest.mark.parametrize("seed", range(4))
def test_never_more_permissive_than_jsonschema(seed: int) -> None:
    rng = random.Random(seed)
    base = _instances()
    accepted = rejected = 0
    for _ in range(1500):
        instance, schema = rng.choice(base)
        for _ in range(rng.randint(1, 3)):
            instance = _mutate(instance, rng)
        if certainly_valid(instance, schema):
            accepted += 1
            assert _jsonschema_valid(instance, schema), instance
        else:
            rejected += 1
    assert accepted and rejected  # both outcomes were exercised


def test_every_bundled_resource_schema_compiles() -> None:
    # A schema the compiler cannot read would silently always fall back (slow, not wrong).
    for schema in SCHEMAS:
        assert not certainly_valid({}, schema)  # `kind`, `name`, `spec` are required
    assert certainly_valid({"kind": "Agent", "name": "a", "spec": {"agentName": "A"}}, SCHEMAS[0])


def test_every_bundled_schema_compiles_so_valid_files_skip_jsonschema() -> None:
    from sigmaform.schemafast import _compiled, _never

    for name in ("agent", "phone-number", "chat", "project"):
        assert _compiled(f"{name}.schema.json") is not _never, name
    project = {"version": 1, "resources": ["a/*.yaml"], "environments": {"dev": {}}}
    assert certainly_valid(project, "project.schema.json")
    for version in (2, True, "1", 1.5):
        assert not certainly_valid({**project, "version": version}, "project.schema.json")
