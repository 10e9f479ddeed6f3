"""The records a loaded project hands to the core: environments and rendered resources."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from sigmaform.kinds import KINDS, Kind
from sigmaform.moves import Move

LOCAL_SCHEME = "local:"
DEFAULT_BASE_URL = "https://api.sigmamind.ai"


@dataclass(frozen=True)
class Safety:
    max_change_percent: float | None = None
    allow_delete: bool = True


@dataclass(frozen=True)
class TestSettings:
    """`tests:` of an environment: what `sigmaform test` may spend and must reach."""

    __test__ = False  # a name pytest would otherwise try to collect

    min_pass_rate: float = 0.0  # the suite's successful / attempts; 0: only per-case gates
    max_attempts: int = 200  # the cost guard: attempts one run may start, reruns included
    stall_after: float = 300.0  # seconds a batch's counters may stand still
    timeout: float = 1800.0  # seconds the whole run may take
    rerun_failed: int = 0  # extra batches for a case that failed its gate


@dataclass(frozen=True)
class Environment:
    """One environment of sigmaform.yaml."""

    name: str
    base_url: str = DEFAULT_BASE_URL
    api_key_env: str | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    secret_defaults: dict[str, str] = field(default_factory=dict, repr=False)
    promote_from: str | None = None
    safety: Safety = Safety()
    request_timeout: float = 60.0  # seconds one HTTP request may take in total
    tests: TestSettings = TestSettings()
    # `promote --to` this environment refuses an agent that has no test cases at all.
    promote_requires_tests: bool = False

    @property
    def is_local(self) -> bool:
        return self.base_url.startswith(LOCAL_SCHEME)


@dataclass(frozen=True)
class Resource:
    """One resource rendered for one environment.

    `spec` is plain data (dict/list/str/int/float/bool/None) except that secrets are
    `Sensitive` instances; references (`inboundAgent: support`) are still logical names.
    """

    kind: str
    name: str
    spec: dict[str, Any]
    source: str  # file path relative to the project root
    line: int = 0
    protect: bool = False
    # Units (`welcomeMessage`, `agentSettings.llmModel`) sent on create, then left alone:
    # no diff, no drift, no write (Terraform's lifecycle.ignore_changes).
    ignore_changes: tuple[str, ...] = ()
    # A TestCase's top-level `gate:` ({minPassRate: 0.8} or {required: true}): what
    # `sigmaform test` requires of it. Never sent to the API. None: not given.
    gate: Mapping[str, Any] | None = None

    @property
    def kind_info(self) -> Kind:
        return KINDS[self.kind]

    @cached_property
    def address(self) -> str:
        # Cached: a plan asks each resource's address many times. (A frozen dataclass
        # allows this: cached_property writes the instance's __dict__ directly.)
        return f"{self.kind_info.prefix}.{self.name}"


@dataclass(frozen=True)
class StateSettings:
    backend: str = "local"
    path: str = ".sigmaform/state/{environment}.json"
    # backend: postgres only. The url may carry a password: kept out of repr().
    url: str | None = field(default=None, repr=False)
    schema: str = "sigmaform"
    project: str | None = None  # the key of this project's rows; default: the directory name
    # backend: s3 only (credentials come from the AWS environment, never from here).
    bucket: str | None = None
    key: str | None = None  # default sigmaform/{environment}.json
    region: str | None = None
    endpoint_url: str | None = None


@dataclass(frozen=True)
class Project:
    """sigmaform.yaml plus the resources rendered for the selected environment."""

    root: Path
    environments: dict[str, Environment]
    environment: Environment
    resources: tuple[Resource, ...]
    state: StateSettings = StateSettings()
    moves: tuple[Move, ...] = ()  # `moved:` in sigmaform.yaml

    def state_path(self) -> Path:
        return self.root / self.state.path.replace("{environment}", self.environment.name)
