"""sigmaform.yaml checked and parsed into environments, resource globs and state settings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigmaform.duration import parse_duration
from sigmaform.errors import Problem
from sigmaform.files import Document, JsonPath, Mark
from sigmaform.interpolate import suggest
from sigmaform.moves import Move, address_problem
from sigmaform.resource import (
    DEFAULT_BASE_URL,
    Environment,
    Safety,
    StateSettings,
    TestSettings,
)
from sigmaform.schemacheck import check_instance, schema_exists

PROJECT_FILE = "sigmaform.yaml"
PROJECT_SCHEMA = "project.schema.json"
DEFAULT_RESOURCES = ("agents/**/*.yaml",)
TOP_KEYS = ("version", "resources", "state", "environments", "moved")
ENV_KEYS = (
    "baseUrl",
    "apiKeyEnv",
    "vars",
    "secretDefaults",
    "promoteFrom",
    "safety",
    "requestTimeout",
    "tests",
    "promoteRequiresTests",
)
TEST_KEYS = ("minPassRate", "maxAttempts", "stallAfter", "timeout", "rerunFailed")
MAX_REQUEST_TIMEOUT = 3600.0
ENV_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
STATE_BACKENDS = ("local", "postgres", "s3")
POSTGRES_KEYS = ("url", "schema", "project")
S3_KEYS = ("bucket", "key", "region", "endpointUrl")


@dataclass(frozen=True)
class ProjectFile:
    """sigmaform.yaml, parsed; `document` keeps the marks for later messages."""

    root: Path
    environments: dict[str, Environment]
    resources: tuple[str, ...]
    state: StateSettings
    document: Document
    version: int = 1
    moved: tuple[Move, ...] = ()


def parse_project_file(root: Path, doc: Document) -> tuple[ProjectFile | None, list[Problem]]:
    """The parsed file, or None and every problem found."""
    if not isinstance(doc.data, dict):
        return None, [
            doc.problem((), "expected a mapping with `version`, `resources`, `environments`")
        ]
    if schema_exists(PROJECT_SCHEMA):
        problems = check_instance(
            doc.data,
            PROJECT_SCHEMA,
            file=doc.display,
            locate=_locator(doc),
        )
        if problems:
            return None, problems
    parser = _Parser(doc)
    pf = parser.parse(root)
    return (pf, []) if not parser.problems else (None, parser.problems)


def _locator(doc: Document) -> Any:
    def locate(path: JsonPath, is_key: bool) -> Mark:
        return doc.locate_key(path) if is_key else doc.locate(path)

    return locate


class _Parser:
    """Hand checks: they stand alone when the schema is absent, and add what it cannot say."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def fail(self, path: JsonPath, message: str, *, key: bool = False) -> None:
        if key:
            mark = self.doc.locate_key(path)
            self.problems.append(
                Problem(self.doc.display, mark.line, mark.column, ".".join(map(str, path)), message)
            )
        else:
            self.problems.append(self.doc.problem(path, message))

    def unknown_keys(self, value: dict[str, Any], allowed: tuple[str, ...], path: JsonPath) -> None:
        for key in value:
            if key not in allowed:
                self.fail(
                    (*path, key),
                    f"unknown field `{key}`{suggest(key, list(allowed))}",
                    key=True,
                )

    def parse(self, root: Path) -> ProjectFile:
        data: dict[str, Any] = self.doc.data
        self.unknown_keys(data, TOP_KEYS, ())
        version = data.get("version")
        if version != 1:
            self.fail(("version",), "expected `version: 1`")
        globs = data.get("resources", list(DEFAULT_RESOURCES))
        if (
            not isinstance(globs, list)
            or not globs
            or not all(isinstance(g, str) and g for g in globs)
        ):
            self.fail(("resources",), "expected a list of glob patterns, like agents/**/*.yaml")
            globs = []
        environments = self.environments(data.get("environments"))
        return ProjectFile(
            root=root,
            environments=environments,
            resources=tuple(globs),
            state=self.state(data.get("state")),
            document=self.doc,
            version=1,
            moved=self.moved(data.get("moved")),
        )

    def moved(self, value: Any) -> tuple[Move, ...]:
        """`moved: [{from: agent.a, to: agent.b}]`; entries that collide are refused here."""
        if value is None:
            return ()
        if not isinstance(value, list):
            self.fail(("moved",), "expected a list of {from: ADDRESS, to: ADDRESS}")
            return ()
        moves: list[Move] = []
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                self.fail(("moved", i), "expected a mapping with `from` and `to`")
                continue
            self.unknown_keys(item, ("from", "to"), ("moved", i))
            bad = False
            for key in ("from", "to"):
                why = address_problem(item.get(key)) if key in item else f"missing `{key}`"
                if why is not None:
                    self.fail(("moved", i, key) if key in item else ("moved", i), why)
                    bad = True
            if not bad:
                moves.append(Move(item["from"], item["to"]))
        if len(moves) < len(value):
            return ()  # reported; entries that do not parse cannot be checked together
        return tuple(moves)

    def state(self, value: Any) -> StateSettings:
        if value is None:
            return StateSettings()
        if not isinstance(value, dict):
            self.fail(("state",), "expected a mapping with `backend` and `path`")
            return StateSettings()
        self.unknown_keys(value, ("backend", "path", *POSTGRES_KEYS, *S3_KEYS), ("state",))
        backend = value.get("backend", StateSettings.backend)
        path = value.get("path", StateSettings.path)
        if backend not in STATE_BACKENDS:
            self.fail(
                ("state", "backend"),
                f"unknown state backend `{backend}` (known: {', '.join(STATE_BACKENDS)})",
            )
        if not isinstance(path, str) or not path:
            self.fail(("state", "path"), "expected a file path")
            path = StateSettings.path
        # A setting of the other shared backend is a mistake, not something to ignore.
        others = {"postgres": S3_KEYS, "s3": POSTGRES_KEYS}.get(str(backend), ())
        for key in value:
            if key in others:
                self.fail(("state", key), f"not a setting of the {backend} backend", key=True)
        shared = self.shared_state(value, backend == "postgres")
        if backend == "s3":
            shared.update(self.s3_state(value))
        return StateSettings(backend=str(backend), path=path, **shared)

    def s3_state(self, value: dict[str, Any]) -> dict[str, Any]:
        """`bucket`, `key`, `region`, `endpointUrl` of the s3 backend."""
        if not (isinstance(value.get("bucket"), str) and value["bucket"]):
            self.fail(("state",), "the s3 backend needs `bucket`, e.g. acme-sigmaform")
        out: dict[str, Any] = {}
        for key, field in zip(S3_KEYS, ("bucket", "key", "region", "endpoint_url"), strict=True):
            if key in value:
                if not isinstance(value[key], str) or not value[key]:
                    self.fail(("state", key), "expected a non-empty string")
                else:
                    out[field] = value[key]
        return out

    def shared_state(self, value: dict[str, Any], postgres: bool) -> dict[str, Any]:
        """`url`, `schema`, `project` of the postgres backend (checked in state_postgres)."""
        url = value.get("url")
        if postgres and not (isinstance(url, str) and url):
            self.fail(
                ("state",), 'the postgres backend needs `url`, e.g. "${env.SIGMAFORM_STATE_URL}"'
            )
        out: dict[str, Any] = {"url": url if isinstance(url, str) else None}
        for key in ("schema", "project"):
            if key in value:
                if not isinstance(value[key], str) or not value[key]:
                    self.fail(("state", key), "expected a non-empty string")
                else:
                    out[key] = value[key]
        return out

    def environments(self, value: Any) -> dict[str, Environment]:
        if not isinstance(value, dict) or not value:
            self.fail(("environments",), "expected a mapping of at least one environment")
            return {}
        found: dict[str, Environment] = {}
        for name, body in value.items():
            if not ENV_NAME.fullmatch(name):
                self.fail(
                    ("environments", name),
                    f"invalid environment name `{name}`: lowercase letters, digits, `-`, `_`",
                    key=True,
                )
            found[name] = self.environment(name, body)
        for name, env in found.items():
            if env.promote_from is not None and env.promote_from not in found:
                self.fail(
                    ("environments", name, "promoteFrom"),
                    f"unknown environment `{env.promote_from}`"
                    f"{suggest(env.promote_from, found)} (known: {', '.join(sorted(found))})",
                )
            elif env.promote_from == name:
                self.fail(("environments", name, "promoteFrom"), "cannot promote from itself")
        return found

    def environment(self, name: str, body: Any) -> Environment:
        path: JsonPath = ("environments", name)
        if not isinstance(body, dict):
            self.fail(path, "expected a mapping (baseUrl, apiKeyEnv, vars, ...)")
            return Environment(name=name)
        self.unknown_keys(body, ENV_KEYS, path)
        base_url = self.string(body, "baseUrl", path) or DEFAULT_BASE_URL
        api_key_env = self.string(body, "apiKeyEnv", path)
        if api_key_env is not None and not VAR_NAME.fullmatch(api_key_env):
            self.fail((*path, "apiKeyEnv"), "expected the NAME of an environment variable")
        promote_from = self.string(body, "promoteFrom", path)
        variables = body.get("vars") or {}
        if not isinstance(variables, dict):
            self.fail((*path, "vars"), "expected a mapping of variables")
            variables = {}
        defaults = body.get("secretDefaults") or {}
        if not isinstance(defaults, dict) or not all(isinstance(v, str) for v in defaults.values()):
            self.fail((*path, "secretDefaults"), "expected a mapping of names to strings")
            defaults = {}
        timeout = body.get("requestTimeout", 60)
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not 0 < timeout <= MAX_REQUEST_TIMEOUT
        ):
            self.fail(
                (*path, "requestTimeout"),
                f"expected seconds, a number above 0 and at most {MAX_REQUEST_TIMEOUT:g}",
            )
            timeout = 60
        requires = body.get("promoteRequiresTests", False)
        if not isinstance(requires, bool):
            self.fail((*path, "promoteRequiresTests"), "expected true or false")
            requires = False
        return Environment(
            name=name,
            base_url=base_url,
            api_key_env=api_key_env,
            vars=dict(variables),
            secret_defaults=dict(defaults),
            promote_from=promote_from,
            safety=self.safety(body.get("safety"), (*path, "safety")),
            request_timeout=float(timeout),
            tests=self.tests(body.get("tests"), (*path, "tests")),
            promote_requires_tests=requires,
        )

    def tests(self, value: Any, path: JsonPath) -> TestSettings:
        """`tests: {minPassRate, maxAttempts, stallAfter, timeout, rerunFailed}`."""
        if value is None:
            return TestSettings()
        if not isinstance(value, dict):
            self.fail(path, f"expected a mapping of {', '.join(TEST_KEYS)}")
            return TestSettings()
        self.unknown_keys(value, TEST_KEYS, path)
        default = TestSettings()
        rate = value.get("minPassRate", default.min_pass_rate)
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            self.fail((*path, "minPassRate"), "expected a share from 0 to 1, e.g. 0.9")
            rate = default.min_pass_rate
        counts: dict[str, int] = {}
        for key, field, low in (
            ("maxAttempts", "max_attempts", 1),
            ("rerunFailed", "rerun_failed", 0),
        ):
            number = value.get(key, getattr(default, field))
            if isinstance(number, bool) or not isinstance(number, int) or number < low:
                self.fail((*path, key), f"expected a whole number, {low} or more")
                number = getattr(default, field)
            counts[field] = number
        durations: dict[str, float] = {}
        for key, field in (("stallAfter", "stall_after"), ("timeout", "timeout")):
            if key not in value:
                durations[field] = getattr(default, field)
                continue
            seconds = parse_duration(value[key], unit_required=True)
            if seconds is None or seconds <= 0:
                self.fail(
                    (*path, key),
                    f"expected a duration such as 90s, 5m or 1h, not {value[key]!r}",
                )
                seconds = getattr(default, field)
            durations[field] = seconds
        return TestSettings(
            min_pass_rate=float(rate),
            max_attempts=counts["max_attempts"],
            rerun_failed=counts["rerun_failed"],
            stall_after=durations["stall_after"],
            timeout=durations["timeout"],
        )

    def string(self, body: dict[str, Any], key: str, path: JsonPath) -> str | None:
        value = body.get(key)
        if value is None or isinstance(value, str):
            return value
        self.fail((*path, key), "expected a string")
        return None

    def safety(self, value: Any, path: JsonPath) -> Safety:
        if value is None:
            return Safety()
        if not isinstance(value, dict):
            self.fail(path, "expected a mapping with `maxChangePercent` and/or `allowDelete`")
            return Safety()
        self.unknown_keys(value, ("maxChangePercent", "allowDelete"), path)
        percent = value.get("maxChangePercent")
        if percent is not None and (
            isinstance(percent, bool)
            or not isinstance(percent, int | float)
            or not 0 <= percent <= 100
        ):
            self.fail((*path, "maxChangePercent"), "expected a number from 0 to 100")
            percent = None
        allow = value.get("allowDelete", True)
        if not isinstance(allow, bool):
            self.fail((*path, "allowDelete"), "expected true or false")
            allow = True
        return Safety(
            max_change_percent=None if percent is None else float(percent), allow_delete=allow
        )
