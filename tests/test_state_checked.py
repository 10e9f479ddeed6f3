"""State is untrusted input: a damaged state is a clean error naming the file and the
problem, before any request (local file, PostgreSQL, and `state push`/`pull` inputs)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import Project
from pg import Cluster

from sigmaform.state import LocalBackend

STATE = ".sigmaform/state/local.json"
Doc = dict[str, Any]


@pytest.fixture
def applied(example: Project) -> Project:
    result = example.run("apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    return example


def _support(doc: Doc) -> Doc:
    return dict(doc["resources"]["agent.support"])


def _rename(old: str, new: str) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        doc["resources"][new] = doc["resources"].pop(old)

    return change


def _moved_keeping_kind(old: str, new: str, kind: str) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        doc["resources"][new] = {**doc["resources"].pop(old), "kind": kind}

    return change


def _set(field: str, value: Any) -> Callable[[Doc], None]:
    return lambda doc: doc["resources"]["agent.support"].__setitem__(field, value)


def _top(field: str, value: Any) -> Callable[[Doc], None]:
    return lambda doc: doc.__setitem__(field, value)


def _second_address_same_id(doc: Doc) -> None:
    doc["resources"]["agent.support-copy"] = {**_support(doc), "protect": False}


def _deep_applied(doc: Doc) -> None:
    nested: Any = "x"
    for _ in range(500):  # json parses it; every later step would recurse through it
        nested = [nested]
    doc["resources"]["agent.support"]["applied"]["agentName"] = nested


# name -> (change to the state document, expected text)
CASES: dict[str, tuple[Callable[[Doc], None], str]] = {
    "unknown kind": (_set("kind", "Robot"), "resources.agent.support.kind"),
    "address without a dot": (_rename("agent.support", "agentsupport"), "agentsupport"),
    "unknown address prefix": (_rename("agent.support", "robot.support"), "not an address"),
    # From version 3 the address alone says the kind; a record that still names one
    # (versions 1 and 2, or an edit) must agree with it.
    "address of another kind": (
        _moved_keeping_kind("agent.support", "chat.support", "Agent"),
        "`chat.support` is a Chat address, but its kind is Agent",
    ),
    "name not matching the pattern": (_rename("agent.support", "agent.Support"), "Support"),
    # The schema's address pattern refuses it (ECMA-262 `$`: a trailing newline does not match)
    "name with a newline": (
        _rename("agent.support", "agent.support\n"),
        "does not match the pattern",
    ),
    "null id": (_set("id", None), "resources.agent.support.id: damaged state: expected string"),
    "empty id": (_set("id", ""), "resources.agent.support.id: damaged state: must not be empty"),
    "numeric id": (_set("id", 42), "expected string, got integer"),
    "id with a lone surrogate": (_set("id", "ag\udc80"), "id is not valid Unicode text"),
    "one id under two addresses": (_second_address_same_id, "is also held by `agent.support`"),
    "applied is a list": (_set("applied", []), "applied: damaged state: expected object"),
    "nestedIds of the wrong shape": (_set("nestedIds", {"webhooks": ["x"]}), "nestedIds"),
    "serial as text": (_top("serial", "7"), "serial: damaged state: expected integer"),
    "negative serial": (_top("serial", -1), "serial: damaged state"),
    "null lineage": (_top("lineage", None), "lineage: damaged state: expected string"),
    "resources is a list": (_top("resources", []), "resources: damaged state: expected object"),
    "unknown top-level field": (_top("extra", 1), "unknown field `extra`"),
    "deep nesting": (_deep_applied, "nested deeper than 110 levels"),
}
# name -> (change to the file's text, expected text)
TEXT_CASES: dict[str, tuple[Callable[[str], str], str]] = {
    "100,000 brackets": (lambda text: "[" * 100_000 + "]" * 100_000, "nested deeper than"),
    "NUL characters": (lambda text: "\x00" * 100, "invalid JSON"),
    "NaN": (lambda text: text.replace('"serial":', '"serial": NaN, "x":', 1), "invalid JSON"),
    "5,000-digit serial": (
        lambda text: text.replace('"serial":', '"serial": ' + "9" * 5000 + ', "x":', 1),
        "invalid JSON",
    ),
    "not an object": (lambda text: "[]", "not a sigmaform state file"),
    "truncated": (lambda text: text[: len(text) // 2], "invalid JSON"),
}


def _damage(path: Path, case: str) -> str:
    """Apply case `case` to the state file; the text the output must show."""
    if case in TEXT_CASES:
        edit, expected = TEXT_CASES[case]
        path.write_text(edit(path.read_text()))
        return expected
    change, expected = CASES[case]
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc, indent=2))
    return expected


@pytest.mark.parametrize("case", sorted([*CASES, *TEXT_CASES]))
def test_damaged_state_is_refused_before_any_request(applied: Project, case: str) -> None:
    expected = _damage(applied.root / STATE, case)
    before = len(applied.journal())
    for command in (("plan",), ("apply", "--auto-approve", "--allow-delete"), ("state", "list")):
        result = applied.run(*command)
        assert result.exit_code == 1, (command, result.output)
        assert result.output.startswith(f"Error: {STATE}"), result.output
        assert expected in result.output, result.output
        assert "Traceback" not in result.output
    assert applied.journal()[before:] == []  # not even a GET
    assert len(applied.agents()) == 3


def test_binary_state_file_is_not_utf8(applied: Project) -> None:
    (applied.root / STATE).write_bytes(bytes((i * 167 + 13) % 256 for i in range(4096)))
    result = applied.run("plan")
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {STATE}:1:")
    assert "not UTF-8 text" in result.output


def test_state_that_is_not_a_regular_file_is_refused(applied: Project) -> None:
    path = applied.root / STATE
    path.unlink()
    os.mkfifo(path)  # reading it would wait for a writer forever
    result = applied.run("plan")
    assert result.exit_code == 1
    assert f"Error: {STATE}: not a regular file" in result.output


# -- PostgreSQL ---------------------------------------------------------------------------

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (the postgres extra)")
URL_VAR = "SIGMAFORM_STATE_URL"


@pytest.fixture(scope="module")
def database(cluster: Cluster) -> str:
    """This module's database in the session's cluster (tests/shared_state.py)."""
    return cluster.create_database("checked")


@dataclass
class Shared:
    """This test's state row in the shared database (its own `project` key)."""

    url: str
    key: str

    @property
    def describe(self) -> str:
        return f"postgres:checked/{self.key}/local"

    def use(self, project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(URL_VAR, self.url)
        project.edit(
            "sigmaform.yaml",
            'state: {backend: local, path: ".sigmaform/state/{environment}.json"}',
            'state: {backend: postgres, url: "${env.' + URL_VAR + '}", schema: checked, '
            f"project: {self.key}}}",
        )

    def document(self) -> Any:
        with psycopg.connect(self.url) as conn:
            row = conn.execute(
                "SELECT document FROM checked.states WHERE project = %s", [self.key]
            ).fetchone()
        assert row is not None
        return row[0]

    def store(self, doc: Doc) -> None:
        with psycopg.connect(self.url) as conn:
            conn.execute(
                "UPDATE checked.states SET document = %s WHERE project = %s",
                [json.dumps(doc), self.key],
            )


@pytest.fixture
def shared(database: str, request: pytest.FixtureRequest) -> Shared:
    return Shared(database, re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-"))


@pytest.mark.parametrize(
    "case", ["null id", "one id under two addresses", "address of another kind", "deep nesting"]
)
def test_damaged_state_in_postgres_is_refused_before_any_request(
    applied: Project, shared: Shared, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    local = applied.root / STATE
    shared.use(applied, monkeypatch)
    pushed = applied.run("state", "push")
    assert pushed.exit_code == 0, pushed.output
    doc = json.loads(local.read_text())
    change, expected = CASES[case]
    change(doc)
    shared.store(doc)
    kept = local.read_text()
    before = len(applied.journal())
    for command in (("plan",), ("apply", "--auto-approve", "--allow-delete"), ("state", "pull")):
        result = applied.run(*command)
        assert result.exit_code == 1, (command, result.output)
        assert result.output.startswith(f"Error: {shared.describe}"), result.output
        assert expected in result.output
    assert applied.journal()[before:] == []
    assert local.read_text() == kept  # pull wrote nothing
    assert LocalBackend(local).read() is not None


def test_state_push_refuses_a_damaged_local_state(
    applied: Project, shared: Shared, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared.use(applied, monkeypatch)
    assert applied.run("state", "push").exit_code == 0
    stored = shared.document()
    _damage(applied.root / STATE, "one id under two addresses")
    result = applied.run("state", "push", "--force")
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {STATE}") and "is also held by" in result.output
    assert shared.document() == stored


# -- state mv -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("destination", "expected"),
    [
        ("agent.Support", "the name `Support` must be lowercase letters, digits and `-`"),
        ("agent.support bot", "the name `support bot` must be lowercase"),
        ("agent.support\nx", "must be lowercase"),
        ("agent.-support", "must be lowercase"),
        ("agent." + "a" * 64, "at most 63 characters"),
        ("agent.", "is not an address"),
        ("robot.support", "`robot.support` is not an address"),
        ("Agent.Support", "the name `Support` must be lowercase"),
        ("support", "is not an address"),
        ("chat.support", "state mv cannot change a resource's kind"),
    ],
)
def test_state_mv_destination_must_be_a_valid_address(
    applied: Project, destination: str, expected: str
) -> None:
    before = (applied.root / STATE).read_text()
    result = applied.run("state", "mv", "agent.support", destination)
    assert result.exit_code == 1, result.output
    assert expected in result.output
    assert (applied.root / STATE).read_text() == before
    assert applied.run("plan", "--detailed-exitcode").exit_code == 0
