"""Shared pieces of the reliability suite: generated projects, a faulty loopback emulator,
the real CLI, and the convergence and secret checks every scenario ends with."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from sigmaform.emulator import EmulatorApp, Faults, running

# Values that must never show up in any output or file the tool writes.
WEBHOOK_SECRET = "rel-webhook-secret-7f3a9c2e51"
API_KEY = "rel-api-key-4b8d0e6a93"
SECRET_ENV = {"REL_WEBHOOK_SECRET": WEBHOOK_SECRET, "REL_API_KEY": API_KEY}
SECRETS = (WEBHOOK_SECRET, API_KEY)
REPO = Path(__file__).resolve().parent.parent


def agent_spec(index: int, revision: int = 0) -> dict[str, Any]:
    """A small but realistic agent: settings, a webhook with a secret, a tool."""
    return {
        "agentName": f"Reliability Agent {index:03d}",
        "instructions": f"You are test agent {index}.\nRevision {revision}: be brief.",
        "welcomeMessageType": "static",
        "welcomeMessage": "Hello {{customer_name}}, how can I help?",
        "agentSettings": {
            "language": "en_US",
            "llmModel": "gpt-4o-mini",
            "llmTemperature": round(0.2 + 0.1 * (revision % 5), 1),
            "endCallOnSilenceDuration": 20 + revision,
            "webhooks": [
                {
                    "name": "events",
                    "url": f"https://hooks.example.test/agent-{index}/r{revision}",
                    "secret": "${secret.REL_WEBHOOK_SECRET}",
                    "events": ["conversation_started", "conversation_ended"],
                }
            ],
        },
        "tools": [{"type": "voice_end_call", "instruction": "End the call politely."}],
    }


def agent_name(index: int) -> str:
    return f"a{index:03d}"


def write_project(root: Path, environment: Mapping[str, Any]) -> None:
    """sigmaform.yaml with one environment `rel`; agents live in agents/*.yaml."""
    (root / "agents").mkdir(parents=True, exist_ok=True)
    doc = {
        "version": 1,
        "resources": ["agents/**/*.yaml"],
        "state": {"backend": "local", "path": ".sigmaform/state/{environment}.json"},
        "environments": {"rel": dict(environment)},
    }
    (root / "sigmaform.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))


def write_agent(root: Path, name: str, spec: Mapping[str, Any]) -> Path:
    path = root / "agents" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"kind": "Agent", "name": name, "spec": dict(spec)}
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return path


def write_agents(root: Path, specs: Mapping[str, Mapping[str, Any]]) -> None:
    for name, spec in specs.items():
        write_agent(root, name, spec)


def remove_agent(root: Path, name: str) -> None:
    (root / "agents" / f"{name}.yaml").unlink()


@dataclass
class Run:
    """One CLI run: exit code and both streams."""

    args: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:
        return f"sigmaform {' '.join(self.args)} -> {self.exit_code}\n{self.text}"


@dataclass
class Cli:
    """The real CLI (click's runner, in process) on one project; keeps every output."""

    root: Path
    env: str = "rel"
    environ: Mapping[str, str] = field(default_factory=lambda: dict(SECRET_ENV))
    verbose: bool = False  # `-v`: request logs on stderr, scanned for secrets like the rest
    runs: list[Run] = field(default_factory=list)

    def __call__(self, *args: str) -> Run:
        from click.testing import CliRunner

        from sigmaform.cli import cli

        argv = ["-C", str(self.root), "-e", self.env, *(["-v"] if self.verbose else []), *args]
        try:
            result = CliRunner().invoke(cli, argv, env=dict(self.environ), catch_exceptions=False)
        finally:
            if self.verbose:  # `-v` adds a handler on the runner's stream: drop it with it
                logger = logging.getLogger("sigmaform")
                for handler in list(logger.handlers):
                    logger.removeHandler(handler)
                logger.setLevel(logging.NOTSET)
        run = Run(tuple(args), result.exit_code, result.stdout, result.stderr)
        self.runs.append(run)
        assert "Traceback" not in run.text, str(run)
        return run

    def apply_until_converged(self, *extra: str, attempts: int = 3) -> list[Run]:
        """Apply until one succeeds; a run that ran out of retries exits 1 and is repeated."""
        done: list[Run] = []
        for _ in range(attempts):
            run = self("apply", "--auto-approve", *extra)
            done.append(run)
            assert run.exit_code in (0, 1), str(run)
            if run.exit_code == 0:
                return done
        raise AssertionError("no convergence:\n" + "\n".join(str(r) for r in done))

    def outputs(self) -> list[str]:
        return [r.text for r in self.runs]


def state_file(root: Path, env: str = "rel") -> Path:
    return root / ".sigmaform" / "state" / f"{env}.json"


def read_state(root: Path, env: str = "rel") -> dict[str, Any]:
    path = state_file(root, env)
    if not path.exists():
        return {"resources": {}}
    return dict(json.loads(path.read_text(encoding="utf-8")))


def list_agents(api: httpx.Client) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    page = 0
    while True:
        response = api.get("/v1/agents", params={"page": page, "size": 100})
        response.raise_for_status()
        body = response.json()
        out += body["data"]
        if not body["hasNext"]:
            return out
        page += 1


@contextlib.contextmanager
def inspector(data_dir: Path, key: str) -> Iterator[httpx.Client]:
    """An API client on an emulator's data directory, in process (another client's view).

    It has the faults of the directory's emulator.json, if any: callers remove that first.
    """
    app = EmulatorApp(data_dir=data_dir)
    with httpx.Client(
        transport=httpx.WSGITransport(app=app),
        base_url="http://sigmamind.local",
        headers={"X-API-Key": key},
    ) as client:
        yield client


def assert_converged(
    root: Path, remote: Sequence[Mapping[str, Any]], declared: Iterable[str]
) -> None:
    """The server holds exactly the declared agents, once each; state matches the server."""
    names = Counter(str(a["agentName"]) for a in remote)
    duplicates = sorted(n for n, c in names.items() if c > 1)
    assert not duplicates, f"duplicate agents on the server: {duplicates}"
    wanted = set(declared)
    assert set(names) == wanted, (
        f"missing {sorted(wanted - set(names))}, extra {sorted(set(names) - wanted)}"
    )
    state = read_state(root)["resources"]
    # The address says the kind (state version 3 keeps no `kind` per resource).
    state_ids = {r["id"] for a, r in state.items() if a.startswith("agent.")}
    server_ids = {str(a["agentId"]) for a in remote}
    assert state_ids == server_ids, (
        f"state-only ids {sorted(state_ids - server_ids)}, "
        f"server-only ids {sorted(server_ids - state_ids)}"
    )


def assert_no_secrets(texts: Iterable[str], files: Iterable[Path] = ()) -> int:
    """No secret value or API key in any output or file; returns how many were scanned."""
    scanned = 0
    for text in texts:
        scanned += 1
        for secret in SECRETS:
            assert secret not in text, f"a secret leaked into output: {text[:300]!r}"
    for path in files:
        if not path.exists():
            continue
        scanned += 1
        data = path.read_bytes()
        for secret in SECRETS:
            assert secret.encode() not in data, f"a secret leaked into {path}"
    return scanned


def written_files(root: Path) -> list[Path]:
    """State files (and backups), saved plans and lock files the tool wrote in a project."""
    found = sorted((root / ".sigmaform" / "state").glob("*")) if root.exists() else []
    found += sorted(root.glob("*.plan.json"))
    return [p for p in found if p.is_file()]


@contextlib.contextmanager
def loopback_emulator(data_dir: Path, faults: Faults) -> Iterator[str]:
    """A real HTTP emulator on 127.0.0.1 (its own thread); yields the base URL."""
    with running(EmulatorApp(data_dir=data_dir, faults=faults, api_keys={API_KEY})) as url:
        yield url


def subprocess_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGMA", "NO_COLOR"))}
    env.update(SECRET_ENV)
    env["PYTHONPATH"] = str(REPO)
    if extra:
        env.update(extra)
    return env


class CliProcess(subprocess.Popen[bytes]):
    """`python -m sigmaform` writing its output to files, read back by `communicate`.

    Not pipes: a pipe holds 64 KB and nobody reads it until the process ends, so a long
    plan (50 agents' prompts) would stall the apply on its first print, and a kill meant to
    land among its writes would land before any.
    """

    def __init__(self, args: Sequence[str], env: Mapping[str, str]) -> None:
        # Closed by communicate(), which every caller ends with.
        self._outputs = (tempfile.TemporaryFile(), tempfile.TemporaryFile())  # noqa: SIM115
        super().__init__(
            list(args), env=dict(env), stdout=self._outputs[0], stderr=self._outputs[1]
        )

    def communicate(
        self, input: bytes | None = None, timeout: float | None = None
    ) -> tuple[bytes, bytes]:
        self.wait(timeout)
        out, err = self._outputs
        for handle in (out, err):
            handle.seek(0)
        texts = (out.read(), err.read())
        for handle in (out, err):
            handle.close()
        return texts


def start_cli(root: Path, *args: str, env: str = "rel") -> CliProcess:
    """`python -m sigmaform` as its own process (for kills and real concurrency)."""
    return CliProcess(
        [sys.executable, "-m", "sigmaform", "-C", str(root), "-e", env, *args], subprocess_env()
    )
