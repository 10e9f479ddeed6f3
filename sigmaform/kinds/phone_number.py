"""PhoneNumber: an existing number's routing, `PATCH /v1/phone-numbers/{number}`.

The docs show no GET for one number: `GET /v1/phone-numbers/{number}` is tried and a
404/405 falls back to scanning the list. The docs' object carries `sipPhoneNumber` and no
`phoneNumber`, so the list is keyed by `sipPhoneNumber` and either names the number.
"""

from __future__ import annotations

from typing import Any

from sigmaform.errors import ApiError
from sigmaform.kinds.base import MISSING, Api, Kind, as_object


class PhoneNumberKind(Kind):
    def get(
        self, api: Api, remote_id: str, params: dict[str, str] | None = None
    ) -> dict[str, Any] | None:
        path = self.item_path(remote_id)
        try:
            result = api.request("GET", path, missing_ok=True)
        except ApiError as error:
            if error.status != 405:
                raise
            result = MISSING
        if result is not MISSING:
            return as_object(result, "GET", path)
        # No GET for one number in the docs: a 404 may mean "no such route", so scan the list.
        for item in self.list(api):
            if remote_id in (item.get("phoneNumber"), item.get("sipPhoneNumber")):
                return item
        return None


PHONE_NUMBER = PhoneNumberKind(
    name="PhoneNumber",
    prefix="phone-number",
    schema="phone-number.schema.json",
    id_field="phoneNumber",
    creatable=False,
    deletable=False,
    path="/v1/phone-numbers",
    identity_field="phoneNumber",
    unique_field="phoneNumber",
    references={
        "inboundAgent": ("Agent", "inboundAgentId"),
        "outboundAgent": ("Agent", "outboundAgentId"),
    },
    server_owned=frozenset({"sipPhoneNumber", "provider", "active", "createdAt", "updatedAt"}),
    order=1,
    identity_aliases=("sipPhoneNumber",),
    list_id_field="sipPhoneNumber",
)
