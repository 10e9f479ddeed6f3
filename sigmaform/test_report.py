"""A test run as text, JSON (`schemas/test-report.schema.json`), markdown or JUnit XML.

Pure: strings out, never printed here.
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree

from sigmaform.testrun import CaseResult, RunPlan, RunResult

REPORT_VERSION = 1


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def describe_plan(plan: RunPlan) -> str:
    """What a run will do, printed before anything starts (and all that --dry-run does)."""
    settings = plan.settings
    reruns = ""
    if settings.rerun_failed:
        reruns = f", up to {_count(settings.rerun_failed, 'rerun')} of a failed case"
    lines = [
        f"Testing `{plan.environment}`: {_count(len(plan.cases), 'test case')} of "
        f"{_count(len(plan.agents), 'agent')}, {_count(plan.attempts, 'attempt')} "
        f"(tests.maxAttempts {settings.max_attempts}{reruns})."
    ]
    lines += [
        f"  {c.address}: {_count(c.attempt, 'attempt')}, gate {c.gate.describe()}"
        for c in plan.cases
    ]
    return "\n".join(lines) + "\n"


def _percent(successful: int, attempts: int) -> str:
    return f"{successful / attempts:.0%}" if attempts else "-"


def _counts(case: CaseResult) -> str:
    return f"{case.successful}/{case.attempts} ({_percent(case.successful, case.attempts)})"


def _summary(result: RunResult) -> str:
    if result.verdict == "error":
        count = len(result.errors)
        return f"Tests did not complete: {_count(count, 'case')} in error."
    if result.verdict == "passed":
        return "Test gate passed."
    below = sum(1 for c in result.cases if c.verdict == "failed")
    reasons = []
    if below:
        reasons.append(f"{_count(below, 'case')} below {'its' if below == 1 else 'their'} gate")
    if not result.suite_passed:
        reasons.append("the suite is below tests.minPassRate")
    return f"Test gate failed: {', '.join(reasons)}."


def _suite_line(result: RunResult) -> str:
    minimum = result.plan.settings.min_pass_rate
    line = f"Suite: {result.successful}/{result.attempts} attempts passed"
    line += f" ({_percent(result.successful, result.attempts)})"
    if minimum > 0:
        verdict = "met" if result.suite_passed else "NOT met"
        line += f", tests.minPassRate {minimum:.0%} {verdict}"
    return line + "."


def render_text(result: RunResult) -> str:
    rows = [("CASE", "AGENT", "SUCCESSFUL", "GATE", "VERDICT")]
    for case in result.cases:
        rows.append(
            (
                case.case.address,
                case.case.agent_address,
                _counts(case),
                case.case.gate.describe(),
                case.verdict,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines += ["", _suite_line(result)]
    for case in result.cases:
        if case.failures:
            lines += ["", f"Failed attempts of {case.case.address}:"]
            for run in case.failures:
                lines.append(f"  {run.job_id}: {run.remarks or '(no remarks)'}")
                lines += [f"    {m.role}: {m.content}" for m in run.conversation]
        elif case.verdict == "failed":
            lines += [
                "",
                f"{case.case.address}: the API names no attempts, so only counts are shown "
                f"(batches {', '.join(case.batches)}).",
            ]
    if result.errors:
        lines += ["", "Errors:", *(f"  {c.case.address}: {c.error}" for c in result.errors)]
    if result.skipped_reruns:
        lines += ["", f"{result.skipped_reruns} rerun(s) skipped: tests.maxAttempts reached."]
    lines += ["", _summary(result)]
    return "\n".join(lines) + "\n"


def report_dict(result: RunResult) -> dict[str, Any]:
    settings = result.plan.settings
    return {
        "version": REPORT_VERSION,
        "environment": result.plan.environment,
        "startedAt": result.started_at,
        "verdict": result.verdict,
        "suite": {
            "successful": result.successful,
            "attempts": result.attempts,
            "minPassRate": settings.min_pass_rate,
            "passed": result.suite_passed,
        },
        "skippedReruns": result.skipped_reruns,
        "cases": [
            {
                "address": c.case.address,
                "agent": c.case.agent_address,
                "testCaseId": c.case.case_id,
                "label": c.case.label,
                "gate": c.case.gate.to_dict(),
                "batches": list(c.batches),
                "successful": c.successful,
                "attempts": c.attempts,
                "verdict": c.verdict,
                **({"error": c.error} if c.error else {}),
                "failures": [
                    {
                        "jobId": run.job_id,
                        "chatId": run.chat_id,
                        "remarks": run.remarks,
                        "conversation": [
                            {"role": m.role, "content": m.content} for m in run.conversation
                        ],
                    }
                    for run in c.failures
                ],
            }
            for c in result.cases
        ],
    }


def render_json(result: RunResult) -> str:
    return json.dumps(report_dict(result), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(result: RunResult) -> str:
    icon = {"passed": "✅", "failed": "❌", "error": "⚠️"}
    lines = [
        f"### sigmaform test: `{result.plan.environment}` {icon[result.verdict]}",
        "",
        "| Case | Agent | Successful | Gate | Verdict |",
        "|---|---|---|---|---|",
    ]
    for c in result.cases:
        lines.append(
            f"| `{c.case.address}` | `{c.case.agent_address}` | {_counts(c)} | "
            f"{_cell(c.case.gate.describe())} | {icon[c.verdict]} {c.verdict} |"
        )
    lines += ["", _suite_line(result), ""]
    for c in result.cases:
        if c.error:
            lines += [f"**{c.case.address}**: {_cell(c.error)}", ""]
        for run in c.failures:
            lines += [
                f"<details><summary>{c.case.address} {run.job_id}: {_cell(run.remarks)}</summary>",
                "",
                *(f"- **{m.role}**: {_cell(m.content)}" for m in run.conversation),
                "",
                "</details>",
                "",
            ]
    lines.append(_summary(result))
    return "\n".join(lines) + "\n"


def render_junit(result: RunResult) -> str:
    """One `<testcase>` per test case (its agent as the class), so CI lists them."""
    failures = sum(1 for c in result.cases if c.verdict == "failed")
    suite = ElementTree.Element(
        "testsuite",
        {
            "name": f"sigmaform test {result.plan.environment}",
            "tests": str(len(result.cases)),
            "failures": str(failures),
            "errors": str(len(result.errors)),
            "timestamp": result.started_at,
        },
    )
    for c in result.cases:
        case = ElementTree.SubElement(
            suite, "testcase", {"name": c.case.address, "classname": c.case.agent_address}
        )
        detail = f"{c.successful}/{c.attempts} attempts passed; gate {c.case.gate.describe()}"
        if c.verdict == "error":
            ElementTree.SubElement(case, "error", {"message": c.error}).text = c.error
        elif c.verdict == "failed":
            body = [detail]
            for run in c.failures:
                body.append(f"{run.job_id}: {run.remarks}")
                body += [f"  {m.role}: {m.content}" for m in run.conversation]
            failure = ElementTree.SubElement(case, "failure", {"message": detail})
            failure.text = "\n".join(body)
        out = ElementTree.SubElement(case, "system-out")
        out.text = f"{detail}; batches {', '.join(c.batches) or 'none'}"
    suites = ElementTree.Element("testsuites")
    suites.append(suite)
    ElementTree.indent(suites)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        + ElementTree.tostring(suites, encoding="unicode")
        + "\n"
    )


RENDERERS = {"text": render_text, "json": render_json, "markdown": render_markdown}

__all__ = ["RENDERERS", "describe_plan", "render_junit", "report_dict"]
