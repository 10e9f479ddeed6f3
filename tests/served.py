"""The examples/ project against the emulator in process (`local:`) or over a loopback socket.

Either way the CLI and the test share one emulator data directory, so `Project.journal()`,
`Project.agents()` and `Project.api()` see what the CLI did.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import Project

from sigmaform.emulator import EmulatorApp
from sigmaform.emulator.server import running


@pytest.fixture(params=["in-process", "socket"])
def served(request: pytest.FixtureRequest, example: Project) -> Iterator[Project]:
    if request.param == "in-process":
        yield example
        return
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    app = EmulatorApp(data_dir=example.emulator_dir)
    with running(app) as base_url:
        # SIGMAMIND_BASE_URL replaces `local:`; the key names the same workspace.
        monkeypatch.setenv("SIGMAMIND_BASE_URL", base_url)
        monkeypatch.setenv("SIGMAMIND_API_KEY", "local")
        yield example
    # The CLI really went through the socket (this app's own journal saw it).
    assert any(e.method != "GET" for e in app.journal.entries)
