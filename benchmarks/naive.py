"""What a hand-written script would do, for comparison, and the floor for an offline plan.

- `get_all`: GET every agent, one after another (a naive "refresh").
- `patch_all`: PATCH every agent with its whole body, one after another (a naive "sync").
- `create_all`: POST every agent, retrying a failed POST blindly (a naive "create").
- `floor` (run as `python benchmarks/naive.py floor ROOT`): the least an offline plan must
  do -- parse every YAML file, prompt and the state, then compare one value per agent.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

import yaml


@dataclass(frozen=True)
class NaiveResult:
    seconds: float
    requests: int
    bytes_sent: int
    failures: int = 0


def _client(base_url: str, key: str) -> httpx.Client:
    import httpx  # here, so that `floor` (timed as a whole process) does not load it

    return httpx.Client(base_url=base_url, headers={"X-API-Key": key}, timeout=30)


def _encode(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def get_all(base_url: str, key: str, ids: Sequence[str]) -> NaiveResult:
    start = time.perf_counter()
    with _client(base_url, key) as client:
        for agent_id in ids:
            client.get(f"/v1/agents/{agent_id}").raise_for_status()
    return NaiveResult(time.perf_counter() - start, len(ids), 0)


def patch_all(base_url: str, key: str, bodies: Sequence[tuple[str, Any]]) -> NaiveResult:
    start = time.perf_counter()
    sent = 0
    with _client(base_url, key) as client:
        for agent_id, body in bodies:
            content = _encode(body)
            sent += len(content)
            client.patch(
                f"/v1/agents/{agent_id}",
                content=content,
                headers={"Content-Type": "application/json"},
            ).raise_for_status()
    return NaiveResult(time.perf_counter() - start, len(bodies), sent)


def create_all(base_url: str, key: str, bodies: Sequence[Any], attempts: int = 5) -> NaiveResult:
    """POST each body; on any failure wait a little and POST again (no lookup first)."""
    import httpx

    start = time.perf_counter()
    requests = sent = failures = 0
    with _client(base_url, key) as client:
        for body in bodies:
            content = _encode(body)
            for _ in range(attempts):
                requests += 1
                sent += len(content)
                try:
                    response = client.post(
                        "/v1/agents", content=content, headers={"Content-Type": "application/json"}
                    )
                except httpx.TransportError:
                    time.sleep(0.1)
                    continue
                if response.status_code < 300:
                    break
                time.sleep(float(response.headers.get("Retry-After", "0.1")))
            else:
                failures += 1
    return NaiveResult(time.perf_counter() - start, requests, sent, failures)


class _FloorLoader(yaml.CSafeLoader):
    pass


def _file_constructor(loader: _FloorLoader, node: yaml.ScalarNode) -> str:
    base: Path = loader.base  # type: ignore[attr-defined]
    return (base / str(node.value)).read_text(encoding="utf-8")


_FloorLoader.add_constructor("!file", _file_constructor)


def floor(root: Path) -> int:
    """Parse every agent file (with its prompt) and the state; one comparison per agent."""
    state_path = next((root / ".sigmaform" / "state").glob("*.json"))
    applied = json.loads(state_path.read_bytes())["resources"]
    same = 0
    for path in sorted((root / "agents").glob("*.yaml")):
        loader = _FloorLoader(path.read_bytes())
        loader.base = path.parent  # type: ignore[attr-defined]
        try:
            doc = loader.get_single_data()
        finally:
            loader.dispose()
        held = applied.get(f"agent.{doc['name']}", {}).get("applied", {})
        same += held.get("instructions") == doc["spec"]["instructions"]
    return same


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "floor":
        sys.exit("usage: python benchmarks/naive.py floor PROJECT_DIR")
    print(floor(Path(sys.argv[2])))
