"""Apply holds long `!file` texts by digest and reads them again when it needs them.

What a user sees must not change: the plan apply shows is the one `plan` shows, the
request carries the whole text, state keeps it out of line. And a prompt edited after the
plan was shown is never sent in place of the one shown.
"""

from __future__ import annotations

import pytest
from conftest import Project
from test_cli_hints import apply_on_a_terminal

from sigmaform import operations
from sigmaform.apply import Outcome

SUPPORT_PROMPT = "agents/prompts/support.md"


def _posts(example: Project) -> list[dict[str, object]]:
    return [e for e in example.writes() if e["method"] == "POST"]


def test_apply_shows_the_plan_that_plan_shows_and_sends_each_whole_text(
    example: Project,
) -> None:
    planned = example.run("plan", "--no-color")
    assert planned.exit_code == 0, planned.output
    applied = example.run("apply", "--auto-approve", "--no-color")
    assert applied.exit_code == 0, applied.output
    # Every line of the plan (the prompts' text included) as `plan` printed it.
    plan_part = planned.output.split("\nPlan: ")[0]
    assert plan_part in applied.output
    prompt = (example.root / SUPPORT_PROMPT).read_text()
    assert len(prompt.encode()) > 256  # long enough to be held by digest
    sent = [p["body"] for p in _posts(example) if "Acme Support" in str(p["body"])]
    assert len(sent) == 1
    assert sent[0]["instructions"] == prompt
    again = example.run("plan", "--no-color", "--detailed-exitcode")
    assert again.exit_code == 0, again.output


def test_a_prompt_edited_at_the_prompt_is_not_sent(example: Project) -> None:
    path = example.root / SUPPORT_PROMPT
    shown = path.read_text()

    def edit() -> None:
        path.write_text(shown + "\nA line added after the plan was shown.\n")

    code, output = apply_on_a_terminal(example, "yes\n", before_answer=edit)
    assert code == 1, output
    assert (
        f"agent.support: failed: {SUPPORT_PROMPT}: the file changed (or is gone) since "
        "sigmaform read it for this plan; nothing was sent from it: run the command again"
    ) in output
    # The others were created; nothing was sent for support, in either version.
    assert not any("Acme Support" in str(p["body"]) for p in _posts(example))
    assert "agent.support" not in example.state()["resources"]
    assert len(example.agents()) == 2
    # The next apply shows and sends the text as it is now.
    again = example.run("apply", "--auto-approve", "--no-color")
    assert again.exit_code == 0, again.output
    assert "+A line added after the plan was shown." in again.output
    sent = [p["body"] for p in _posts(example) if "Acme Support" in str(p["body"])]
    assert [body["instructions"] for body in sent] == [path.read_text()]


def test_a_prompt_removed_before_it_is_sent_fails_that_agent_alone(example: Project) -> None:
    path = example.root / SUPPORT_PROMPT
    code, output = apply_on_a_terminal(example, "yes\n", before_answer=path.unlink)
    assert code == 1, output
    assert f"agent.support: failed: {SUPPORT_PROMPT}: the file changed (or is gone)" in output
    assert not any("Acme Support" in str(p["body"]) for p in _posts(example))
    assert len(example.agents()) == 2


def test_a_prompt_edited_after_it_was_sent_is_recorded_as_sent(example: Project) -> None:
    """The state keeps the text the server got, from the journal, even when its file no
    longer holds it by the time the apply writes the state document."""
    from sigmaform.operations import ApplyRequest, apply_project, open_project

    path = example.root / SUPPORT_PROMPT
    sent = path.read_text()

    def edit_once_sent(outcome: Outcome) -> None:
        if outcome.address == "agent.support":
            path.write_text(sent + "\nEdited while the apply was still running.\n")

    project = open_project(example.root, "local", lazy_files=True)
    _, report = apply_project(
        project, ApplyRequest(), confirm=lambda _: True, on_outcome=edit_once_sent
    )
    assert report is not None and not report.failures
    marker = example.state()["resources"]["agent.support"]["applied"]["instructions"]
    blobs = example.root / ".sigmaform" / "state" / "local.json.blobs" / "sha256"
    digest = marker["$blob"].removeprefix("sha256:")
    assert (blobs / digest[:2] / digest[2:]).read_text() == sent
    # The next plan shows the edit as an update of what was sent.
    again = example.run("plan", "--no-color", "--detailed-exitcode")
    assert again.exit_code == 2, again.output
    assert "+Edited while the apply was still running." in again.output


def test_a_project_loaded_with_texts_held_by_digest_has_the_same_config_digests(
    example: Project,
) -> None:
    # promote, import and `test` digest resources too: a prompt held by digest must count
    # by its text there as well, not fail to encode.
    from sigmaform.digest import config_digest, full_config_digest
    from sigmaform.project import load_project
    from sigmaform.spec_text import FileText

    eager = load_project(example.root, "local")
    lazy = load_project(example.root, "local", lazy_files=True)
    assert any(isinstance(v, FileText) for r in lazy.resources for v in r.spec.values())
    for plain, held in zip(eager.resources, lazy.resources, strict=True):
        assert config_digest(held) == config_digest(plain)
        assert full_config_digest(held) == full_config_digest(plain)


def test_a_listing_that_holds_the_files_prompts_shares_them_by_digest(
    example: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # apply holds prompts by digest; an agent listed with the same text holds the same
    # FileText (a 10,000-agent apply would otherwise hold every prompt again: 299 against
    # 207 MB). Refreshed from the listing, an agent changed outside sigmaform to what the
    # files now say shows as drift, is shown and written as text, and needs no update.
    monkeypatch.setattr(operations, "LIST_REFRESH_MIN", 1)  # refresh from the listing
    assert example.run("apply", "--auto-approve").exit_code == 0
    path = example.root / SUPPORT_PROMPT
    edited = path.read_text() + "\nAlways confirm the caller's name.\n"
    path.write_text(edited)
    support = example.state()["resources"]["agent.support"]["id"]
    with example.api() as api:
        assert api.patch(f"/v1/agents/{support}", json={"instructions": edited}).is_success
    before = len(example.journal())
    done = example.run("apply", "--auto-approve", "--no-color")
    assert done.exit_code == 0, done.output
    assert "+Always confirm the caller's name." in done.output  # the drift, as text
    assert not [w for w in example.writes(before) if support in w["path"]]  # nothing sent
    again = example.run("plan", "--detailed-exitcode")
    assert again.exit_code == 0, again.output
