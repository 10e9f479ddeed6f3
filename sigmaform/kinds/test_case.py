"""TestCase: a simulation test of one agent, `/v1/test-cases` (sigmamind-tests-api.md A.1.1).

Every call names the agent the test case belongs to (`agentId`: in the query of each
call, and in the body of a create or PUT), so each environment's copy belongs to that
environment's agent and is read under it. An update is a `PUT` of the whole object.

`mockData` is a map in YAML and `[{variableName, value}]` on the wire; turned into a
map on the way back, so its order never shows as a change.

The list answers a bare array in the old docs and may answer the paged wrapper: the
client reads either. The docs show no delete page; `DELETE /v1/test-cases/{id}?agentId=`
is assumed here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sigmaform.errors import ApiError
from sigmaform.kinds.base import Api, Kind, as_object
from sigmaform.sensitive import reveal_tree


def mock_data_to_wire(value: Any) -> Any:
    """`{name: value}` -> `[{variableName, value}]`, by name (a stable body)."""
    if not isinstance(value, Mapping):
        return value
    return [{"variableName": k, "value": value[k]} for k in sorted(value)]


def mock_data_from_wire(value: Any) -> Any:
    """`[{variableName, value}]` -> `{name: value}`; left as it is unless every item is
    a well-formed pair with its own name (a malformed list then shows as a change)."""
    if not isinstance(value, list):
        return value
    out: dict[str, Any] = {}
    for item in value:
        if not isinstance(item, Mapping) or not isinstance(item.get("variableName"), str):
            return value
        if item["variableName"] in out:
            return value
        out[item["variableName"]] = item.get("value")
    return out


class TestCaseKind(Kind):
    # Not a pytest test class, whatever its name says.
    __test__ = False

    def to_wire(self, body: dict[str, Any]) -> dict[str, Any]:
        if "mockData" not in body:
            return body
        return {**body, "mockData": mock_data_to_wire(body["mockData"])}

    def from_wire(self, body: dict[str, Any]) -> dict[str, Any]:
        if "mockData" not in body:
            return body
        return {**body, "mockData": mock_data_from_wire(body["mockData"])}

    def create(
        self, api: Api, body: dict[str, Any], params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """Create a test case; a lost response is resolved by looking it up, not resent.

        The API has no idempotency key and no name to look for: the agent's test cases
        are listed and exactly one with the prompt, criteria and label we sent is ours
        (two alike: refused, rather than make a third); none means it was not created.
        """
        sent = reveal_tree(body)
        fields = ("userPrompt", "successCriteria", "label")

        def recover() -> dict[str, Any] | None:
            same = [
                c for c in self.list(api, params) if all(c.get(f) == sent.get(f) for f in fields)
            ]
            if len(same) > 1:
                raise ApiError(
                    "POST",
                    self.path,
                    None,
                    f"the response to creating test case {sent.get('label') or ''!r} was lost"
                    f" and {len(same)} alike exist for its agent; refusing to create another",
                )
            return same[0] if same else None

        result = api.request(
            "POST", self.path, params=params or None, body=self.to_wire(body), recover=recover
        )
        created = self.from_wire(as_object(result, "POST", self.path))
        if not isinstance(created.get(self.id_field), str) or not created[self.id_field]:
            raise ApiError(
                "POST",
                self.path,
                None,
                "the server answered the create of a test case without its `testCaseId`",
            )
        return created


TEST_CASE = TestCaseKind(
    name="TestCase",
    prefix="test-case",
    schema="test-case.schema.json",
    id_field="testCaseId",
    creatable=True,
    deletable=True,
    path="/v1/test-cases",
    references={"agent": ("Agent", "agentId")},
    reference_objects={"agent": "agentId"},
    server_owned=frozenset(
        {"testCaseId", "workspaceId", "createdAt", "updatedAt", "createdDate", "status"}
    ),
    order=1,  # after the agent it belongs to; deleted before it
    update_verb="PUT",
    whole_updates=True,
    verify_by_read=True,
    import_order=(
        "agent",
        "label",
        "userPrompt",
        "successCriteria",
        "llmModel",
        "mockData",
        "attempt",
    ),
    scope={"agentId": "agent"},
)
