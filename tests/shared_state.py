"""The shared state backends under test, PostgreSQL and S3, and one fixture over both.

`pg` is one test's schema in a throwaway cluster (tests/pg.py); `s3` one test's bucket on
a moto server (tests/s3.py). `shared` is either, for the tests whose story is the same on
every shared backend (round trip, lost update, the lock, push and pull): written once,
run on both. Import the fixtures a test module uses (pytest finds them by name).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pytest
from conftest import Project
from pg import Cluster, start_cluster
from s3 import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, Server, start_server

from sigmaform.state import StateBackend

if TYPE_CHECKING:
    from sigmaform.state_postgres import PostgresBackend
    from sigmaform.state_s3 import S3Backend

URL_VAR = "SIGMAFORM_STATE_URL"
LOCAL_STATE_LINE = 'state: {backend: local, path: ".sigmaform/state/{environment}.json"}'


class _Stoppable(Protocol):
    def stop(self) -> None: ...


Started = TypeVar("Started", bound=_Stoppable)


def _serving(started: Started | str) -> Iterator[Started]:
    """A started server for the session, stopped at its end; a skip when none could start
    (the reason is the string)."""
    if isinstance(started, str):
        pytest.skip(started)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    yield from _serving(start_cluster())


@pytest.fixture(scope="session")
def database(cluster: Cluster) -> str:
    return cluster.create_database("sigmaform")


@dataclass
class Pg:
    """One test's corner of the shared database: its own schema."""

    url: str
    schema: str

    def backend(self, project: str = "acme", env: str = "local", **kw: Any) -> PostgresBackend:
        from sigmaform.state_postgres import PostgresBackend

        return PostgresBackend(self.url, project, env, schema=self.schema, **kw)


@pytest.fixture
def pg(database: str, request: pytest.FixtureRequest) -> Pg:
    # Parametrized names share their first 50 characters: a digest keeps schemas apart
    # (a shared one made scenarios read each other's state).
    digest = hashlib.sha256(request.node.name.encode()).hexdigest()[:8]
    name = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:40]
    return Pg(database, f"t_{name}_{digest}")


def use_postgres(project: Project, pg: Pg, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the example project's state at the database, the URL through ${env.*}."""
    monkeypatch.setenv(URL_VAR, pg.url)
    project.edit(
        "sigmaform.yaml",
        'state: {backend: local, path: ".sigmaform/state/{environment}.json"}',
        'state: {backend: postgres, url: "${env.' + URL_VAR + '}", '
        f"schema: {pg.schema}, project: acme}}",
    )


@pytest.fixture(scope="session")
def s3_server() -> Iterator[Server]:
    yield from _serving(start_server())


@dataclass
class S3:
    """One test's bucket on the shared server."""

    endpoint: str
    bucket: str

    def backend(self, env: str = "local") -> S3Backend:
        from sigmaform.state_s3 import S3Backend

        return S3Backend(
            self.bucket, f"agents/{env}.json", region=REGION, endpoint_url=self.endpoint
        )

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION)

    def objects(self) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=self.bucket)
        return sorted(o["Key"] for o in listed.get("Contents", []))


@pytest.fixture
def s3(s3_server: Server, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> S3:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    # No instance-metadata lookups for credentials or region: only loopback is reachable.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    digest = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:8]
    found = S3(s3_server.url, f"{name}-{digest}")
    found.client().create_bucket(
        Bucket=found.bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    return found


def use_s3(project: Project, s3: S3) -> None:
    """Point the example project's state at the bucket, as a team's sigmaform.yaml would."""
    project.edit(
        "sigmaform.yaml",
        LOCAL_STATE_LINE,
        f"state: {{backend: s3, bucket: {s3.bucket}, "
        f'key: "agents/{{environment}}.json", region: {REGION}, endpointUrl: "{s3.endpoint}"}}',
    )


@dataclass
class Shared:
    """A shared backend as the tests that run on both see it."""

    name: str  # "postgres" or "s3"
    where: str  # how messages name the state of environment `local`
    make: Callable[[str], StateBackend]
    point: Callable[[Project], None]  # sigmaform.yaml's state at it

    def backend(self, env: str = "local") -> StateBackend:
        return self.make(env)


@pytest.fixture(params=["postgres", "s3"])
def shared(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Shared:
    if request.param == "postgres":
        pytest.importorskip("psycopg", reason="psycopg is not installed (the postgres extra)")
        db: Pg = request.getfixturevalue("pg")
        return Shared(
            "postgres",
            f"postgres:{db.schema}/acme/local",
            lambda env: db.backend(env=env),
            lambda project: use_postgres(project, db, monkeypatch),
        )
    pytest.importorskip("boto3", reason="boto3 is not installed (the s3 extra)")
    bucket: S3 = request.getfixturevalue("s3")
    return Shared(
        "s3",
        f"s3://{bucket.bucket}/agents/local.json",
        bucket.backend,
        lambda project: use_s3(project, bucket),
    )


@dataclass
class SharedProject(Project):
    """The example project with its state in a shared backend; `state()` reads it there."""

    shared: Shared | None = None

    def state(self, env: str | None = None) -> dict[str, Any]:
        assert self.shared is not None
        found = self.shared.backend(env or self.env).read()
        assert found is not None, f"no state in {self.shared.name}"
        return found.to_dict()
