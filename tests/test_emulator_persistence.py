"""The emulator's data directory: persistence, sharing between processes, config, journal."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from sigmaform.emulator import EmulatorApp, read_journal, store
from sigmaform.errors import ConfigError

KEY = "sk-live-persistence-KEY-123"


@contextmanager
def client_for(app: EmulatorApp, key: str = KEY) -> Iterator[httpx.Client]:
    transport = httpx.WSGITransport(app=app)
    with httpx.Client(transport=transport, base_url="http://e", headers={"X-API-Key": key}) as c:
        yield c


def test_state_survives_a_new_app_on_the_same_directory(tmp_path: Path) -> None:
    first = EmulatorApp(tmp_path)
    with client_for(first) as client:
        agent = client.post("/v1/agents", json={"agentName": "Kept"}).json()
        client.post("/v1/phone-numbers/import", json={"phoneNumber": "+14155550123"})
    second = EmulatorApp(tmp_path)
    with client_for(second) as client:
        assert client.get(f"/v1/agents/{agent['agentId']}").json() == agent
        assert client.get("/v1/phone-numbers").json()["totalCount"] == 1
        body = {"agentSettings": {"llmModel": "gpt-4o"}}
        client.patch(f"/v1/agents/{agent['agentId']}", json=body)
    # The first app's read cache notices the other app's write.
    with client_for(first) as client:
        fetched = client.get(f"/v1/agents/{agent['agentId']}").json()
        assert fetched["agentSettings"]["llmModel"] == "gpt-4o"
        listed = client.get("/v1/agents").json()["data"]
        assert listed[0]["agentSettings"]["llmModel"] == "gpt-4o"
    with client_for(second) as client:
        assert client.delete(f"/v1/agents/{agent['agentId']}").status_code == 204
    with client_for(first) as client:
        assert client.get("/v1/agents").json()["totalCount"] == 0


def test_the_api_key_is_never_written(tmp_path: Path) -> None:
    app = EmulatorApp(tmp_path)
    with client_for(app) as client:
        client.post("/v1/agents", json={"agentName": "A"})
        client.get("/v1/agents")
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert KEY not in path.read_text(encoding="utf-8", errors="replace"), path
        assert KEY not in str(path)


def test_workspaces_are_isolated_on_disk(tmp_path: Path) -> None:
    with client_for(EmulatorApp(tmp_path), "one") as client:
        client.post("/v1/agents", json={"agentName": "A"})
    with client_for(EmulatorApp(tmp_path), "two") as client:
        assert client.get("/v1/agents").json()["totalCount"] == 0


CREATOR = """
import sys
from pathlib import Path
import httpx
from sigmaform.emulator import EmulatorApp
app = EmulatorApp(Path(sys.argv[1]))
transport = httpx.WSGITransport(app=app)
with httpx.Client(transport=transport, base_url="http://e", headers={"X-API-Key": "k"}) as c:
    for n in range(int(sys.argv[3])):
        hook = {"url": "https://x", "events": ["conversation_ended"]}
        body = {"agentName": f"{sys.argv[2]}-{n}", "agentSettings": {"webhooks": [hook]}}
        r = c.post("/v1/agents", json=body)
        assert r.status_code == 201, r.text
"""


@pytest.mark.parametrize("seeded", [False, True])
def test_two_processes_create_in_one_directory_at_once(tmp_path: Path, seeded: bool) -> None:
    if seeded:
        # Same seed in both processes: they propose the same ids and must skip taken ones.
        (tmp_path / "emulator.json").write_text(json.dumps({"seed": 5}))
    procs = [
        subprocess.Popen([sys.executable, "-c", CREATOR, str(tmp_path), name, "25"])
        for name in ("p", "q")
    ]
    assert [proc.wait(timeout=120) for proc in procs] == [0, 0]
    with client_for(EmulatorApp(tmp_path), "k") as client:
        agents = client.get("/v1/agents", params={"size": 100}).json()["data"]
        hooks = client.get("/v1/webhooks", params={"size": 100}).json()
    names = sorted(agent["agentName"] for agent in agents)
    assert names == sorted([f"p-{n}" for n in range(25)] + [f"q-{n}" for n in range(25)])
    assert len({agent["agentId"] for agent in agents}) == 50
    assert hooks["totalCount"] == 50
    assert len({hook["webhookId"] for hook in hooks["data"]}) == 50
    journal = read_journal(tmp_path / "journal.jsonl")
    assert sum(1 for entry in journal if entry.method == "POST") == 50


def test_emulator_json_sets_the_patch_mode_and_faults(tmp_path: Path) -> None:
    config = {"settings_patch": "replace", "error_rate": 0.0, "seed": 2, "latency_ms": 0}
    (tmp_path / "emulator.json").write_text(json.dumps(config))
    app = EmulatorApp(tmp_path)
    assert app.settings_patch == "replace"
    assert app.faults.seed == 2
    with client_for(app) as client:
        agent = client.post("/v1/agents", json={"agentSettings": {"voiceId": "v"}}).json()
        patched = client.patch(
            f"/v1/agents/{agent['agentId']}", json={"agentSettings": {"llmModel": "m"}}
        ).json()
    assert "voiceId" not in patched["agentSettings"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[1]", "must hold a JSON object"),
        ("{nope", "Expecting property name"),
        ('{"colour": 1}', "unknown keys colour"),
        ('{"settings_patch": "deep"}', "settings_patch must be merge or replace"),
        ('{"error_rate": 3}', "error_rate must be between 0 and 1"),
    ],
)
def test_bad_emulator_json_is_a_config_error(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "emulator.json").write_text(content)
    with pytest.raises(ConfigError) as caught:
        EmulatorApp(tmp_path)
    assert str(tmp_path / "emulator.json") in str(caught.value)
    assert message in str(caught.value)


def test_journal_files(tmp_path: Path) -> None:
    extra = tmp_path / "extra.jsonl"
    app = EmulatorApp(tmp_path / "data", journal_file=extra)
    with client_for(app) as client:
        client.post("/v1/agents", json={"agentName": "J"})
        client.get("/v1/agents", params={"size": 5})
    for path in (tmp_path / "data" / "journal.jsonl", extra):
        entries = read_journal(path)
        assert [(e.method, e.path, e.query, e.status) for e in entries] == [
            ("POST", "/v1/agents", "", 201),
            ("GET", "/v1/agents", "size=5", 200),
        ]
        assert entries[0].body == {"agentName": "J"}
        assert KEY not in path.read_text()
    assert read_journal(tmp_path / "missing.jsonl") == []
    app.journal.clear()
    assert app.journal.entries == []
    assert len(read_journal(extra)) == 2


def test_a_corrupt_file_is_a_500_with_the_error_body(tmp_path: Path) -> None:
    app = EmulatorApp(tmp_path)
    with client_for(app) as client:
        agent_id = client.post("/v1/agents", json={"agentName": "A"}).json()["agentId"]
        (path,) = tmp_path.glob(f"workspaces/*/agents/{agent_id}.json")
        path.write_text("{broken")
        response = client.get(f"/v1/agents/{agent_id}")
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "Internal Server Error"
    assert body["message"] == "emulator error: JSONDecodeError"


def _twelve_agents(client: httpx.Client) -> list[str]:
    """Twelve agents of 500-byte prompts (together over a 2,000-byte read cache): their ids."""
    made = [
        client.post("/v1/agents", json={"agentName": f"a{n}", "instructions": "x" * 500})
        for n in range(12)
    ]
    return [response.json()["agentId"] for response in made]


def test_a_bounded_read_cache_still_lists_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "CACHE_BYTES", 2000)
    with client_for(EmulatorApp(tmp_path)) as client:
        ids = _twelve_agents(client)
        for _ in range(2):
            listed = client.get("/v1/agents", params={"size": 100}).json()["data"]
            assert [agent["agentId"] for agent in listed] == ids


def test_a_listing_larger_than_the_read_cache_keeps_nothing_in_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An embedded emulator shares apply's process: a listing of 10,000 agents that would
    only cycle them all through the cache must not leave it full."""
    workspace = store.DiskWorkspace("d" * 64, tmp_path)
    names = [f"a{n}" for n in range(12)]
    for name in names:
        workspace.put("agents", name, {"agentName": name, "instructions": "x" * 500})
    monkeypatch.setattr(store, "CACHE_BYTES", 2000)
    assert [agent["agentName"] for agent in workspace.all("agents")] == names
    assert workspace._cached_bytes == 0
    monkeypatch.setattr(store, "CACHE_BYTES", 100_000)  # it fits: kept, read once
    assert [agent["agentName"] for agent in workspace.all("agents")] == names
    assert workspace._cached_bytes > 12 * 500


def test_a_page_of_a_listing_reads_only_its_own_objects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each object's place comes from an index of creation orders (kept by stat), so a
    page reads its own objects: parsing every agent for each page made a full listing of
    10,000 agents (100 pages) take a minute."""
    monkeypatch.setattr(store, "CACHE_BYTES", 2000)  # nothing stays parsed: each read counts
    reads: list[str] = []
    load = store.DiskWorkspace._load

    def counted(self: store.DiskWorkspace, path: Path, *args: Any) -> Any:
        reads.append(path.name)
        return load(self, path, *args)

    monkeypatch.setattr(store.DiskWorkspace, "_load", counted)
    with client_for(EmulatorApp(tmp_path)) as client:
        ids = _twelve_agents(client)

    def page(client: httpx.Client, number: int) -> list[str]:
        reads.clear()
        body = client.get("/v1/agents", params={"page": number, "size": 5}).json()
        assert body["totalCount"] == len(ids)
        return [agent["agentId"] for agent in body["data"]]

    other = EmulatorApp(tmp_path)  # another process: it knows no order yet
    with client_for(other) as client:
        assert page(client, 0) == ids[:5] and len(reads) == 12 + 5  # each placed once
        assert page(client, 1) == ids[5:10] and len(reads) == 5
        assert page(client, 2) == ids[10:] and len(reads) == 2
    with client_for(EmulatorApp(tmp_path)) as writer:  # a third one edits and deletes
        writer.patch(f"/v1/agents/{ids[7]}", json={"welcomeMessage": "Hi"})
        assert writer.delete(f"/v1/agents/{ids[0]}").status_code == 204
    ids.remove(ids[0])
    with client_for(other) as client:
        assert page(client, 1) == ids[5:10]
        # The edited file was read again to place it, then for the page; nothing else.
        assert sorted(reads) == sorted([f"{ids[6]}.json", *(f"{i}.json" for i in ids[5:10])])
        edited = client.get("/v1/agents", params={"page": 1, "size": 5}).json()["data"][1]
        assert edited["welcomeMessage"] == "Hi"


def test_a_journal_kept_on_disk_only_holds_no_entries_in_memory(tmp_path: Path) -> None:
    """What `local:` base URLs use: a long apply must not keep every request body."""
    app = EmulatorApp(tmp_path, keep_journal=False)
    with client_for(app) as client:
        client.post("/v1/agents", json={"agentName": "Long", "instructions": "x" * 10_000})
    assert app.journal.entries == []
    written = read_journal(tmp_path / "journal.jsonl")
    assert [(e.method, e.path, e.status) for e in written] == [("POST", "/v1/agents", 201)]
