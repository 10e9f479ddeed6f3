"""Test cases (sigmamind-tests-api.md A.1.1): create, list, get, replace with PUT, delete.

Every test case belongs to one agent and every read, PUT and delete names that agent
(`agentId`, in the query or the PUT body); a test case asked for under another agent is
not found. The docs show no delete page: `DELETE /v1/test-cases/{id}?agentId=` is the
inferred path, the one `sigmaform doctor` checks.
"""

from __future__ import annotations

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
    public,
)

COLLECTION = "test_cases"
_OPTIONAL = {"label": "string", "llmModel": "string", "mockData": "array", "attempt": "integer"}


def _checked(ctx: Context, body: JsonObject) -> JsonObject:
    """The test case fields of a create or PUT body (PUT replaces the whole object)."""
    agent_id = check_string(required(body, "agentId"), "agentId", min_len=1, max_len=64)
    if not ctx.ws.exists("agents", agent_id):
        raise bad_request(f"agentId: no agent with id {agent_id!r}")
    fields: JsonObject = {
        "agentId": agent_id,
        "userPrompt": check_string(required(body, "userPrompt"), "userPrompt", min_len=1),
        "successCriteria": check_string(
            required(body, "successCriteria"), "successCriteria", min_len=1
        ),
    }
    for name, expected in _OPTIONAL.items():
        if body.get(name) is not None:
            check_type(body[name], expected, name)
            fields[name] = body[name]
    if "attempt" in fields and fields["attempt"] < 1:
        raise bad_request("attempt: must be at least 1")
    for index, item in enumerate(fields.get("mockData", [])):
        where = f"mockData[{index}]"
        check_type(item, "object", where)
        name = required(item, "variableName", f"{where}.")
        check_string(name, f"{where}.variableName", min_len=1)
    return fields


def _present(ctx: Context, case: JsonObject) -> JsonObject:
    agent = ctx.ws.get("agents", case["agentId"])
    summary: dict[str, Any] = {"agentId": case["agentId"]}
    if agent is not None:
        summary.update(name=agent["agentName"], status=agent["status"])
    return {**public(case), "workspaceId": ctx.ws.workspace_id, "agent": summary}


def _get(ctx: Context, case_id: str, agent_id: str | None) -> JsonObject:
    if not agent_id:
        raise bad_request("agentId is required")
    case = ctx.ws.get(COLLECTION, case_id)
    if case is None or case["agentId"] != agent_id:
        raise not_found(f"no test case with id {case_id!r} for agent {agent_id!r}")
    return case


def create_case(ctx: Context, request: Request, _: str) -> Response:
    fields = _checked(ctx, request.json_object())
    with ctx.ws.locked():
        case_id = ctx.ids.new("tc_", lambda i: ctx.ws.exists(COLLECTION, i))
        case = {"testCaseId": case_id, **fields, "createdAt": now_iso()}
        ctx.ws.put(COLLECTION, case_id, case)
    return Response(201, _present(ctx, case))


def list_cases(ctx: Context, request: Request, _: str) -> Response:
    agent_id = request.query.get("agentId")
    if not agent_id:
        raise bad_request("agentId is required")
    # The (old) list page answers a bare array, not the paginated wrapper.
    cases = [c for c in ctx.ws.all(COLLECTION) if c["agentId"] == agent_id]
    return Response(200, [_present(ctx, c) for c in cases])


def get_case(ctx: Context, request: Request, case_id: str) -> Response:
    return Response(200, _present(ctx, _get(ctx, case_id, request.query.get("agentId"))))


def put_case(ctx: Context, request: Request, case_id: str) -> Response:
    body = request.json_object()
    fields = _checked(ctx, body)
    with ctx.ws.locked():
        old = _get(ctx, case_id, fields["agentId"])
        case = {"testCaseId": case_id, **fields, "createdAt": old.get("createdAt", now_iso())}
        ctx.ws.put(COLLECTION, case_id, case)
    return Response(200, _present(ctx, case))


def delete_case(ctx: Context, request: Request, case_id: str) -> Response:
    with ctx.ws.locked():
        _get(ctx, case_id, request.query.get("agentId"))
        ctx.ws.delete(COLLECTION, case_id)
    return Response(204)


ROUTES = [
    Route(r"/v1/test-cases", {"GET": list_cases, "POST": create_case}),
    Route(r"/v1/test-cases/([^/]+)", {"GET": get_case, "PUT": put_case, "DELETE": delete_case}),
]
