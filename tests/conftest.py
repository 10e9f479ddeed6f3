"""Test guards: no network beyond loopback, no $HOME, no leaked SIGMA* variables."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import shlex
import shutil
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

# The shared state backends' fixtures (pg, s3, and `shared` over both), for every module.
pytest_plugins = ("shared_state",)

# A loaded CI machine (two cores, services beside the tests) can take longer than hypothesis'
# 200 ms default per example; a slow example is not a failure of the property under test.
settings.register_profile("sigmaform", deadline=None)
settings.load_profile("sigmaform")

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            ok = ipaddress.ip_address(host).is_loopback
        except ValueError:
            ok = host == "localhost"
        if not ok:
            raise OSError(f"tests may only connect to loopback, not {host!r}")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _guard(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(("SIGMA", "NO_COLOR", "FORCE_COLOR")):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)
    # Secrets remembered for scrubbing by an earlier test must not mask this one's output.
    from sigmaform.sensitive import forget_remembered

    forget_remembered()
    yield
    # `-v` adds a stderr handler to the `sigmaform` logger; no test inherits another's.
    logger = logging.getLogger("sigmaform")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@dataclass
class Project:
    """A copy of a sigmaform project in a temp dir, driven through the real CLI."""

    root: Path
    env: str = "local"

    def run(self, *args: str, env: str | None = None, input: str | None = None) -> Any:
        from click.testing import CliRunner

        from sigmaform.cli import cli

        runner = CliRunner()
        argv = ["-C", str(self.root), "-e", env or self.env, *args]
        return runner.invoke(cli, argv, input=input, catch_exceptions=False)

    def command(self, *words: str, env: str | None = "") -> str:
        """The pasteable command a hint must print after `run` (which passes -C and -e);
        `env=None`: a project with one environment, whose hints need no -e."""
        chosen = self.env if env == "" else env
        return shlex.join(
            ["sigmaform", "-C", str(self.root), *(["-e", chosen] if chosen else []), *words]
        )

    @property
    def emulator_dir(self) -> Path:
        return self.root / ".sigmaform" / "emulator"

    def journal(self) -> list[dict[str, Any]]:
        path = self.emulator_dir / "journal.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def writes(self, since: int = 0) -> list[dict[str, Any]]:
        writing = ("POST", "PATCH", "PUT", "DELETE")
        return [e for e in self.journal()[since:] if e["method"] in writing]

    def state(self, env: str | None = None) -> dict[str, Any]:
        path = self.root / ".sigmaform" / "state" / f"{env or self.env}.json"
        return dict(json.loads(path.read_text()))

    def api(self, key: str = "local") -> Any:
        """An httpx client on the same emulator data the CLI uses (another API client)."""
        import httpx

        from sigmaform.emulator import EmulatorApp

        app = EmulatorApp(data_dir=self.emulator_dir)
        return httpx.Client(
            transport=httpx.WSGITransport(app=app),
            base_url="http://sigmamind.local",
            headers={"X-API-Key": key},
        )

    def agents(self) -> list[dict[str, Any]]:
        with self.api() as api:
            out: list[dict[str, Any]] = []
            page = 0
            while True:
                body = api.get("/v1/agents", params={"page": page, "size": 100}).json()
                out += body["data"]
                if not body["hasNext"]:
                    return out
                page += 1

    def edit(self, relative: str, old: str, new: str) -> None:
        path = self.root / relative
        text = path.read_text()
        assert old in text, f"{old!r} not in {relative}"
        path.write_text(text.replace(old, new, 1))


@pytest.fixture
def example(tmp_path: Path, repo_root: Path) -> Project:
    """The examples/ project copied to a temp dir (no .sigmaform/ data)."""
    root = tmp_path / "project"
    shutil.copytree(repo_root / "examples", root, ignore=shutil.ignore_patterns(".sigmaform"))
    return Project(root)
