"""State in S3-compatible object storage for teams: one object per environment, a lock object.

The only module that imports boto3; `operations.backend_for` imports it only when a project
says `state: {backend: s3}`. Every write is conditional on the ETag of the version it
replaces (`If-Match`; the first write `If-None-Match: *`), so two writers can never silently
lose each other's update. The lock is an object beside the state (`KEY.lock`) created with
`If-None-Match: *`, so exactly one writer creates it; it holds the holder's details. Long
applied text is stored once per digest under `KEY.blobs/sha256/`, before the document that
refers to it (see state_blobs). Unlike
a database session, an object outlives a killed holder: `state unlock` removes a lock whose
holder is gone (at once for a dead process of this host, with --force for another host).
Credentials come from boto3's usual chain (environment variables, profiles, instance roles)
and never from sigmaform.yaml; they are scrubbed from every message.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from sigmaform import invocation
from sigmaform.errors import (
    ConfigError,
    LockHeldError,
    LockLostError,
    Problem,
    SigmaformError,
    StalePlanError,
)
from sigmaform.resource import Project
from sigmaform.state import (
    Blobs,
    LockInfo,
    State,
    describe_wait,
    holder_alive,
    render_document,
    stale_write_error,
)
from sigmaform.state_blobs import PREFIX, checked, missing, text_of

DEFAULT_KEY = "sigmaform/{environment}.json"
CONNECT_TIMEOUT = 10  # seconds; CI should fail fast on a wrong endpoint, not hang
# AWS access key ids (AKIA long-term, ASIA temporary, ...): scrubbed even when not ours.
_ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{12,}\b")
# Status codes of a failed precondition: 412, or 409 when S3 sees two conditional writes
# to one key at once (ConditionalRequestConflict).
_CONFLICT_STATUS = (409, 412)


class StateStorageError(SigmaformError):
    """The state bucket could not be reached or refused a request."""


@dataclass(frozen=True)
class _Stored:
    """One version of the state object as read: its state and the ETag to write against."""

    state: State
    etag: str


class S3Backend:
    """State of one environment in `s3://BUCKET/KEY`, the apply lock in `KEY.lock`."""

    # A lock object outlives a killed holder, and a holder on another host cannot be seen
    # to be gone: `state unlock --force` may remove such a lock (never a live local one).
    lock_outlives_holder = True

    def __init__(
        self,
        bucket: str,
        key: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.key = key
        self.lock_key = key + ".lock"
        self.blob_prefix = key + ".blobs/sha256/"
        self._known_blobs: set[str] | None = None  # digests under the prefix, once listed
        self.region = region
        self.endpoint_url = endpoint_url
        self._client: Any = None
        self._session: Any = None
        # ETags of the versions this process read or wrote, by (lineage, serial): a write
        # replaces exactly the version its state came from.
        self._etags: dict[tuple[str, int], str] = {}
        self._mutex = threading.Lock()
        self._held_body: bytes | None = None  # our lock object's content, while held

    def __repr__(self) -> str:
        return f"S3Backend({self.describe()!r})"

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    # -- requests ---------------------------------------------------------------------

    def _s3(self) -> Any:
        with self._mutex:
            if self._client is None:
                self._session = boto3.session.Session(region_name=self.region)
                config = Config(
                    connect_timeout=CONNECT_TIMEOUT,
                    read_timeout=60,
                    retries={"mode": "standard", "max_attempts": 3},
                    # R2, MinIO and GCS interop reject the newer default checksums on some
                    # versions; S3 needs none on these small objects.
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                    # A custom endpoint (MinIO, an IP address) rarely serves bucket subdomains.
                    s3={"addressing_style": "path" if self.endpoint_url else "auto"},
                )
                try:
                    self._client = self._session.client(
                        "s3", endpoint_url=self.endpoint_url, config=config
                    )
                except (BotoCoreError, ValueError) as error:
                    raise self._failure("cannot open the state bucket at", error) from None
            return self._client

    def _scrub(self, text: str) -> str:
        """`text` without this session's credentials or anything shaped like an access key."""
        secrets: list[str] = []
        if self._session is not None:
            with contextlib.suppress(BotoCoreError):
                creds = self._session.get_credentials()
                if creds is not None:
                    frozen = creds.get_frozen_credentials()
                    secrets = [frozen.access_key, frozen.secret_key, frozen.token or ""]
        for secret in sorted(filter(None, secrets), key=len, reverse=True):
            text = text.replace(secret, "***")
        return _ACCESS_KEY_ID.sub("***", text)

    def _failure(self, what: str, error: BaseException, key: str | None = None) -> SigmaformError:
        where = f"s3://{self.bucket}/{key or self.key}"
        if isinstance(error, NoCredentialsError):
            reason = (
                "no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "or AWS_PROFILE)"
            )
        elif isinstance(error, ClientError):
            detail = error.response.get("Error", {})
            code = detail.get("Code") or error.response.get("ResponseMetadata", {}).get(
                "HTTPStatusCode", "error"
            )
            message = detail.get("Message")
            reason = f"{code} ({message})" if message else str(code)
        else:
            reason = str(error) or type(error).__name__
        return StateStorageError(f"{what} {where}: {self._scrub(reason)}")

    @staticmethod
    def _status(error: ClientError) -> int:
        return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))

    @staticmethod
    def _missing(error: ClientError) -> bool:
        code = error.response.get("Error", {}).get("Code")
        return code in ("NoSuchKey", "404", "NotFound")

    def _get(self, key: str, what: str) -> tuple[bytes, str] | None:
        """The object's body and ETag, None when there is none."""
        try:
            found = self._s3().get_object(Bucket=self.bucket, Key=key)
            return found["Body"].read(), str(found["ETag"])
        except ClientError as error:
            if self._missing(error):
                return None
            raise self._failure(what, error, key) from None
        except BotoCoreError as error:
            raise self._failure(what, error, key) from None

    def _put(self, key: str, body: bytes, what: str, **condition: str) -> str | None:
        """Write the object if `condition` holds; its new ETag, None when it did not hold."""
        try:
            done = self._s3().put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                **condition,
            )
        except ClientError as error:
            if self._status(error) in _CONFLICT_STATUS or self._missing(error):
                return None  # a missing object fails If-Match like a changed one
            raise self._failure(what, error, key) from None
        except BotoCoreError as error:
            raise self._failure(what, error, key) from None
        return str(done["ETag"])

    # -- state ------------------------------------------------------------------------

    def _read(self) -> _Stored | None:
        found = self._get(self.key, "cannot read state")
        if found is None:
            return None
        body, etag = found
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(Problem(self.describe(), message=f"invalid JSON: {error}")) from None
        state = State.from_dict(data, self.describe(), self)
        with self._mutex:
            self._etags[(state.lineage, state.serial)] = etag
        return _Stored(state, etag)

    def read(self) -> State | None:
        stored = self._read()
        return None if stored is None else stored.state

    def write(self, state: State) -> State:
        """Persist `state` with the next serial, if the stored one is still the one it came from."""
        expected = None if state.serial == 0 else (state.lineage, state.serial)
        return self.store(replace(state, serial=state.serial + 1), expected)

    def store(self, state: State, expected: tuple[str, int] | None) -> State:
        """Write `state` as it is, replacing the stored (lineage, serial) `expected` (None: none).

        A versioned bucket keeps every replaced version as an object version.
        """
        if expected is None:
            condition = {"IfNoneMatch": "*"}
        else:
            with self._mutex:
                etag = self._etags.get(expected)
            if etag is None:  # a state this process did not read: compare with what is there
                current = self._read()
                found = None if current is None else (current.state.lineage, current.state.serial)
                if current is None or found != expected:
                    raise self._conflict(expected, found)
                etag = current.etag
            condition = {"IfMatch": etag}
        blobs: Blobs = {}
        document = state.to_dict(blobs)
        self._put_blobs(blobs)  # first: the document must never name a missing blob
        text = render_document(document)
        etag = self._put(self.key, text.encode(), "cannot write state", **condition)
        if etag is None:
            current = self._read()
            raise self._conflict(
                expected, None if current is None else (current.state.lineage, current.state.serial)
            )
        with self._mutex:
            self._etags[(state.lineage, state.serial)] = etag
        return state

    def read_blob(self, digest: str) -> str:
        key = self.blob_prefix + digest.removeprefix(PREFIX)
        where = f"s3://{self.bucket}/{key}"
        found = self._get(key, "cannot read a state blob")
        if found is None:
            raise missing(digest, where)
        return checked(digest, found[0], where)

    def _put_blobs(self, blobs: Blobs) -> None:
        """Store the texts the bucket lacks; what is there is listed once (a page per 1,000
        blobs), not asked about one by one."""
        if not blobs:
            return
        known = self._known_blobs
        if known is None:
            known = self._list_blobs()
        for digest, value in blobs.items():
            if digest in known:
                continue
            key = self.blob_prefix + digest.removeprefix(PREFIX)
            # Content-addressed: any writer's object under this key holds the same text.
            if self._put(key, text_of(value).encode(), "cannot write a state blob") is None:
                raise self._failure("cannot write a state blob", RuntimeError("refused"), key)
            known.add(digest)
        self._known_blobs = known

    def _list_blobs(self) -> set[str]:
        found: set[str] = set()
        try:
            pages = self._s3().get_paginator("list_objects_v2")
            for page in pages.paginate(Bucket=self.bucket, Prefix=self.blob_prefix):
                for item in page.get("Contents", []):
                    found.add(PREFIX + str(item["Key"])[len(self.blob_prefix) :])
        except ClientError as error:
            raise self._failure("cannot list state blobs", error, self.blob_prefix) from None
        except BotoCoreError as error:
            raise self._failure("cannot list state blobs", error, self.blob_prefix) from None
        return found

    def _conflict(
        self, expected: tuple[str, int] | None, found: tuple[str, int] | None
    ) -> StalePlanError:
        return stale_write_error(self.describe(), expected, found)

    # -- lock -------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, info: LockInfo, timeout: float = 0.0) -> Iterator[None]:
        # The token tells our lock from a later holder's after a forced unlock.
        body = json.dumps({**info.to_dict(), "token": str(uuid.uuid4())}, sort_keys=True).encode()
        etag = self._take(body, timeout)
        self._held_body = body
        try:
            yield
        finally:
            self._held_body = None
            # A release that fails must not hide how the run ended; the lock then stays and
            # the next run names it, for `state unlock`.
            with contextlib.suppress(SigmaformError):
                self._release(body, etag)

    def ensure_locked(self) -> None:
        """Raise LockLostError unless the lock object is still ours.

        Someone may have removed it (`state unlock --force` from another host, believing
        this run dead) and another apply may have taken it. Apply asks before every write
        it sends (one GET), so a lost lock stops the writes.
        """
        body = self._held_body
        found = None if body is None else self._get(self.lock_key, "cannot read the state lock at")
        if body is not None and found is not None and found[0] == body:
            return
        holder = self.lock_holder() if found is not None else None
        reason = (
            "its lock object was removed"
            if holder is None
            else (f"its lock object now names {holder.describe()}")
        )
        raise LockLostError(
            f"lost the state lock on {self.describe()}: {reason}. The apply stopped at once "
            "and sends nothing more; another apply may hold the lock now. Run "
            f"`{invocation.command('plan')}` when no apply is running to see what is left"
        )

    def _take(self, body: bytes, timeout: float) -> str:
        """Create the lock object; its ETag. Held by someone else: poll for up to `timeout`
        seconds (--lock-timeout). A lock released between our refused create and the read
        of its holder is tried again rather than reported as held by nobody."""
        start = time.monotonic()
        deadline = start + max(timeout, 1.0)
        while True:
            etag = self._put(self.lock_key, body, "cannot take the state lock at", IfNoneMatch="*")
            if etag is not None:
                return etag
            holder = self.lock_holder()
            now = time.monotonic()
            if now >= deadline or (holder is not None and now - start >= timeout):
                raise self._held(holder, timeout)
            time.sleep(0.05 if holder is None else min(0.5, max(deadline - now, 0.0)))

    def _held(self, holder: LockInfo | None, timeout: float = 0.0) -> LockHeldError:
        unlock = invocation.command("state", "unlock")
        waited = f" (waited {describe_wait(timeout)})" if timeout > 0 else ""
        if holder is None:
            return LockHeldError(
                f"state {self.describe()} is locked by another process{waited}; wait for it to "
                f"finish, retry with --lock-timeout (or, if it is gone, run `{unlock}`)"
            )
        if not holder_alive(holder):
            return LockHeldError(
                f"state {self.describe()} is locked by {holder.describe()}, which is no longer "
                f"running: run `{unlock}` to remove its lock"
            )
        return LockHeldError(
            f"state {self.describe()} is locked by {holder.describe()}{waited}; wait for it to "
            f"finish, retry with --lock-timeout (or, if it is gone, run `{unlock}`)"
        )

    def _release(self, body: bytes, etag: str) -> None:
        """Delete the lock object only while it is still ours: after a forced unlock it may
        be another holder's, which must stay."""
        found = self._get(self.lock_key, "cannot release the state lock at")
        if found is None or found[0] != body:
            return
        try:
            self._s3().delete_object(Bucket=self.bucket, Key=self.lock_key, IfMatch=etag)
        except ClientError as error:
            if self._status(error) in _CONFLICT_STATUS or self._missing(error):
                return
            raise self._failure("cannot release the state lock at", error, self.lock_key) from None
        except BotoCoreError as error:
            raise self._failure("cannot release the state lock at", error, self.lock_key) from None

    def lock_holder(self) -> LockInfo | None:
        found = self._get(self.lock_key, "cannot read the state lock at")
        if found is None:
            return None
        try:
            data = json.loads(found[0])
            return LockInfo(
                operation=str(data["operation"]),
                who=str(data["who"]),
                host=str(data["host"]),
                pid=int(data["pid"]),
                created=str(data["created"]),
            )
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError):
            # Still a lock: someone created it; show a holder nobody can be mistaken for.
            return LockInfo(operation="unknown", who="unknown", host="unknown", pid=0)

    def is_locked(self) -> bool:
        """True while a lock object exists whose holder may be alive (a dead process of
        this host is known to be gone; one of another host is not)."""
        holder = self.lock_holder()
        return holder is not None and holder_alive(holder)

    def force_unlock(self) -> LockInfo | None:
        holder = self.lock_holder()
        try:
            self._s3().delete_object(Bucket=self.bucket, Key=self.lock_key)
        except ClientError as error:
            if not self._missing(error):
                raise self._failure(
                    "cannot remove the state lock at", error, self.lock_key
                ) from None
        except BotoCoreError as error:
            raise self._failure("cannot remove the state lock at", error, self.lock_key) from None
        return holder


def backend_for_project(project: Project) -> S3Backend:
    """The s3 backend a project's `state:` block describes, for its environment."""
    settings = project.state
    if not settings.bucket:
        raise ConfigError(
            Problem(
                "sigmaform.yaml",
                path="state.bucket",
                message="the s3 backend needs `bucket`, e.g. acme-sigmaform",
            )
        )
    key = (settings.key or DEFAULT_KEY).replace("{environment}", project.environment.name)
    return S3Backend(
        settings.bucket, key, region=settings.region, endpoint_url=settings.endpoint_url
    )
