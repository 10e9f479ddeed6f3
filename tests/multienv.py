"""A copy of examples/ whose staging and prod talk to one emulator over a loopback socket.

Each environment has its own API key, hence its own emulator workspace, so a test can
see what each environment's account holds. Every CLI output is kept for leak checks.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from sigmaform.emulator import EmulatorApp
from sigmaform.emulator.server import running

STAGING_KEY = "sk-staging-4f1c9a7e2b"
PROD_KEY = "sk-prod-8d3e6b0c51"
SUPPORT_SECRET = "whsec-support-2b7f0c11"
REMINDER_SECRET = "whsec-reminder-9e4a5d22"
STAGING_NUMBER = "+14155550124"  # main-line's staging override
PROD_NUMBER = "+14155550123"


@dataclass
class MultiEnv:
    root: Path
    app: EmulatorApp
    base_url: str
    outputs: list[str] = field(default_factory=list)

    def run(self, *args: str, env: str | None = "staging", input: str | None = None) -> Any:
        """The real CLI; `env=None` passes no `-e`. stdout and stderr are both recorded."""
        from click.testing import CliRunner

        from sigmaform.cli import cli

        argv = ["-C", str(self.root), *(["-e", env] if env else []), *args]
        result = CliRunner().invoke(cli, argv, input=input, catch_exceptions=False)
        self.outputs.append(result.output)
        return result

    def api(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"X-API-Key": key})

    def agents(self, key: str) -> dict[str, dict[str, Any]]:
        """The workspace's agents by agentName."""
        with self.api(key) as api:
            body = api.get("/v1/agents", params={"page": 0, "size": 100}).json()
        assert not body["hasNext"]
        return {a["agentName"]: a for a in body["data"]}

    def phone_number(self, key: str, number: str) -> dict[str, Any]:
        with self.api(key) as api:
            response = api.get(f"/v1/phone-numbers/{number}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def state(self, env: str) -> dict[str, Any]:
        return dict(json.loads(self.state_path(env).read_text()))

    def state_path(self, env: str) -> Path:
        return self.root / ".sigmaform" / "state" / f"{env}.json"

    def edit(self, relative: str, old: str, new: str) -> None:
        path = self.root / relative
        text = path.read_text()
        assert old in text, f"{old!r} not in {relative}"
        path.write_text(text.replace(old, new, 1))

    def written_files(self) -> list[Path]:
        """Everything sigmaform wrote under the project (state, backups, plans, locks)."""
        return [p for p in self.root.rglob("*") if p.is_file()]


def point_at(root: Path, base_url: str) -> None:
    """Rewrite examples/sigmaform.yaml so staging and prod use `base_url`."""
    path = root / "sigmaform.yaml"
    text = path.read_text()
    old = "    baseUrl: https://api.sigmamind.ai\n    apiKeyEnv: SIGMAMIND_API_KEY_STAGING\n"
    assert old in text
    text = text.replace(old, f"    baseUrl: {base_url}\n    apiKeyEnv: SIGMAMIND_API_KEY_STAGING\n")
    prod = "  prod:\n    apiKeyEnv: SIGMAMIND_API_KEY_PROD\n"
    assert prod in text
    text = text.replace(
        prod, f"  prod:\n    baseUrl: {base_url}\n    apiKeyEnv: SIGMAMIND_API_KEY_PROD\n"
    )
    path.write_text(text)


@pytest.fixture
def multi(tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MultiEnv]:
    app = two_workspaces()
    with running(app) as base_url:
        root = tmp_path / "project"
        shutil.copytree(repo_root / "examples", root, ignore=shutil.ignore_patterns(".sigmaform"))
        point_at(root, base_url)
        monkeypatch.setenv("SIGMAMIND_API_KEY_STAGING", STAGING_KEY)
        monkeypatch.setenv("SIGMAMIND_API_KEY_PROD", PROD_KEY)
        monkeypatch.setenv("SUPPORT_WEBHOOK_SECRET", SUPPORT_SECRET)
        monkeypatch.setenv("REMINDER_WEBHOOK_SECRET", REMINDER_SECRET)
        yield MultiEnv(root, app, base_url)


def two_workspaces() -> EmulatorApp:
    """One emulator, a workspace per environment's key, each with its phone number."""
    app = EmulatorApp(api_keys={STAGING_KEY, PROD_KEY})
    # main-line.yaml gives staging its own number; prod uses the base one.
    app.seed_phone_number(STAGING_KEY, STAGING_NUMBER, "staging test line")
    app.seed_phone_number(PROD_KEY, PROD_NUMBER, "prod line")
    return app
