"""Fuzzing through the real CLI.

* Any YAML document (random trees near the resource shape, random YAML-ish text, random
  bytes) as a resource file: `validate` never crashes; it exits 0 or 1 and every problem
  names the file.
* Any valid agent (drawn from the fields agent.schema.json documents): it validates, applies
  to the embedded emulator, and the refreshed plan that follows has nothing to do -- so no
  value is normalised differently on the way there and back (floats and ints, empty lists,
  unicode, server defaults, escapes).
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability import (
    API_KEY,
    Cli,
    assert_no_secrets,
    inspector,
    list_agents,
    write_project,
    written_files,
)

REPO = Path(__file__).resolve().parent.parent
AGENT_SCHEMA = json.loads((REPO / "schemas" / "agent.schema.json").read_text())
DEFS = AGENT_SCHEMA["$defs"]
LOCAL = {
    "baseUrl": "local:.sigmaform/emulator",
    "apiKeyEnv": "REL_API_KEY",
    "vars": {"suffix": "(fuzz)"},
}
FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,  # nothing written into the repository
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _project() -> tuple[tempfile.TemporaryDirectory[str], Path]:
    holder = tempfile.TemporaryDirectory(prefix="sigmaform-fuzz-")
    root = Path(holder.name) / "project"
    write_project(root, LOCAL)
    (root / "agents").mkdir(exist_ok=True)
    return holder, root


# -- validate never crashes --------------------------------------------------------------

_KEYS = [
    "kind", "name", "spec", "protect", "only", "environments", "agentName", "instructions",
    "welcomeMessage", "welcomeMessageType", "agentSettings", "tools", "webhooks", "events",
    "url", "secret", "type", "transferTo", "llmModel", "llmTemperature", "rel", "x",
]  # fmt: skip
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        ["Agent", "PhoneNumber", "Chat", "${var.suffix}", "${var.nope}", "${secret.REL_NOPE}",
         "${env.REL_NOPE}", "${secret.REL_WEBHOOK_SECRET}", "${", "$${x}", "${environment}",
         "{{customer_name}}", "gpt-4o", "static", "voice_end_call", "https://x.test/h"]
    ),
)  # fmt: skip
_TREES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(_KEYS), st.text(max_size=8)), inner, max_size=5),
    ),
    max_leaves=25,
)


@st.composite
def _resource_trees(draw: st.DrawFn) -> str:
    doc: dict[str, Any] = {
        "kind": draw(st.sampled_from(["Agent", "PhoneNumber", "Chat", "Other"])),
        "name": draw(st.one_of(st.sampled_from(["a", "b-2", "Bad Name", ""]), _SCALARS)),
        "spec": draw(_TREES),
    }
    for key in draw(st.lists(st.sampled_from(["protect", "only", "environments", "x"]))):
        doc[key] = draw(_TREES)
    docs = [doc, *draw(st.lists(_TREES, max_size=2))]
    return yaml.safe_dump_all(docs, allow_unicode=draw(st.booleans()))


_YAML_TEXT = st.lists(
    st.one_of(
        st.sampled_from(
            ["kind: Agent\n", "name: a\n", "spec:\n", "  agentName: x\n", "---\n", "- ", ": ",
             "!file ", "!file prompts/none.md", "!file ../../etc/passwd", "!!python/object ",
             "&a ", "*a", "<<: *a\n", "? ", "|\n", ">-\n", "\t", "'", '"', "{", "}", "[", "]",
             "#", "%YAML 1.1\n", "${secret.X}", "\ufeff", "\x00", "\u2028", "é"]
        ),
        st.text(max_size=6),
    ),
    max_size=30,
).map("".join)  # fmt: skip


def _check_validate(contents: bytes) -> None:
    holder, root = _project()
    with holder:
        (root / "agents" / "fuzz.yaml").write_bytes(contents)
        cli = Cli(root)
        run = cli("validate")
        assert run.exit_code in (0, 1), str(run)
        if run.exit_code == 1:
            problems = [
                line
                for line in run.text.split("\n")
                if line and not re.fullmatch(r"\d+ (error|warning)s?(, \d+ warnings?)?", line)
            ]
            assert problems, str(run)
            assert all(line.startswith("agents/fuzz.yaml") for line in problems), str(run)
        assert_no_secrets(cli.outputs())


def test_problems_naming_odd_keys_stay_one_line_each() -> None:
    """Keys are echoed in messages: a newline or a terminal escape in one must not split a
    problem over lines (editors and CI parse `file:line:col: message`) or reach the
    terminal raw. Found by the fuzzer below."""
    text = 'kind: Agent\nname: a\nspec: {agentName: x}\nenvironments:\n  "a\\nb\\e[2J\\x1e": {}\n'
    _check_validate(text.encode())
    holder, root = _project()
    with holder:
        (root / "agents" / "fuzz.yaml").write_text(text)
        run = Cli(root)("validate")
    assert run.exit_code == 1
    assert "\x1b" not in run.text and "\x1e" not in run.text
    assert "unknown environment `a\\nb\\x1b[2J\\x1e`" in run.stdout + run.stderr


@settings(FUZZ, max_examples=100)
@given(text=st.one_of(_resource_trees(), _YAML_TEXT))
def test_validate_never_crashes_on_any_yaml(text: str) -> None:
    _check_validate(text.encode("utf-8", "surrogatepass"))


@settings(FUZZ, max_examples=30)
@given(data=st.binary(max_size=300))
def test_validate_never_crashes_on_any_bytes(data: bytes) -> None:
    _check_validate(data)


# -- valid agents round-trip --------------------------------------------------------------

# Text as people write it: unicode, SigmaMind's `{{variables}}`, and `$`/`{`/`}` so that a
# literal `${` must survive (files escape it as `$${`; see `_yaml`).
_CHARS = st.one_of(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
    st.sampled_from(["$", "{", "}", "${", "$${", "{{customer_name}}", "\t", " "]),
)
_TEXT = st.lists(_CHARS, max_size=30).map("".join)
_LONG_TEXT = st.one_of(_TEXT, st.lists(_TEXT, max_size=5).map("\n".join))
_NAME = st.lists(_CHARS, min_size=1, max_size=30).map("".join).filter(lambda t: t.strip())
# Stand-ins for the expressions the generator means (never produced by _CHARS): `_yaml`
# escapes every other `${` and then puts these in.
SECRET_REF = "\x00secret\x00"
SUFFIX_REF = "\x00suffix\x00"
PROMPT_REF = "fuzz-prompt-file-ref"
SUFFIX = "(fuzz)"
PROMPT_FILE = "x-prompt-file"  # a flag for `_round_trip`, not part of the document
_LISTS = {"webhooks", "postConversationAnalysis"}


def _number(low: float, high: float | None, integer: bool = False) -> st.SearchStrategy[Any]:
    top = high if high is not None else 1e6
    ints = st.integers(min_value=int(low), max_value=int(top))
    if integer:
        return ints
    # Whole floats (1.0) next to ints (1) catch a float/int normalisation difference.
    whole = st.sampled_from([low, float(low), top, float(top), float(int((low + top) / 2))])
    return st.one_of(ints, st.floats(min_value=low, max_value=top), whole)


def _property(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A value for one scalar field of agent.schema.json, from its documented type."""
    if "$ref" in schema:
        return _property(DEFS[schema["$ref"].rsplit("/", 1)[1]])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "boolean":
        return st.booleans()
    if kind in ("number", "integer"):
        return _number(schema.get("minimum", 0), schema.get("maximum"), kind == "integer")
    if kind == "string":
        return _TEXT
    raise AssertionError(f"no strategy for {schema}")


def _fields(definition: str, skip: set[str]) -> st.SearchStrategy[dict[str, Any]]:
    props = {k: v for k, v in DEFS[definition]["properties"].items() if k not in skip}
    return st.fixed_dictionaries({}, optional={k: _property(v) for k, v in props.items()})


_TRANSFER_SETTINGS = _fields("transferSettings", {"customHeaders"}).flatmap(
    lambda base: st.fixed_dictionaries(
        {k: st.just(v) for k, v in base.items()},
        optional={
            "customHeaders": st.dictionaries(
                st.from_regex(r"X-[A-Za-z]{1,8}", fullmatch=True), _TEXT, max_size=2
            )
        },
    )
)
_PHONE = st.one_of(
    st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True),
    st.sampled_from(["{{transfer_number}}", "{{ agent_phone }}"]),
)


@st.composite
def _tool(draw: st.DrawFn) -> dict[str, Any]:
    tool: dict[str, Any] = {
        "type": draw(st.sampled_from(DEFS["tool"]["properties"]["type"]["enum"]))
    }
    tool.update(
        draw(_fields("tool", {"type", "transferTo", "transferSettings", "transferToRouting"}))
    )
    if tool["type"] == "voice_transfer_call":
        tool["transferTo"] = draw(_PHONE)
        if draw(st.booleans()):
            tool["transferSettings"] = draw(_TRANSFER_SETTINGS)
    return tool


@st.composite
def _webhooks(draw: st.DrawFn) -> list[dict[str, Any]]:
    names = draw(st.lists(_NAME, max_size=3, unique=True))
    events = DEFS["webhook"]["properties"]["events"]["items"]["enum"]
    hooks = []
    for name in names:
        hook: dict[str, Any] = {
            "name": name,
            "url": "https://hooks.example.test/"
            + draw(st.from_regex(r"[a-z0-9/_-]{0,20}", fullmatch=True)),
            "events": draw(st.lists(st.sampled_from(events), min_size=1, unique=True)),
        }
        if draw(st.booleans()):
            hook["secret"] = SECRET_REF
        if draw(st.booleans()):
            hook["active"] = draw(st.booleans())
        hooks.append(hook)
    return hooks


_ANALYSIS = st.lists(
    st.fixed_dictionaries(
        {"insightName": _NAME, "insightInstructions": _TEXT},
        optional={
            "dataType": st.sampled_from(["string", "number", "boolean"]),
            "options": st.lists(_TEXT, max_size=3),
        },
    ),
    max_size=3,
)
_SETTINGS = _fields("agentSettings", _LISTS).flatmap(
    lambda base: st.fixed_dictionaries(
        {k: st.just(v) for k, v in base.items()},
        optional={"webhooks": _webhooks(), "postConversationAnalysis": _ANALYSIS},
    )
)


@st.composite
def _agent(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {"agentName": draw(_NAME) + " " + SUFFIX_REF}
    optional = {
        "instructions": _LONG_TEXT,
        "welcomeMessageType": st.sampled_from(["static", "prompt"]),
        "welcomeMessage": _TEXT,
        "agentSettings": _SETTINGS,
        "tools": st.lists(_tool(), max_size=3),
    }
    spec.update(draw(st.fixed_dictionaries({}, optional=optional)))
    doc: dict[str, Any] = {"kind": "Agent", "name": "fuzzed", "spec": spec}
    if draw(st.booleans()):
        doc["protect"] = draw(st.booleans())
    if draw(st.booleans()):  # an override for this environment, deep-merged into the spec
        doc["environments"] = {"rel": {"agentSettings": draw(_fields("agentSettings", _LISTS))}}
    if "instructions" in spec and draw(st.booleans()):
        doc[PROMPT_FILE] = True  # `_yaml` writes the instructions to a file, read by `!file`
    return doc


def _yaml(doc: dict[str, Any], root: Path) -> str:
    """The document as a file: literal `${` escaped, the intended expressions put in, and
    the instructions in a prompt file when the generator asked for that."""
    doc = dict(doc)
    if doc.pop(PROMPT_FILE, False):
        prompt = root / "agents" / "prompts" / "fuzzed.md"
        prompt.parent.mkdir(exist_ok=True)
        prompt.write_bytes(doc["spec"]["instructions"].encode())  # files are not interpolated
        doc["spec"] = {**doc["spec"], "instructions": PROMPT_REF}

    def escape(value: Any) -> Any:
        if isinstance(value, str):
            text = value.replace("${", "$${")
            text = text.replace(SECRET_REF, "${secret.REL_WEBHOOK_SECRET}")
            return text.replace(SUFFIX_REF, "${var.suffix}")
        if isinstance(value, dict):
            return {k: escape(v) for k, v in value.items()}
        if isinstance(value, list):
            return [escape(v) for v in value]
        return value

    text = yaml.safe_dump(escape(doc), allow_unicode=True, sort_keys=False)
    return text.replace(f"instructions: {PROMPT_REF}\n", "instructions: !file prompts/fuzzed.md\n")


def _rendered(value: str) -> str:
    """What the server must hold for a generated string."""
    return value.replace(SUFFIX_REF, SUFFIX)


def _round_trip(cli: Cli, doc: dict[str, Any]) -> None:
    """Write, validate, apply, then a refreshed plan must find nothing to do."""
    text = _yaml(doc, cli.root)
    (cli.root / "agents" / "fuzzed.yaml").write_text(text, encoding="utf-8")
    valid = cli("validate")
    assert valid.exit_code == 0, f"{valid}\n{text}"
    applied = cli("apply", "--auto-approve")
    assert applied.exit_code == 0, f"{applied}\n{text}"
    plan = cli("plan", "--detailed-exitcode")
    assert plan.exit_code == 0 and "Changed outside" not in plan.stdout, f"{plan}\n{text}"
    with inspector(cli.root / ".sigmaform" / "emulator", API_KEY) as api:
        (agent,) = list_agents(api)
    for field in ("agentName", "instructions", "welcomeMessage"):
        if field in doc["spec"]:
            assert agent[field] == _rendered(doc["spec"][field]), f"{field}\n{text}"


@settings(FUZZ, max_examples=100)
@given(doc=_agent())
def test_any_valid_agent_applies_and_then_plans_no_changes(doc: dict[str, Any]) -> None:
    holder, root = _project()
    with holder:
        cli = Cli(root)
        _round_trip(cli, doc)
        assert_no_secrets(cli.outputs(), written_files(root))


@FUZZ
@given(first=_agent(), second=_agent())
def test_any_change_between_valid_agents_applies_and_then_plans_no_changes(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    holder, root = _project()
    with holder:
        cli = Cli(root)
        _round_trip(cli, first)
        _round_trip(cli, second)  # the same agent (same name), any fields changed
        assert_no_secrets(cli.outputs(), written_files(root))
