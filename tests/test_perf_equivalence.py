"""Performance rewrites keep their results: the same digests and plans as the plain forms."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

from sigmaform.diff import share_equal
from sigmaform.digest import config_digest, plan_digest, plan_digests
from sigmaform.operations import open_project
from sigmaform.remote import comparable_desired
from sigmaform.resource import Resource
from sigmaform.sensitive import (
    FINGERPRINT_PREFIX,
    Sensitive,
    fingerprint,
    prefetch_fingerprints,
)

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
