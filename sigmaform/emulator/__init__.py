"""A local SigmaMind API (design.md section 8): agents, phone numbers, chats, webhooks, tests.

Use it in process as a WSGI app (`httpx.WSGITransport(app=EmulatorApp(...))`) or over HTTP
(`serve(host, port, app)`, or `sigmaform emulator`). Each `X-API-Key` is its own workspace.

With a data directory (`EmulatorApp(Path(DIR))`, which is what `local:DIR` base URLs use):

- `DIR/workspaces/<sha256 of key>/...` holds the objects, one JSON file each; several
  processes may use the same directory at once.
- `DIR/journal.jsonl` receives every request as a JSON line
  (`{"method", "path", "query", "status", "body"}`; no headers, so no API keys); read it with
  `sigmaform.emulator.journal.read_journal`.
- `DIR/emulator.json`, if present, configures the emulator for every process that opens
  the directory, e.g. `{"settings_patch": "replace", "list_items": "partial", "latency_ms": 0,
  "error_rate": 0.0, "drop_rate": 0.0, "rate_limit": null, "seed": 1}` (any subset). Its
  values apply where the constructor's arguments were left at their defaults. The modes
  (`list_items`, `webhook_secrets`, `phone_number_field`, `agent_delete`, `create_names`,
  `webhook_ids`, `test_cases`, `batch_jobs`, `success_field`;
  `sigmaform.emulator.modes`) switch the emulator to the other readings of the docs, and
  `judge`, `judge_seed`, `batch_pace`, `batch_stall_at` set how batch runs turn out
  (`sigmaform.emulator.judge`).
"""

from __future__ import annotations

from sigmaform.emulator.app import EmulatorApp
from sigmaform.emulator.faults import Faults
from sigmaform.emulator.journal import Journal, JournalEntry, read_journal
from sigmaform.emulator.server import ThreadingWSGIServer, running, serve

__all__ = [
    "EmulatorApp",
    "Faults",
    "Journal",
    "JournalEntry",
    "ThreadingWSGIServer",
    "read_journal",
    "running",
    "serve",
]
