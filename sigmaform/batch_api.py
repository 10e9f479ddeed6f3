"""Batch runs and test runs of the SigmaMind API (sigmamind-tests-api.md A.1.2, A.1.3).

Through the client's one request path (its retries, deadlines and error messages). What the
docs leave open, read conservatively and kept here:

* A batch has no status: it is finished when `successfulAttempts + failedAttempts` equals
  the attempts its cases asked for. `totalAttempts` is "executed" so far and not trusted
  as the goal.
* A batch create whose answer was lost is not sent again blindly (it would run, and bill,
  every attempt twice): the agent's batches are listed (newest first) and one created since
  we started, holding exactly our test cases, is taken as ours.
* A test run's verdict is `isSuccessful`, or `isSuccesful` as older pages spell it.
* The docs offer no listing of a batch's job ids; a server that adds `jobIds` to a batch
  (the emulator's opt-in mode) lets the failed attempts' remarks and conversations be read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sigmaform.errors import ApiError
from sigmaform.kinds.base import created_since

if TYPE_CHECKING:
    from sigmaform.client import Client

BATCH_RUNS = "/v1/batch-runs"
TEST_RUNS = "/v1/test-runs"
_RECOVERY_PAGES = 3  # newest first: ours, if it exists, is on the first page


@dataclass(frozen=True)
class BatchCounts:
    """What one read of a batch says."""

    successful: int
    failed: int
    job_ids: tuple[str, ...] = ()

    @property
    def judged(self) -> int:
        return self.successful + self.failed


@dataclass(frozen=True)
class Message:
    role: str
    content: str


@dataclass(frozen=True)
class TestRun:
    """One attempt's details (only where the server names its job id)."""

    __test__ = False  # a name pytest would otherwise try to collect

    job_id: str
    passed: bool | None  # None: not judged yet
    remarks: str
    conversation: tuple[Message, ...]
    chat_id: str = ""


def _segment(value: str) -> str:
    return quote(value, safe="")


def _count(body: dict[str, Any], name: str, path: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ApiError("GET", path, None, f"the batch run's `{name}` is not a count: {value!r}")
    return value


class BatchApi:
    """Start batch runs, read their counters and their attempts."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def start(self, agent_id: str, case_ids: Sequence[str]) -> str:
        """Create a batch run of `case_ids` for the agent; its batchId."""
        started = datetime.now(UTC)
        wanted = sorted(case_ids)

        def recover() -> dict[str, Any] | None:
            return self._find_started(agent_id, wanted, started)

        body = {"agentId": agent_id, "testCases": list(case_ids)}
        answer = self._client.request("POST", BATCH_RUNS, body=body, recover=recover)
        batch_id = answer.get("batchId") if isinstance(answer, dict) else None
        if not isinstance(batch_id, str) or not batch_id:
            raise ApiError(
                "POST", BATCH_RUNS, None, "the server answered the batch run without a `batchId`"
            )
        return batch_id

    def _find_started(
        self, agent_id: str, wanted: list[str], started: datetime
    ) -> dict[str, Any] | None:
        for page in range(_RECOVERY_PAGES):
            params = {"agentId": agent_id, "page": page, "size": 20}
            listing = self._client.request("GET", BATCH_RUNS, params=params)
            items = listing.get("data") if isinstance(listing, dict) else listing
            if not isinstance(items, list):
                return None
            for item in items:
                if not isinstance(item, dict):
                    continue
                cases = sorted(
                    str(c.get("testCaseId"))
                    for c in item.get("testCases") or []
                    if isinstance(c, dict)
                )
                if cases == wanted and created_since(item.get("createdDate"), started):
                    return item
            if not (isinstance(listing, dict) and listing.get("hasNext")):
                return None
        return None

    def read(self, agent_id: str, batch_id: str) -> BatchCounts:
        path = f"{BATCH_RUNS}/{_segment(batch_id)}"
        body = self._client.request("GET", path, params={"agentId": agent_id})
        if not isinstance(body, dict):
            raise ApiError("GET", path, None, "the server answered without the batch run object")
        jobs = body.get("jobIds")
        job_ids = tuple(j for j in jobs if isinstance(j, str)) if isinstance(jobs, list) else ()
        return BatchCounts(
            _count(body, "successfulAttempts", path), _count(body, "failedAttempts", path), job_ids
        )

    def test_run(self, agent_id: str, batch_id: str, job_id: str) -> TestRun:
        path = f"{TEST_RUNS}/{_segment(job_id)}"
        body = self._client.request("GET", path, params={"batchId": batch_id, "agentId": agent_id})
        if not isinstance(body, dict):
            raise ApiError("GET", path, None, "the server answered without the test run object")
        verdict = body.get("isSuccessful", body.get("isSuccesful"))
        messages = tuple(
            Message(str(m.get("role", "")), str(m.get("content", "")))
            for m in body.get("conversation") or []
            if isinstance(m, dict)
        )
        return TestRun(
            job_id=job_id,
            passed=verdict if isinstance(verdict, bool) else None,
            remarks=str(body.get("remarks") or ""),
            conversation=messages,
            chat_id=str(body.get("chatId") or ""),
        )
