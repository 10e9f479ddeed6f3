"""Performance rewrites keep their results: the same digests and plans as the plain forms."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Project
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sigmaform import sensitive
from sigmaform.diff import share_equal
from sigmaform.digest import config_digest, plan_digest, plan_digests
from sigmaform.errors import ConfigError
from sigmaform.files import Document, JsonPath
from sigmaform.operations import client_for, make_plan, open_project, open_project_and_state
from sigmaform.project import load_project
from sigmaform.remote import comparable_desired
from sigmaform.resource import Resource
from sigmaform.sensitive import (
    FINGERPRINT_PREFIX,
    Sensitive,
    fingerprint,
    prefetch_fingerprints,
    short_b64,
)
from sigmaform.spec_text import FileText
from sigmaform.state_blobs import TextRef, digest_of
from sigmaform.yamlload import load_documents

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _one_shot_digest(value: object) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def test_streamed_plan_digest_equals_the_digest_of_the_whole_list() -> None:
    resources = open_project(EXAMPLES, "local").resources
    key = hashlib.sha256(b"lineage").digest()
    whole = sorted([r.address, r.protect, comparable_desired(r.spec, key)] for r in resources)
    assert plan_digest(resources, key) == _one_shot_digest(whole)
    assert plan_digest(resources[:1], key) == _one_shot_digest(whole[:1])
    assert plan_digest((), key) == _one_shot_digest([])


def test_prefetched_fingerprints_are_the_ones_computed_in_turn() -> None:
    # Stretching on other threads changes when scrypt runs, never what it gives.
    key = hashlib.sha256(b"prefetch-lineage").digest()
    values = [f"prefetch-secret-{i}" for i in range(3)]
    # The HMAC's first 128 bits, base64url.
    expected = [
        FINGERPRINT_PREFIX
        + base64.urlsafe_b64encode(
            hmac.new(
                key,
                hashlib.scrypt(
                    v.encode(), salt=key, n=2**14, r=8, p=1, maxmem=64 * 2**20, dklen=32
                ),
                hashlib.sha256,
            ).digest()[:16]
        )
        .rstrip(b"=")
        .decode()
        for v in values
    ]
    prefetch_fingerprints([*values, values[0]], key)
    assert [fingerprint(v, key) for v in values] == expected
    assert [fingerprint(v, key) for v in values] == expected  # from the cache now


def test_a_stretch_no_core_has_started_is_computed_by_whoever_asks_for_it() -> None:
    # Every spare core busy: the thread of a new stretch cannot start, and the caller
    # that needs the fingerprint computes it itself instead of waiting for a core.
    key = b"k" * 32
    value = f"secret-{uuid.uuid4()}"  # stretched by no earlier test
    stretched = hashlib.scrypt(value.encode(), salt=key, n=2**14, r=8, p=1, maxmem=2**26, dklen=32)
    expected = FINGERPRINT_PREFIX + short_b64(hmac.new(key, stretched, "sha256").digest())
    spare = sensitive._spare_cores()
    for _ in range(spare):
        assert sensitive._cores.acquire(timeout=5)
    try:
        sensitive.stretch_soon(value, key)
        assert fingerprint(value, key) == expected
    finally:
        for _ in range(spare):
            sensitive._cores.release()
    assert fingerprint(value, key) == expected  # the thread, given a core, did nothing


def test_one_encoding_gives_both_digests() -> None:
    # plan_digests encodes each spec once, secrets and long texts as markers: the same
    # digests as the plain functions, also for text that looks like a marker or holds
    # quotes and escapes, and for long texts (escaped by replacing, unless they hold a
    # control character other than newline and tab) at and around the length where
    # they start being hashed on their own.
    resources = list(open_project(EXAMPLES, "local").resources)
    tricky = '\\u0000 0\\u0000 "\\u00000\\u0000" \\\\u0000 é \n\t \u2028 ${x}'
    long_texts = [
        tricky,
        tricky * 40,
        "x" * 1023,
        "x" * 1024,
        "\n".join(["# Prompt", 'Say "hi" to {{name}}\t\\ ok'] * 60),
        "a\rb\x01c\x1f\x7f\b\f" * 200,
        "é ü 漢字 \U0001f600 " * 100,
    ]
    resources += [
        Resource(
            kind="Agent",
            name=f"tricky-{i}",
            spec={
                "agentName": tricky,
                "instructions": f"{long_texts[i]} {i}",
                "welcomeMessage": long_texts[-1 - i],
                "agentSettings": {
                    "webhooks": [
                        {"name": tricky, "secret": Sensitive(f"s{i}", source="secret.A")},
                        {"name": "b", "secret": Sensitive("s", source=tricky)},
                    ]
                },
                "list": [tricky, Sensitive("t", source="secret.B"), 1, None, True],
            },
            source="x.yaml",
            line=1,
            protect=bool(i % 2),
        )
        for i in range(len(long_texts))
    ]
    key = hashlib.sha256(b"lineage-2").digest()
    configs, whole = plan_digests(resources, key)
    assert configs == {r.address: config_digest(r) for r in resources}
    assert whole == plan_digest(resources, key)
    assert plan_digests([], key) == ({}, plan_digest([], key))


def test_share_equal_keeps_the_value_and_shares_equal_text() -> None:
    desired = {"instructions": "x" * 50, "agentSettings": {"a": "same", "n": 1, "l": ["t", 2]}}
    echoed = json.loads(json.dumps({**desired, "extra": "e", "agentSettings": {"a": "other"}}))
    shared = share_equal(echoed, desired)
    assert shared == echoed
    assert shared["instructions"] is desired["instructions"]
    assert shared["agentSettings"]["a"] == "other"
    assert share_equal([True, 1], [1, True]) == [True, 1]  # only text is shared
    # A text held by digest (apply's FileText) is shared as itself: equal by digest.
    prompt = "y" * 400
    held = {"instructions": TextRef(digest_of(prompt), None, prompt)}
    answer = json.loads(json.dumps({"instructions": prompt}))
    assert share_equal(answer, held)["instructions"] is held["instructions"]


@pytest.mark.parametrize("lazy", [False, True], ids=["plan", "apply"])
def test_a_refreshed_plan_holds_each_listed_prompt_once(example: Project, lazy: bool) -> None:
    # The listing that refresh and the duplicate check share is read page by page, each
    # agent's texts equal to its file's kept as the file's own objects: plan's text, or
    # apply's FileText (a prompt held by digest).
    assert example.run("apply", "--auto-approve").exit_code == 0
    _, state = open_project_and_state(example.root, "local")
    project = load_project(example.root, "local", lazy_files=lazy)
    with client_for(project, 4) as client:
        listed: list[dict[str, Any]] = []
        original = client.list_agents

        def spy(then: Any = None) -> list[dict[str, Any]]:
            listed.extend(original(then=then))
            return listed

        client.list_agents = spy  # type: ignore[method-assign]
        plan = make_plan(project, state, client)
    assert not plan.has_changes and listed
    specs = {r.spec["agentName"]: r.spec for r in project.resources if r.kind == "Agent"}
    for agent in listed:
        held = specs[agent["agentName"]]["instructions"]
        assert agent["instructions"] is held
        assert isinstance(held, FileText) is lazy


def _load_both(path: Path) -> tuple[list[Document] | str, list[Document] | str]:
    """load_documents as usual and with marks_later: the documents, or the error text."""
    loaded: list[list[Document] | str] = []
    for later in (False, True):
        try:
            loaded.append(load_documents(path, "x.yaml", marks_later=later))
        except ConfigError as error:
            loaded.append(str(error))
    return loaded[0], loaded[1]


def _paths(doc: Document) -> list[JsonPath]:
    """Every path with a mark, a few that have none, and their keys' paths."""
    known = list(doc.marks) + list(doc.key_marks)
    return known + [(*p, "nowhere") for p in known] + [(*p, 99) for p in known] + [(7,)]


def _assert_same_documents(path: Path) -> int:
    """Loaded both ways, the same; returns how many documents were loaded without marks."""
    eager, later = _load_both(path)
    if isinstance(eager, str) or isinstance(later, str):
        assert later == eager
        return 0
    assert [(d.index, d.data) for d in later] == [(d.index, d.data) for d in eager]
    without_marks = sum(1 for d in later if d._marks is None)  # before any is asked for
    for lazy, full in zip(later, eager, strict=True):
        # Asked one path at a time (from the node), then all at once (worked out): the
        # same marks as loading them with the data.
        for where in _paths(full):
            assert lazy.mark_at(where) == full.marks.get(where), where
            assert lazy.mark_at(where, key=True) == full.key_marks.get(where), where
            assert lazy.locate(where) == full.locate(where), where
            assert lazy.locate_key(where) == full.locate_key(where), where
        assert lazy.start == full.start
        assert lazy.marks == full.marks
        assert lazy.key_marks == full.key_marks
    return without_marks


_UNUSUAL = [
    "a: 1\nb: [1, 2, {c: d}]\n",
    "a: &x {k: 1}\nb: *x\n",  # an alias: built with its marks
    "base: {k: 1}\nover:\n  <<: {k: 2, j: 3}\n  k: 4\n",  # a merge key
    "a: 1\na: 2\n",  # a duplicate key
    "a: !!str 1\n",  # a tag
    "a: !file ''\n",
    "a: !file p.md\nb: !file\n",
    'a: "nul \\0 here"\n',
    '"k\\0": 1\n',
    "[1, 2]: x\n",  # a key that is not a plain value
    f"a: {'9' * 5000}\n",  # too many digits
    f"a: {'9' * 99}\nb: {'9' * 100}\n",
    "a: 1e999\nb: -.inf\nc: .nan\n",
    "a: 0o17\nb: 0x1F\nc: 0755\nd: +1.5e3\ne: -0\nf: 1_000\n",
    "a: yes\nb: ~\nc: Null\nd: TRUE\ne: ''\nf:\n",
    "---\na: 1\n---\n---\n- x\n- y: [z]\n",
    "a: " + "[" * 101 + "]" * 101 + "\n",  # deeper than MAX_DEPTH
    "a: " + "[" * 99 + "]" * 99 + "\n",
    "a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 99)) + "  " * 99 + "v: 1\n",
    "- - - x\n  - [ ]\n- {}\n",
    "? complex\n: value\n",
    "k: |\n  text\n  more\nq: >-\n  folded\n",
]


@pytest.mark.parametrize("text", _UNUSUAL)
def test_loading_marks_later_gives_the_same_documents_and_marks(tmp_path: Path, text: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    _assert_same_documents(path)


def test_every_example_loads_the_same_with_marks_later() -> None:
    paths = sorted(EXAMPLES.rglob("*.yaml"))
    # Ordinary files take the quick way: otherwise this would compare _Builder to itself.
    assert sum(_assert_same_documents(path) for path in paths) >= len(paths) - 1


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.sampled_from(list("ab :-#&*!'\"\n\té0.")), max_size=8),
)
_DATA = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(alphabet="abc<", max_size=3), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=_DATA, flow=st.booleans())
def test_any_data_loads_the_same_with_marks_later(tmp_path: Path, data: object, flow: bool) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(data, default_flow_style=flow), encoding="utf-8")
    _assert_same_documents(path)
