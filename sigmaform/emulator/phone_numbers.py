"""Phone numbers: import (bring your own SIP), list, get and patch agent assignments."""

from __future__ import annotations

from typing import Any

from sigmaform.emulator.context import Context
from sigmaform.emulator.validation import (
    E164,
    check_e164,
    check_string,
    check_type,
    required,
)
from sigmaform.emulator.wire import (
    JsonObject,
    Request,
    Response,
    Route,
    bad_request,
    conflict,
    not_found,
    paginate,
    public,
)

COLLECTION = "phone_numbers"
AGENT_FIELDS = ("inboundAgentId", "outboundAgentId")
# Stored but never returned: trunk credentials.
PRIVATE_FIELDS = ("trunkUsername", "trunkPassword")


def _agent_ref(ctx: Context, value: Any, field: str) -> str | None:
    if value is None:
        return None
    agent_id = check_string(value, field, min_len=1, max_len=64)
    if not ctx.ws.exists("agents", agent_id):
        raise bad_request(f"{field}: no agent with id {agent_id!r}")
    return agent_id


def _check_common(ctx: Context, body: JsonObject, fields: JsonObject) -> None:
    """Fields import and update share; checked values are copied into `fields`."""
    if "friendlyName" in body:
        fields["friendlyName"] = check_string(body["friendlyName"], "friendlyName", max_len=128)
    for name in AGENT_FIELDS:
        if name in body:
            fields[name] = _agent_ref(ctx, body[name], name)
    for name in PRIVATE_FIELDS:
        if name in body:
            fields[name] = check_string(body[name], name, max_len=128)
    if body.get("outboundPhoneNumber") is not None:
        fields["outboundPhoneNumber"] = check_e164(
            body["outboundPhoneNumber"], "outboundPhoneNumber"
        )


def _present(number: JsonObject) -> JsonObject:
    # The docs' PhoneNumber object names the number `sipPhoneNumber` only (sigmamind-api.md
    # 2.8); `phoneNumber` is a request field. Stored under both, answered as documented.
    hidden = (*PRIVATE_FIELDS, "phoneNumber")
    return {k: v for k, v in public(number).items() if k not in hidden}


def import_number(ctx: Context, body: JsonObject) -> JsonObject:
    """What `POST /v1/phone-numbers/import` does; also the emulator's seeding helper."""
    number = check_e164(required(body, "phoneNumber"), "phoneNumber")
    fields: JsonObject = {}
    _check_common(ctx, body, fields)
    uri = body.get("terminationSipURI", body.get("terminationSipUri"))
    if uri is not None:
        check_string(uri, "terminationSipURI", max_len=253)
    with ctx.ws.locked():
        if ctx.ws.exists(COLLECTION, number):
            raise conflict(f"phone number {number} already exists in this workspace")
        record = {
            "phoneNumber": number,
            "sipPhoneNumber": number,
            "friendlyName": fields.get("friendlyName", ""),
            "inboundAgentId": fields.get("inboundAgentId"),
            "outboundAgentId": fields.get("outboundAgentId"),
            "outboundPhoneNumber": fields.get("outboundPhoneNumber"),
            "provider": "byo",
            "active": True,
            "terminationSipURI": uri,
            **{k: fields[k] for k in PRIVATE_FIELDS if k in fields},
        }
        ctx.ws.put(COLLECTION, number, record)
    return _present(record)


def create_import(ctx: Context, request: Request, _: str) -> Response:
    return Response(200, import_number(ctx, request.json_object()))


def list_numbers(ctx: Context, request: Request, _: str) -> Response:
    return Response(200, paginate(ctx.ws.all(COLLECTION), request.query, _present))


def _number_from_path(raw: str) -> str:
    # A literal `+` in a path may reach us as a space (form-style decoding by some clients).
    number = "+" + raw[1:] if raw.startswith(" ") else raw
    if not E164.fullmatch(number):
        raise not_found(f"no phone number {raw!r}")
    return number


def _get(ctx: Context, raw: str) -> JsonObject:
    number = _number_from_path(raw)
    record = ctx.ws.get(COLLECTION, number)
    if record is None:
        raise not_found(f"no phone number {number} in this workspace")
    return record


def get_number(ctx: Context, request: Request, raw: str) -> Response:
    # Not in the public docs (no get page was found); convenient for tests and refresh.
    return Response(200, _present(_get(ctx, raw)))


def patch_number(ctx: Context, request: Request, raw: str) -> Response:
    """Omitted fields stay; `null` for an agent id removes that assignment."""
    body = request.json_object()
    fields: JsonObject = {}
    _check_common(ctx, body, fields)
    # The update page spells it `terminationSipUri`; responses say `terminationSipURI`.
    for spelling in ("terminationSipUri", "terminationSipURI"):
        if spelling in body:
            value = body[spelling]
            if value is not None:
                check_type(value, "string", spelling)
                check_string(value, spelling, max_len=253)
            fields["terminationSipURI"] = value
    with ctx.ws.locked():
        record = _get(ctx, raw)
        record.update(fields)
        ctx.ws.put(COLLECTION, record["phoneNumber"], record)
    return Response(200, _present(record))


ROUTES = [
    Route(r"/v1/phone-numbers", {"GET": list_numbers}),
    Route(r"/v1/phone-numbers/import", {"POST": create_import}),
    Route(r"/v1/phone-numbers/([^/]+)", {"GET": get_number, "PATCH": patch_number}),
]
