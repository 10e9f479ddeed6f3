"""Batch runs and test runs (sigmamind-tests-api.md A.1.2, A.1.3), judged by `judge.Judge`.

As documented: a batch answers counters (`successfulAttempts`, `failedAttempts`,
`totalAttempts`, the last counting attempts *executed* so far) and its test cases, with no
status field; a finished batch is one whose counters add up to the sum of its cases'
`attempt`. Each attempt is a job with its own `GET /v1/test-runs/{jobId}?batchId=&agentId=`.
The docs offer no way to learn a batch's job ids: only the opt-in `batch_jobs: listed` mode
adds `jobIds` (the attempts completed so far) to a batch's answer.

Every attempt's outcome is fixed when the batch is created; reads reveal them at the
judge's pace. A test case without `attempt` runs once (the docs show no default).
"""

from __future__ import annotations

import time
from typing import Any

from sigmaform.emulator.context import Context
from sigmaform.emulator.validation import check_string, check_type, required
from sigmaform.emulator.wire import (
    JsonObject,
    Request,
    Response,
    Route,
    bad_request,
    not_found,
    now_iso,
    paginate,
    public,
)

COLLECTION = "batch_runs"
TEST_CASES = "test_cases"
# How many attempts each test case has been judged, so p/f sequences continue across batches.
COUNTS = "judge_counts"


def _agent_summary(ctx: Context, agent_id: str) -> JsonObject:
    agent = ctx.ws.get("agents", agent_id)
    summary: JsonObject = {"agentId": agent_id}
    if agent is not None:
        summary.update(name=agent["agentName"], status=agent["status"])
    return summary


def _required_query(request: Request, *names: str) -> list[str]:
    values = []
    for name in names:
        value = request.query.get(name)
        if not value:
            raise bad_request(f"{name} is required")
        values.append(value)
    return values


def _case_snapshot(ctx: Context, case: JsonObject) -> JsonObject:
    return {**public(case), "workspaceId": ctx.ws.workspace_id}


def _judged_so_far(ctx: Context, case_id: str, attempts: int) -> int:
    """The case's count of judged attempts before this batch; counts these ones too."""
    found = ctx.ws.get(COUNTS, case_id) or {"testCaseId": case_id, "judged": 0}
    before = int(found["judged"])
    ctx.ws.put(COUNTS, case_id, {**found, "judged": before + attempts})
    return before


def create_batch(ctx: Context, request: Request, _: str) -> Response:
    body = request.json_object()
    agent_id = check_string(required(body, "agentId"), "agentId", min_len=1, max_len=64)
    if not ctx.ws.exists("agents", agent_id):
        raise bad_request(f"agentId: no agent with id {agent_id!r}")
    ids = required(body, "testCases")
    check_type(ids, "array", "testCases")
    if not ids:
        raise bad_request("testCases must not be empty")
    with ctx.ws.locked():
        cases: list[JsonObject] = []
        for i, case_id in enumerate(ids):
            check_string(case_id, f"testCases[{i}]", min_len=1, max_len=128)
            case = ctx.ws.get(TEST_CASES, case_id)
            if case is None or case["agentId"] != agent_id:
                raise bad_request(
                    f"testCases[{i}]: no test case with id {case_id!r} for agent {agent_id!r}"
                )
            cases.append(case)
        batch_id = ctx.ids.new("batch_", lambda i: ctx.ws.exists(COLLECTION, i))
        created = now_iso()
        jobs: list[JsonObject] = []
        for case in cases:
            attempts = case.get("attempt") or 1
            first = _judged_so_far(ctx, case["testCaseId"], attempts)
            for n in range(attempts):
                jobs.append(
                    {
                        "jobId": ctx.ids.new("job_", lambda _: False),
                        "chatId": ctx.ids.new("chat_", lambda _: False),
                        "testCaseId": case["testCaseId"],
                        "isSuccessful": ctx.judge.outcome(case, first + n),
                        "completedDate": None,
                    }
                )
        batch = {
            "batchId": batch_id,
            "agentId": agent_id,
            "createdDate": created,
            "testCases": [_case_snapshot(ctx, c) for c in cases],
            "_created": time.time(),
            "_reads": 0,
            "_done": 0,
            "_jobs": jobs,
        }
        ctx.ws.put(COLLECTION, batch_id, batch)
    answer = {
        "batchId": batch_id,
        "workspaceId": ctx.ws.workspace_id,
        "agent": _agent_summary(ctx, agent_id),
        "createdDate": created,
    }
    return Response(201, answer)


def _batch_of(ctx: Context, batch_id: str, agent_id: str) -> JsonObject:
    batch = ctx.ws.get(COLLECTION, batch_id)
    if batch is None or batch["agentId"] != agent_id:
        raise not_found(f"no batch run with id {batch_id!r} for agent {agent_id!r}")
    return batch


def _present(ctx: Context, batch: JsonObject) -> JsonObject:
    done = batch["_jobs"][: batch["_done"]]
    successful = sum(1 for job in done if job["isSuccessful"])
    return {
        "batchId": batch["batchId"],
        "workspaceId": ctx.ws.workspace_id,
        "agent": _agent_summary(ctx, batch["agentId"]),
        "createdDate": batch["createdDate"],
        "testCases": batch["testCases"],
        "successfulAttempts": successful,
        "failedAttempts": len(done) - successful,
        # "executed" so far, as its description says: it grows with the other two.
        "totalAttempts": len(done),
        # Only the `batch_jobs: listed` mode lets this through (modes.adjust_response).
        "jobIds": [job["jobId"] for job in done],
    }


def get_batch(ctx: Context, request: Request, batch_id: str) -> Response:
    (agent_id,) = _required_query(request, "agentId")
    with ctx.ws.locked():
        batch = _batch_of(ctx, batch_id, agent_id)
        reads = batch["_reads"] + 1
        elapsed = time.time() - batch["_created"]
        # Never fewer than a read already showed: counters only grow.
        done = max(batch["_done"], ctx.judge.completed(len(batch["_jobs"]), reads, elapsed))
        stamp = now_iso()
        for job in batch["_jobs"][batch["_done"] : done]:
            job["completedDate"] = stamp
        batch.update(_reads=reads, _done=done)
        ctx.ws.put(COLLECTION, batch_id, batch)
    return Response(200, _present(ctx, batch))


def list_batches(ctx: Context, request: Request, _: str) -> Response:
    (agent_id,) = _required_query(request, "agentId")
    # "sorted by most recently created first" (the list page's description)
    mine = [b for b in ctx.ws.all(COLLECTION) if b["agentId"] == agent_id][::-1]
    return Response(200, paginate(mine, request.query, lambda b: _present(ctx, b)))


def get_test_run(ctx: Context, request: Request, job_id: str) -> Response:
    batch_id, agent_id = _required_query(request, "batchId", "agentId")
    batch = _batch_of(ctx, batch_id, agent_id)
    position = next((i for i, j in enumerate(batch["_jobs"]) if j["jobId"] == job_id), None)
    if position is None:
        raise not_found(f"no test run with id {job_id!r} in batch {batch_id!r}")
    job = batch["_jobs"][position]
    case = next(c for c in batch["testCases"] if c["testCaseId"] == job["testCaseId"])
    finished = position < batch["_done"]
    answer: dict[str, Any] = {
        "batchId": batch_id,
        "workspaceId": ctx.ws.workspace_id,
        "agent": _agent_summary(ctx, agent_id),
        "testCase": case,
        "jobId": job_id,
        "chatId": job["chatId"],
        "createdDate": batch["createdDate"],
        "completedDate": job["completedDate"] if finished else None,
        "isSuccessful": job["isSuccessful"] if finished else None,
        "remarks": _remarks(case, job["isSuccessful"]) if finished else None,
        "conversation": _conversation(case, job["isSuccessful"]) if finished else [],
    }
    return Response(200, answer)


def _remarks(case: JsonObject, passed: bool) -> str:
    criteria = " ".join(str(case.get("successCriteria", "")).split())
    if passed:
        return f"The agent met the success criteria: {criteria}"
    return f"The agent did not meet the success criteria: {criteria}"


def _conversation(case: JsonObject, passed: bool) -> list[JsonObject]:
    opening = " ".join(str(case.get("userPrompt", "")).split())
    reply = (
        "I can help with that, and I will follow our policy for it."
        if passed
        else "Sure, that is done for you right now."
    )
    return [
        {"role": "user", "content": opening},
        {"role": "agent", "content": reply},
    ]


ROUTES = [
    Route(r"/v1/batch-runs", {"GET": list_batches, "POST": create_batch}),
    Route(r"/v1/batch-runs/([^/]+)", {"GET": get_batch}),
    Route(r"/v1/test-runs/([^/]+)", {"GET": get_test_run}),
]
