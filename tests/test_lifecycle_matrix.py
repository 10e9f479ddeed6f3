"""The lifecycle matrix (issue 13): every kind through every step of its life.

For Agent, PhoneNumber and Chat, each of create (adopt), update, rename with `moved:`,
remote edit, remote delete, import (adopt), promote, destroy and a wrong API key: the
plan's text and JSON, the exit code, the request journal, the remote state afterwards,
and a final `plan --detailed-exitcode` of 0 with no duplicate `agentName`. staging and
prod are two workspaces of one emulator data directory, reached in process (`local:`)
or, for a representative subset, over a loopback socket.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from conftest import Project
from multienv import (
    PROD_KEY,
    PROD_NUMBER,
    REMINDER_SECRET,
    STAGING_KEY,
    STAGING_NUMBER,
    SUPPORT_SECRET,
    point_at,
)

from sigmaform.emulator import EmulatorApp
from sigmaform.emulator.server import running

KEYS = {"staging": STAGING_KEY, "prod": PROD_KEY}
NUMBERS = {"staging": STAGING_NUMBER, "prod": PROD_NUMBER}
CHAT_FILE = "agents/web-chat.yaml"
CHAT_YAML = """\
kind: Chat
name: web
spec:
  chatId: {chat_id}
  agent: receptionist
  dynamicVariables: {{customer_name: Michael}}
"""
BILLING_YAML = """\
kind: Agent
name: billing
spec:
  agentName: "Acme Billing${var.suffix}"
  instructions: Help with invoices.
  welcomeMessageType: static
  welcomeMessage: Billing, how can I help?
"""
PROTECTED = "protect: true                     # a bad apply must never delete the agent"


@dataclass
class World:
    """examples/ whose staging and prod are two workspaces of one emulator data directory,
    reached in process (`local:`) or over a loopback socket (`url`)."""

    project: Project
    url: str | None
    monkeypatch: pytest.MonkeyPatch

    def run(self, *args: str, env: str = "staging") -> Any:
        return self.project.run(*args, env=env)

    def api(self, env: str = "staging") -> httpx.Client:
        """Another API client of the workspace, the way a person in the dashboard edits."""
        if self.url is None:
            return self.project.api(KEYS[env])  # type: ignore[no-any-return]
        return httpx.Client(base_url=self.url, headers={"X-API-Key": KEYS[env]})

    def mark(self) -> int:
        return len(self.project.journal())

    def sent(self, since: int) -> list[tuple[str, str, Any]]:
        return [(w["method"], w["path"], w["body"]) for w in self.project.writes(since)]

    def id(self, address: str, env: str = "staging") -> str:
        return str(self.project.state(env)["resources"][address]["id"])

    def get(self, path: str, env: str = "staging") -> dict[str, Any]:
        with self.api(env) as api:
            response = api.get(path)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def agent_names(self, env: str = "staging") -> list[str]:
        with self.api(env) as api:
            body = api.get("/v1/agents", params={"page": 0, "size": 100}).json()
        assert not body["hasNext"]
        return [a["agentName"] for a in body["data"]]

    def forget_remotely(self, collection: str, oid: str) -> None:
        """The vendor API has no delete for numbers or chats: a number released or a chat
        purged in the dashboard is gone from the workspace's store."""
        workspace = EmulatorApp(data_dir=self.project.emulator_dir)._store.workspace(STAGING_KEY)
        assert workspace.delete(collection, oid)


@contextmanager
def world(
    root: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch, socket: bool
) -> Iterator[World]:
    shutil.copytree(repo_root / "examples", root, ignore=shutil.ignore_patterns(".sigmaform"))
    project = Project(root, env="staging")
    app = EmulatorApp(data_dir=project.emulator_dir)
    app.seed_phone_number(STAGING_KEY, STAGING_NUMBER, "staging test line")
    app.seed_phone_number(PROD_KEY, PROD_NUMBER, "prod line")
    for name, value in (
        ("SIGMAMIND_API_KEY_STAGING", STAGING_KEY),
        ("SIGMAMIND_API_KEY_PROD", PROD_KEY),
        ("SUPPORT_WEBHOOK_SECRET", SUPPORT_SECRET),
        ("REMINDER_WEBHOOK_SECRET", REMINDER_SECRET),
    ):
        monkeypatch.setenv(name, value)
    if not socket:
        point_at(root, "local:.sigmaform/emulator")
        yield World(project, None, monkeypatch)
        return
    with running(app) as url:
        point_at(root, url)
        yield World(project, url, monkeypatch)
    # The CLI really went through the socket: the served app's own journal saw its writes.
    assert any(e.method != "GET" for e in app.journal.entries)


# --- shared steps -------------------------------------------------------------------------


def applied(w: World, env: str = "staging") -> None:
    result = w.run("apply", "--auto-approve", env=env)
    assert result.exit_code == 0, result.output


def promoted(w: World) -> Any:
    result = w.run("promote", "--to", "prod", "--apply", "--auto-approve")
    assert result.exit_code == 0, result.output
    return result


def new_chat(w: World, env: str = "staging", variables: dict[str, Any] | None = None) -> str:
    agent = w.id("agent.receptionist", env)
    body: dict[str, Any] = {"agentId": agent, "input": "Hello"}
    if variables is not None:
        body["dynamicVariables"] = variables
    with w.api(env) as api:
        made = api.post("/v1/chats", json=body)
    assert made.status_code == 201, made.text
    return str(made.json()["chatId"])


def write_chat(w: World, chat_id: str, prod_chat: str | None = None) -> None:
    text = CHAT_YAML.format(chat_id=chat_id)
    if prod_chat is not None:
        text += f"environments:\n  prod:\n    chatId: {prod_chat}\n"
    (w.project.root / CHAT_FILE).write_text(text)


def baseline(w: World, kind: str) -> None:
    """staging applied: three agents and the main line (and, for `chat`, the web chat)."""
    applied(w)
    if kind == "chat":
        write_chat(w, new_chat(w))
        applied(w)
    clean(w)


def plan(w: World, *args: str, env: str = "staging", code: int = 2) -> tuple[str, dict[str, Any]]:
    """The plan's text (with --detailed-exitcode, which must be `code`) and its JSON."""
    text = w.run("plan", "--detailed-exitcode", *args, env=env)
    assert text.exit_code == code, text.output
    data = w.run("plan", "--format", "json", *args, env=env)
    assert data.exit_code == 0, data.output
    return text.output, json.loads(data.stdout)


def resource(data: dict[str, Any], address: str) -> dict[str, Any]:
    (found,) = [r for r in data["resources"] if r["address"] == address]
    return found


def effects(data: dict[str, Any]) -> dict[str, int]:
    """The summary's non-zero counts (drifted apart)."""
    return {k: v for k, v in data["summary"].items() if v and k != "drifted"}


def clean(w: World, env: str = "staging") -> None:
    result = w.run("plan", "--detailed-exitcode", env=env)
    assert result.exit_code == 0, result.output
    for each in KEYS:
        names = Counter(w.agent_names(each))
        assert all(n == 1 for n in names.values()), names


@dataclass(frozen=True)
class Kind:
    """The resource of one kind that each step acts on, and the update the steps make."""

    address: str
    file: str
    old: str
    new: str
    shown: str  # how the plan shows that update

    def path(self, w: World, env: str = "staging") -> str:
        if self.address.startswith("phone-number."):
            return f"/v1/phone-numbers/{NUMBERS[env]}"
        if self.address.startswith("chat."):
            return f"/v1/chats/{w.id(self.address, env)}"
        return f"/v1/agents/{w.id(self.address, env)}"

    def edit(self, w: World) -> None:
        w.project.edit(self.file, self.old, self.new)


KINDS = {
    "agent": Kind(
        "agent.receptionist",
        "agents/receptionist.yaml",
        "endCallOnSilenceDuration: 20",
        "endCallOnSilenceDuration: 25",
        "agentSettings.endCallOnSilenceDuration: 20 -> 25",
    ),
    "number": Kind(
        "phone-number.main-line",
        "numbers/main-line.yaml",
        "friendlyName: Acme main line",
        "friendlyName: Acme front line",
        'friendlyName: "Acme main line" -> "Acme front line"',
    ),
    "chat": Kind(
        "chat.web",
        CHAT_FILE,
        "customer_name: Michael",
        "customer_name: Dwight",
        'customer_name: "Michael" -> "Dwight"',
    ),
}
UPDATE_BODY = {
    "agent": {"agentSettings": {"endCallOnSilenceDuration": 25}},
    "number": {"friendlyName": "Acme front line"},
    "chat": {"dynamicVariables": {"customer_name": "Dwight"}},
}
RESOURCES = {"agent": 4, "number": 4, "chat": 5}  # managed in staging after `baseline`


# --- the steps ----------------------------------------------------------------------------


def step_create(w: World, kind: str) -> None:
    """A new agent is created; an existing number or chat is adopted (nothing is created)."""
    number_file = w.project.root / KINDS["number"].file
    held = number_file.read_text()
    if kind == "number":
        number_file.unlink()  # the main line is declared only after the agents exist
    baseline(w, "agent")
    support = w.id("agent.support")
    if kind == "agent":
        (w.project.root / "agents" / "billing.yaml").write_text(BILLING_YAML)
        address, shown = "agent.billing", "+ agent.billing  (create)"
    elif kind == "number":
        number_file.write_text(held)
        address, shown = "phone-number.main-line", "+ phone-number.main-line  (adopt)"
    else:
        chat = new_chat(w)
        write_chat(w, chat)
        address, shown = "chat.web", "+ chat.web  (adopt)"
    effect = "create" if kind == "agent" else "adopt"
    text, data = plan(w)
    assert shown in text
    before = 3 if kind == "number" else 4
    if kind == "agent":
        assert f"Plan: 1 to create, 0 to update, 0 to delete, {before} unchanged." in text
    else:
        summary = f"Plan: 0 to create, 1 to adopt, 0 to update, 0 to delete, {before} unchanged."
        assert summary in text
    if kind == "number":  # the live values are shown, so a reviewer sees the reroute
        assert 'friendlyName: "staging test line" -> "Acme main line"' in text
        assert 'inboundAgent: null -> "support"\n' in text
    if kind == "chat":
        assert 'agent: "receptionist" (unchanged)' in text
        assert 'customer_name: + "Michael"' in text
    rp = resource(data, address)
    assert (rp["action"], rp["effect"]) == ("create", effect)
    assert effects(data) == {effect: 1, "unchanged": before}

    mark = w.mark()
    applied(w)
    sent = w.sent(mark)
    if kind == "agent":
        ((method, path, body),) = sent
        assert (method, path, body["agentName"]) == ("POST", "/v1/agents", "Acme Billing (staging)")
        assert w.get(f"/v1/agents/{w.id(address)}")["agentName"] == "Acme Billing (staging)"
    elif kind == "number":
        # outboundAgent already holds null: shown "(unchanged)", so not sent.
        body = {"friendlyName": "Acme main line", "inboundAgentId": support}
        assert sent == [("PATCH", f"/v1/phone-numbers/{STAGING_NUMBER}", body)]
        held_now = w.get(f"/v1/phone-numbers/{STAGING_NUMBER}")
        assert (held_now["friendlyName"], held_now["inboundAgentId"]) == ("Acme main line", support)
    else:
        body = {"dynamicVariables": {"customer_name": "Michael"}}
        assert sent == [("PATCH", f"/v1/chats/{chat}", body)]
        assert w.get(f"/v1/chats/{chat}")["dynamicVariables"] == {"customer_name": "Michael"}
    assert len(w.agent_names()) == (4 if kind == "agent" else 3)


def step_update(w: World, kind: str) -> None:
    baseline(w, kind)
    k = KINDS[kind]
    k.edit(w)
    text, data = plan(w)
    assert f"~ {k.address}  (update, id " in text
    assert k.shown in text
    others = RESOURCES[kind] - 1
    assert f"Plan: 0 to create, 1 to update, 0 to delete, {others} unchanged." in text
    rp = resource(data, k.address)
    assert (rp["action"], rp["effect"]) == ("update", "update")
    assert effects(data) == {"update": 1, "unchanged": others}
    mark = w.mark()
    applied(w)
    assert w.sent(mark) == [("PATCH", k.path(w), UPDATE_BODY[kind])]
    remote = w.get(k.path(w))
    if kind == "agent":
        assert remote["agentSettings"]["endCallOnSilenceDuration"] == 25
    elif kind == "number":
        assert remote["friendlyName"] == "Acme front line"
    else:
        assert remote["dynamicVariables"] == {"customer_name": "Dwight"}


RENAMES = {
    "agent": ("name: receptionist", "name: front-desk", "agent.front-desk"),
    "number": ("name: main-line", "name: front-line", "phone-number.front-line"),
    "chat": ("name: web", "name: site", "chat.site"),
}


def step_rename(w: World, kind: str) -> None:
    baseline(w, kind)
    k = KINDS[kind]
    old_name, new_name, to = RENAMES[kind]
    ident = w.id(k.address)
    w.project.edit(k.file, old_name, new_name)
    if kind == "agent" and (w.project.root / CHAT_FILE).exists():
        w.project.edit(CHAT_FILE, "agent: receptionist", "agent: front-desk")
    config = w.project.root / "sigmaform.yaml"
    config.write_text(config.read_text() + f"moved:\n  - {{from: {k.address}, to: {to}}}\n")
    text, data = plan(w)
    assert f"> {k.address} -> {to} (moved)" in text
    others = RESOURCES[kind] - 1
    assert f"Plan: 0 to create, 0 to update, 0 to delete, 1 to move, {others} unchanged." in text
    assert f"+ {to}" not in text and f"- {k.address}" not in text
    rp = resource(data, to)
    assert (rp["action"], rp["effect"], rp["movedFrom"]) == ("move", "move", k.address)
    assert rp["id"] == ident and rp["changes"] == []
    assert effects(data) == {"move": 1, "unchanged": others}
    mark = w.mark()
    applied(w)
    assert w.sent(mark) == []  # the move itself sends nothing
    resources = w.project.state("staging")["resources"]
    assert k.address not in resources and resources[to]["id"] == ident
    assert len(w.agent_names()) == 3


def step_remote_edit(w: World, kind: str) -> None:
    baseline(w, kind)
    k = KINDS[kind]
    receptionist, support = w.id("agent.receptionist"), w.id("agent.support")
    edit: dict[str, Any] = {
        "agent": {"agentSettings": {"endCallOnSilenceDuration": 45}},
        "number": {"friendlyName": "Hijacked", "inboundAgentId": receptionist},
        "chat": {"agentId": support},
    }[kind]
    with w.api() as api:  # a person edits it in the dashboard
        changed = api.patch(k.path(w), json=edit)
    assert changed.status_code == 200, changed.text
    drift = w.run("drift")
    assert drift.exit_code == 2, drift.output
    assert k.address in drift.output
    text, data = plan(w)
    assert "Changed outside sigmaform (will be restored on apply):" in text
    assert f"~ {k.address}  (update, id " in text
    others = RESOURCES[kind] - 1
    assert f"Plan: 0 to create, 1 to update, 0 to delete, {others} unchanged." in text
    rp = resource(data, k.address)
    assert (rp["action"], rp["effect"]) == ("update", "update") and rp["drift"]
    assert effects(data) == {"update": 1, "unchanged": others}
    assert data["summary"]["drifted"] == 1
    restore: dict[str, Any] = {
        "agent": {"agentSettings": {"endCallOnSilenceDuration": 20}},
        "number": {"friendlyName": "Acme main line", "inboundAgentId": support},
        "chat": {"agentId": receptionist},
    }[kind]
    mark = w.mark()
    applied(w)
    assert w.sent(mark) == [("PATCH", k.path(w), restore)]
    remote = w.get(k.path(w))
    if kind == "agent":
        assert remote["agentSettings"]["endCallOnSilenceDuration"] == 20
    elif kind == "number":
        assert (remote["friendlyName"], remote["inboundAgentId"]) == ("Acme main line", support)
    else:
        assert remote["agent"]["agentId"] == receptionist
    assert w.run("drift").exit_code == 0


def step_remote_delete(w: World, kind: str) -> None:
    baseline(w, kind)
    if kind == "agent":
        return _agent_deleted_in_the_dashboard(w)
    k = KINDS[kind]
    what = f"PhoneNumber {STAGING_NUMBER}" if kind == "number" else f"Chat {w.id(k.address)}"
    gone = STAGING_NUMBER if kind == "number" else w.id(k.address)
    w.forget_remotely("phone_numbers" if kind == "number" else "chats", gone)
    mark = w.mark()
    for args in (("plan",), ("plan", "--format", "json"), ("apply", "--auto-approve")):
        failed = w.run(*args)
        assert failed.exit_code == 1, failed.output
        assert f"{k.address}: {what} does not exist in this workspace" in failed.output
        assert "Traceback" not in failed.output
    assert w.sent(mark) == []
    if kind == "number":
        # Imported again in the dashboard: the next apply routes it as declared.
        with w.api() as api:
            again = api.post(
                "/v1/phone-numbers/import",
                json={"phoneNumber": STAGING_NUMBER, "friendlyName": "re-imported"},
            )
        assert again.status_code == 200, again.text
        text, _ = plan(w)
        assert 'friendlyName: "re-imported" -> "Acme main line"' in text
        mark = w.mark()
        applied(w)
        body = {"friendlyName": "Acme main line", "inboundAgentId": w.id("agent.support")}
        assert w.sent(mark) == [("PATCH", k.path(w), body)]
    else:
        # A new session is declared in its place: adopted; the purged one is forgotten.
        fresh = new_chat(w, variables={"customer_name": "Michael"})
        write_chat(w, fresh)
        text, data = plan(w)
        assert "+ chat.web  (adopt)" in text
        assert (
            f"note: the file now names Chat {fresh}; state had Chat {gone}, which is no "
            "longer managed and is left as it is"
        ) in text
        assert "Plan: 0 to create, 1 to adopt, 0 to update, 0 to delete, 4 unchanged." in text
        assert effects(data) == {"adopt": 1, "unchanged": 4}
        mark = w.mark()
        applied(w)
        assert w.sent(mark) == []  # it already holds what the file declares
        assert w.id(k.address) == fresh


def _agent_deleted_in_the_dashboard(w: World) -> None:
    """Re-created (once, no namesake), and the number routed to it follows."""
    old = w.id("agent.support")
    with w.api() as api:
        assert api.delete(f"/v1/agents/{old}").status_code == 204
    text, data = plan(w)
    assert "+ agent.support  (create)" in text
    assert "note: deleted outside sigmaform: it will be created again" in text
    assert f"~ phone-number.main-line  (update, id {STAGING_NUMBER})" in text
    assert 'inboundAgent: "support" -> "support"  (known after apply)' in text
    assert "Plan: 1 to create, 1 to update, 0 to delete, 2 unchanged." in text
    assert (resource(data, "agent.support")["effect"]) == "create"
    assert effects(data) == {"create": 1, "update": 1, "unchanged": 2}
    mark = w.mark()
    applied(w)
    new = w.id("agent.support")
    sent = w.sent(mark)
    assert [(m, p) for m, p, _ in sent] == [
        ("POST", "/v1/agents"),
        ("PATCH", f"/v1/phone-numbers/{STAGING_NUMBER}"),
    ]
    assert sent[1][2] == {"inboundAgentId": new}
    assert w.get(f"/v1/phone-numbers/{STAGING_NUMBER}")["inboundAgentId"] == new
    assert w.agent_names().count("Acme Support (staging)") == 1


def step_import(w: World, kind: str) -> None:
    """Agent: `import` then a clean plan. Number and chat: adopting an object that already
    holds the declared values is recorded in state and sends nothing."""
    if kind == "agent":
        baseline(w, kind)
        with w.api() as api:
            made = api.post("/v1/agents", json={"agentName": "Billing Desk", "instructions": "Hi."})
        assert made.status_code == 201, made.text
        agent_id = made.json()["agentId"]
        mark = w.mark()
        result = w.run("import", agent_id, "--name", "billing")
        assert result.exit_code == 0, result.output
        assert w.sent(mark) == []
        written = yaml.safe_load((w.project.root / "agents/billing.yaml").read_text())
        assert written["only"] == ["staging"]
        assert w.id("agent.billing") == agent_id
        assert w.agent_names().count("Billing Desk") == 1
        return
    k = KINDS[kind]
    number_file = w.project.root / KINDS["number"].file
    held = number_file.read_text()
    number_file.unlink()
    baseline(w, "agent")
    support = w.id("agent.support")
    if kind == "number":
        with w.api() as api:
            routed = {"friendlyName": "Acme main line", "inboundAgentId": support}
            assert api.patch(k.path(w), json=routed).status_code == 200
        number_file.write_text(held)
    else:
        number_file.write_text(held)
        applied(w)
        chat = new_chat(w, variables={"customer_name": "Michael"})
        write_chat(w, chat)
    text, data = plan(w)
    assert f"+ {k.address}  (adopt)" in text
    others = RESOURCES[kind] - 1
    summary = f"Plan: 0 to create, 1 to adopt, 0 to update, 0 to delete, {others} unchanged."
    assert summary in text
    rp = resource(data, k.address)
    assert (rp["action"], rp["effect"]) == ("create", "adopt")
    assert effects(data) == {"adopt": 1, "unchanged": others}
    mark = w.mark()
    applied(w)
    assert w.sent(mark) == []  # it already holds what the files declare
    assert k.address in w.project.state("staging")["resources"]


def step_promote(w: World, kind: str) -> None:
    """staging -> prod (promoteFrom): the gate passes, prod gets exactly the change."""
    baseline(w, "agent")
    promoted(w)
    clean(w, "prod")
    k = KINDS[kind]
    if kind == "chat":
        write_chat(w, new_chat(w), prod_chat=new_chat(w, "prod"))
    else:
        k.edit(w)
    applied(w)
    result = w.run("promote", "--to", "prod")
    assert result.exit_code == 0, result.output
    assert "Promotion gate passed" in result.output
    if kind == "chat":
        assert "+ chat.web  (adopt)" in result.output
        assert "Plan: 0 to create, 1 to adopt, 0 to update, 0 to delete, 4 unchanged." in (
            result.output
        )
    else:
        assert f"~ {k.address}  (update, id " in result.output and k.shown in result.output
        assert "Plan: 0 to create, 1 to update, 0 to delete, 3 unchanged." in result.output
    mark = w.mark()
    promoted(w)
    body = (
        {"dynamicVariables": {"customer_name": "Michael"}} if kind == "chat" else UPDATE_BODY[kind]
    )
    assert w.sent(mark) == [("PATCH", k.path(w, "prod"), body)]
    remote = w.get(k.path(w, "prod"), "prod")
    if kind == "agent":
        assert remote["agentSettings"]["endCallOnSilenceDuration"] == 25
    elif kind == "number":
        assert remote["friendlyName"] == "Acme front line"
    else:
        assert remote["agent"]["agentId"] == w.id("agent.receptionist", "prod")
    clean(w, "prod")


def step_destroy(w: World, kind: str) -> None:
    w.project.edit("agents/support.yaml", PROTECTED, "protect: false  #")
    baseline(w, kind)
    k = KINDS[kind]
    ident = w.id(k.address)
    text, data = plan(w, "--destroy")
    forgotten = 1 if kind == "agent" else 2 if kind == "chat" else 1
    if kind == "agent":
        assert f"  - {k.address}  (delete, id {ident})" in text
    else:
        assert f"  - {k.address}  (forget: left remotely, removed from state" in text
    summary = f"Plan: 0 to create, 0 to update, 3 to delete, {forgotten} to forget, 0 unchanged."
    assert summary in text
    rp = resource(data, k.address)
    assert rp["effect"] == ("delete" if kind == "agent" else "forget")
    assert effects(data) == {"delete": 3, "forget": forgotten}
    mark = w.mark()
    result = w.run("destroy", "--auto-approve")
    assert result.exit_code == 0, result.output
    assert f"Destroy complete: 3 deleted, {forgotten} forgotten." in result.output
    sent = w.sent(mark)
    assert len(sent) == 3 and {(m, p.rsplit("/", 1)[0]) for m, p, _ in sent} == {
        ("DELETE", "/v1/agents")
    }
    assert w.agent_names() == []
    assert w.project.state("staging")["resources"] == {}
    if kind != "agent":  # adopted objects are left where they were
        assert w.get(k.path(w) if kind == "number" else f"/v1/chats/{ident}")
    again = w.run("plan", "--destroy", "--detailed-exitcode")
    assert again.exit_code == 0 and "No changes." in again.output
    # The files build the environment again from empty state; the chat is adopted again,
    # now answered by the new receptionist.
    applied(w)
    if kind == "chat":
        assert w.get(f"/v1/chats/{ident}")["agent"]["agentId"] == w.id("agent.receptionist")


def step_wrong_key(w: World, kind: str) -> None:
    """Another workspace's key: refused (exit 3) before anything is sent; the right key
    then applies the pending change alone."""
    baseline(w, kind)
    k = KINDS[kind]
    k.edit(w)
    w.monkeypatch.setenv("SIGMAMIND_API_KEY_STAGING", PROD_KEY)
    mark = w.mark()
    for args in (("plan",), ("plan", "--format", "json"), ("apply", "--auto-approve")):
        refused = w.run(*args)
        assert refused.exit_code == 3, refused.output
        assert refused.stdout == ""
        assert "environment `staging`" in refused.output
        assert "with the API key from SIGMAMIND_API_KEY_STAGING" in refused.output
        assert PROD_KEY not in refused.output and STAGING_KEY not in refused.output
    assert w.sent(mark) == []
    assert w.agent_names("prod") == []
    assert w.get(f"/v1/phone-numbers/{PROD_NUMBER}", "prod")["friendlyName"] == "prod line"
    w.monkeypatch.setenv("SIGMAMIND_API_KEY_STAGING", STAGING_KEY)
    mark = w.mark()
    applied(w)
    assert w.sent(mark) == [("PATCH", k.path(w), UPDATE_BODY[kind])]


STEPS: dict[str, Callable[[World, str], None]] = {
    "create": step_create,
    "update": step_update,
    "rename": step_rename,
    "remote-edit": step_remote_edit,
    "remote-delete": step_remote_delete,
    "import": step_import,
    "promote": step_promote,
    "destroy": step_destroy,
    "wrong-key": step_wrong_key,
}
# Over a real socket: every Agent step, and each kind's remote edit, remote delete and
# wrong key (what the API itself answers); the rest in process.
OVER_SOCKET = {("agent", s) for s in STEPS} | {
    (k, s) for k in KINDS for s in ("remote-edit", "remote-delete", "wrong-key")
}
CASES = [
    pytest.param(
        kind, step, id=f"{kind}-{step}-{'socket' if (kind, step) in OVER_SOCKET else 'in-process'}"
    )
    for kind in KINDS
    for step in STEPS
]


@pytest.mark.parametrize(("kind", "step"), CASES)
def test_lifecycle(
    kind: str, step: str, tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    socket = (kind, step) in OVER_SOCKET
    with world(tmp_path / "project", repo_root, monkeypatch, socket) as w:
        STEPS[step](w, kind)
        clean(w)


def test_a_number_swapped_in_the_file_is_adopted_and_the_old_one_left(
    tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new `phoneNumber` for a managed number: the plan shows the new number adopted
    (with its live values), apply writes that number and no other, state follows."""
    spare = "+14155550125"
    with world(tmp_path / "project", repo_root, monkeypatch, socket=False) as w:
        baseline(w, "number")
        support = w.id("agent.support")
        EmulatorApp(data_dir=w.project.emulator_dir).seed_phone_number(STAGING_KEY, spare, "spare")
        w.project.edit("numbers/main-line.yaml", f'"{STAGING_NUMBER}"', f'"{spare}"')
        # A pending change of the files, not drift: the old number is as last applied.
        drift = w.run("drift")
        assert drift.exit_code == 0, drift.output
        text, data = plan(w)
        assert "+ phone-number.main-line  (adopt)" in text
        assert 'friendlyName: "spare" -> "Acme main line"' in text
        assert 'inboundAgent: null -> "support"' in text
        assert (
            f"note: the file now names PhoneNumber {spare}; state had PhoneNumber "
            f"{STAGING_NUMBER}, which is no longer managed and is left as it is"
        ) in text
        assert "Plan: 0 to create, 1 to adopt, 0 to update, 0 to delete, 3 unchanged." in text
        rp = resource(data, "phone-number.main-line")
        assert (rp["action"], rp["effect"], rp["id"]) == ("create", "adopt", spare)
        mark = w.mark()
        applied(w)
        body = {"friendlyName": "Acme main line", "inboundAgentId": support}
        assert w.sent(mark) == [("PATCH", f"/v1/phone-numbers/{spare}", body)]
        assert w.id("phone-number.main-line") == spare
        now = w.get(f"/v1/phone-numbers/{spare}")
        assert (now["friendlyName"], now["inboundAgentId"]) == ("Acme main line", support)
        clean(w)


@pytest.mark.parametrize("socket", [False, True], ids=["in-process", "socket"])
def test_destroy_with_a_wrong_key_is_refused_before_anything_is_sent(
    socket: bool, tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its deletes would answer 404 in the other workspace and state would forget the
    agents, leaving them live and unmanaged where they really are."""
    with world(tmp_path / "project", repo_root, monkeypatch, socket) as w:
        w.project.edit("agents/support.yaml", PROTECTED, "protect: false  #")
        baseline(w, "agent")
        state = w.project.state("staging")
        monkeypatch.setenv("SIGMAMIND_API_KEY_STAGING", PROD_KEY)
        mark = w.mark()
        refused = w.run("destroy", "--auto-approve")
        assert refused.exit_code == 3, refused.output
        assert (
            "environment `staging`: 3 of 3 managed resources are missing remotely "
            "(agent.appointment-reminder, agent.receptionist, agent.support) with the API key "
            "from SIGMAMIND_API_KEY_STAGING" in refused.output
        )
        assert "remove them from state with `sigmaform" in refused.output
        assert PROD_KEY not in refused.output and STAGING_KEY not in refused.output
        assert w.sent(mark) == []
        assert w.project.state("staging") == state
        assert len(w.agent_names("staging")) == 3
        monkeypatch.setenv("SIGMAMIND_API_KEY_STAGING", STAGING_KEY)
        done = w.run("destroy", "--auto-approve")
        assert done.exit_code == 0, done.output
        assert w.agent_names("staging") == []
        again = w.run("plan", "--destroy", "--detailed-exitcode")
        assert again.exit_code == 0, again.output


def test_apply_without_refresh_and_a_wrong_key_creates_nothing(
    tmp_path: Path, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with world(tmp_path / "project", repo_root, monkeypatch, socket=False) as w:
        baseline(w, "agent")
        (w.project.root / "agents" / "billing.yaml").write_text(BILLING_YAML)
        monkeypatch.setenv("SIGMAMIND_API_KEY_STAGING", PROD_KEY)
        mark = w.mark()
        refused = w.run("apply", "--auto-approve", "--no-refresh")
        assert refused.exit_code == 3, refused.output
        assert w.sent(mark) == []
        assert w.agent_names("prod") == []
        # The one read was the canary: a managed agent, which this key cannot see.
        assert "missing remotely" in refused.output and "--allow-recreate" in refused.output
        assert PROD_KEY not in refused.output
        # With the right key the same apply goes ahead and creates the agent once.
        monkeypatch.setenv("SIGMAMIND_API_KEY_STAGING", STAGING_KEY)
        done = w.run("apply", "--auto-approve", "--no-refresh")
        assert done.exit_code == 0, done.output
        assert w.agent_names("prod") == []
