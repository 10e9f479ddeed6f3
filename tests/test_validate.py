"""`sigmaform validate`: every problem at once, located, through the real CLI."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sigmaform.cli import cli
from sigmaform.errors import Problem
from sigmaform.validate import check_project, load_schema, validate_project
from sigmaform.yamlload import load_documents

PROJECT = """\
version: 1
resources: ["agents/**/*.yaml"]
environments:
  local:
    baseUrl: "local:.sigmaform/emulator"
    vars: {suffix: "(local)", temp: 0.3}
    secretDefaults: {HOOK: local-only}
  prod:
    vars: {suffix: "", temp: 0.7}
"""

GOOD_AGENT = """\
kind: Agent
name: support
spec:
  agentName: "Acme ${var.suffix}"
  instructions: !file prompts/support.md
  welcomeMessageType: static
  agentSettings:
    llmModel: gpt-4o-mini
    llmTemperature: ${var.temp}
    webhooks:
      - name: events
        url: https://hooks.example/x
        secret: "${secret.HOOK}"
        events: [conversation_started]
environments:
  prod:
    agentSettings: {llmModel: gpt-4o}
"""


def make_project(root: Path, project: str = PROJECT, **files: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "sigmaform.yaml").write_text(project)
    defaults = {"agents/support.yaml": GOOD_AGENT, "agents/prompts/support.md": "Be kind."}
    for name, text in {**defaults, **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def run(root: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(cli, ["-C", str(root), *args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def lines(result: Result) -> list[str]:
    return result.output.splitlines()


def test_valid_project(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    result = run(root, "validate")
    assert result.exit_code == 0
    assert lines(result) == ["OK: 1 resource valid"]  # secretDefaults on a local env: fine


def test_examples_are_valid(repo_root: Path) -> None:
    result = run(repo_root / "examples", "validate")
    assert result.exit_code == 0, result.output
    assert lines(result)[-1].startswith("OK: ")


def test_json_format(tmp_path: Path) -> None:
    root = make_project(tmp_path, **{"agents/x.yaml": "kind: Agent\nname: x\nspec: {bogus: 1}\n"})
    result = run(root, "validate", "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report == {
        "valid": False,
        "errors": 2,
        "warnings": 0,
        "problems": [
            {
                "file": "agents/x.yaml",
                "line": 3,
                "column": 7,
                "path": "spec",
                "message": "missing required field `agentName`",
                "severity": "error",
            },
            {
                "file": "agents/x.yaml",
                "line": 3,
                "column": 8,
                "path": "spec.bogus",
                "message": "unknown field `bogus`",
                "severity": "error",
            },
        ],
    }
    ok = run(make_project(tmp_path / "ok"), "validate", "--format", "json")
    assert ok.exit_code == 0
    assert json.loads(ok.output) == {"valid": True, "errors": 0, "warnings": 0, "problems": []}


BAD_AGENT = """\
kind: Agent
name: support
spec:
  agentName: "Acme"
  welcomeMesage: hi
  welcomeMessageType: no
  agentSettings:
    llmModel: gpt-4o-mni
    enablePostConversationInsights: true
    postConversationAnalysis:
      - insightName: x
        analysisInstructions: summarise
    llmTemperature: "warm"
  tools:
    - type: voice_transfer_call
environments:
  prod:
    agentSettings: {llmModel: 5, maxCallDuration: 3}
"""


def test_schema_problems_located_with_hints(tmp_path: Path) -> None:
    root = make_project(tmp_path, **{"agents/support.yaml": BAD_AGENT})
    result = run(root, "validate")
    assert result.exit_code == 1
    assert lines(result) == [
        "agents/support.yaml:5:3: spec.welcomeMesage: unknown field `welcomeMesage` "
        "(did you mean `welcomeMessage`?)",
        # YAML 1.2: `no` is the text "no", not false
        'agents/support.yaml:6:23: spec.welcomeMessageType: "no" is not one of: static, prompt',
        'agents/support.yaml:8:15: spec.agentSettings.llmModel: "gpt-4o-mni" is not allowed '
        "(did you mean `gpt-4o-mini`?) (environment `local`)",
        "agents/support.yaml:9:5: spec.agentSettings.enablePostConversationInsights: "
        "`enablePostConversationInsights` is the Create page's name: "
        "use `enablePostConversationAnalysis`",
        "agents/support.yaml:12:9: spec.agentSettings.postConversationAnalysis[0]."
        "analysisInstructions: `analysisInstructions` is the Create page's name: "
        "use `insightInstructions`",
        "agents/support.yaml:13:21: spec.agentSettings.llmTemperature: expected number, got string",
        "agents/support.yaml:15:7: spec.tools[0]: missing required field `transferTo`",
        # the override's own line, for the environment it applies to
        "agents/support.yaml:18:31: spec.agentSettings.llmModel: 5 is not one of: gpt-5.2, "
        "gpt-5.2-fast-tier, gpt-5.1, gpt-5.1-fast-tier, gpt-5, gpt-5-fast-tier, gpt-5-mini, "
        "gpt-5-mini-fast-tier, gpt-5-nano, gpt-4.1, gpt-4.1-fast-tier, gpt-4.1-mini, ... "
        "(environment `prod`)",
        "8 errors",
    ]


def test_create_page_name_at_top_of_settings(tmp_path: Path) -> None:
    agent = GOOD_AGENT.replace(
        "    llmModel: gpt-4o-mini\n",
        "    llmModel: gpt-4o-mini\n    postConversationInsights: []\n",
    )
    root = make_project(tmp_path, **{"agents/support.yaml": agent})
    result = run(root, "validate")
    assert (
        "agents/support.yaml:9:5: spec.agentSettings.postConversationInsights: "
        "`postConversationInsights` is the Create page's name: use `postConversationAnalysis`"
    ) in lines(result)


def test_cross_resource_problems(tmp_path: Path) -> None:
    files = {
        "agents/copy.yaml": GOOD_AGENT.replace("Acme", "Copy"),
        "agents/numbers.yaml": (
            "kind: PhoneNumber\nname: line\n"
            "spec: {phoneNumber: '+14155550123', inboundAgent: suport, outboundAgent: null}\n"
            "---\nkind: Chat\nname: demo\nonly: [local, qa]\n"
            "spec: {chatId: chat_1, agent: support}\n"
        ),
    }
    root = make_project(tmp_path, **files)
    result = run(root, "validate")
    assert result.exit_code == 1
    assert lines(result) == [
        "agents/copy.yaml:2:7: name: duplicate Agent name `support` "
        "(also in agents/support.yaml:2)",
        "agents/numbers.yaml:3:51: spec.inboundAgent: no Agent named `suport` "
        "(did you mean `support`?)",
        "agents/numbers.yaml:7:15: only[1]: unknown environment `qa` (known: local, prod)",
        "agents/support.yaml:2:7: name: duplicate Agent name `support` "
        "(also in agents/copy.yaml:2)",
        "4 errors",
    ]


def test_rendering_problems_once_across_environments(tmp_path: Path) -> None:
    project = PROJECT.replace('vars: {suffix: "", temp: 0.7}', "vars: {temp: 0.7, other: 1}")
    agent = GOOD_AGENT.replace("Acme ${var.suffix}", "Acme ${var.suffix} ${var.sufix} ${env.TEAM}")
    root = make_project(tmp_path, project, **{"agents/support.yaml": agent})
    result = run(root, "validate")
    assert result.exit_code == 1
    # `${env.TEAM}` is a placeholder offline: validate runs on any laptop.
    assert lines(result) == [
        "agents/support.yaml:4:14: spec.agentName: `${var.suffix}`: no variable `suffix` "
        "in environment `prod` (its vars: other, temp)",
        "agents/support.yaml:4:14: spec.agentName: `${var.sufix}`: no variable `sufix` "
        "(did you mean `suffix`?) in environment `local` (its vars: suffix, temp)",
        "agents/support.yaml:4:14: spec.agentName: `${var.sufix}`: no variable `sufix` "
        "in environment `prod` (its vars: other, temp)",
        "3 errors",
    ]


def test_validate_needs_no_secret_values_but_plan_does(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    assert run(root, "validate").exit_code == 0  # placeholders for every environment
    assert run(root, "-e", "prod", "validate").exit_code == 0  # offline, as in a PR job
    result = run(root, "-e", "prod", "plan", "--no-refresh")
    assert result.exit_code == 1
    assert (
        "agents/support.yaml:13:17: spec.agentSettings.webhooks[0].secret: `${secret.HOOK}`: "
        "environment variable `HOOK` is not set or empty (environment `prod`)"
    ) in result.output
    assert run(root, "-e", "local", "validate").exit_code == 0  # secretDefaults


def test_unknown_environment(tmp_path: Path) -> None:
    result = run(make_project(tmp_path), "-e", "prd", "validate")
    assert result.exit_code == 1
    assert lines(result) == [
        "unknown environment `prd` (did you mean `prod`?) "
        "(known: local, prod; sigmaform.yaml declares them)",
        "1 error",
    ]


def test_no_project_file(tmp_path: Path) -> None:
    result = run(tmp_path, "validate")
    assert result.exit_code == 1
    # The hint names the -C the command was given, so that it can be pasted.
    hint = f"sigmaform -C {tmp_path} init"
    assert lines(result) == [f"no sigmaform.yaml in {tmp_path} (run `{hint}`)", "1 error"]


def test_warnings_keep_exit_zero(tmp_path: Path) -> None:
    project = PROJECT.replace(
        '    vars: {suffix: "", temp: 0.7}',
        '    vars: {suffix: "", temp: 0.7}\n    secretDefaults: {HOOK: x}',
    )
    agent = GOOD_AGENT.replace('secret: "${secret.HOOK}"', "secret: hunter2")
    root = make_project(tmp_path, project, **{"agents/support.yaml": agent})
    result = run(root, "-e", "local", "validate")
    assert result.exit_code == 0
    assert lines(result) == [
        "agents/support.yaml:13:17: warning: spec.agentSettings.webhooks[0].secret: a literal "
        'secret in a file ends up in git: write "${secret.NAME}" and set NAME in the environment',
        "sigmaform.yaml:10:21: warning: environments.prod.secretDefaults: secretDefaults on "
        "`prod`, whose baseUrl is not local: a missing secret would silently use the default; "
        "set the variables instead",
        "OK: 1 resource valid (2 warnings)",
    ]
    assert "hunter2" not in result.output


def test_literal_secret_is_an_error_outside_the_local_environment(tmp_path: Path) -> None:
    agent = GOOD_AGENT.replace('secret: "${secret.HOOK}"', "secret: hunter2")
    root = make_project(tmp_path, **{"agents/support.yaml": agent})
    result = run(root, "validate")
    assert result.exit_code == 1
    assert lines(result) == [
        "agents/support.yaml:13:17: spec.agentSettings.webhooks[0].secret: a literal secret in "
        'a file ends up in git: write "${secret.NAME}" and set NAME in the environment (only a '
        "`local:` environment may use a literal) (environment `prod`)",
        "1 error",
    ]
    assert "hunter2" not in result.output
    # A literal only in the local environment's override stays a warning.
    agent = GOOD_AGENT + "  local:\n    agentSettings:\n      webhooks:\n        - name: events\n"
    agent += "          url: https://hooks.example/x\n          secret: hunter2\n"
    agent += "          events: [conversation_started]\n"
    (root / "agents/support.yaml").write_text(agent)
    result = run(root, "validate")
    assert result.exit_code == 0, result.output
    assert "warning" in result.output and "hunter2" not in result.output


def test_secret_values_never_in_messages(tmp_path: Path) -> None:
    agent = """\
    kind: Agent
    name: a
    spec:
      agentName: "${secret.NAME}"
      tools:
        - {type: voice_transfer_call, transferTo: "${secret.PHONE}"}
    """
    root = make_project(tmp_path, **{"agents/support.yaml": agent})
    result = run(
        root, "-e", "local", "validate", env={"NAME": "n" * 200, "PHONE": "not-a-phone-XYZ"}
    )
    assert result.exit_code == 1
    assert lines(result) == [
        "agents/support.yaml:4:14: spec.agentName: longer than 128 characters (200)",
        "agents/support.yaml:6:47: spec.tools[0].transferTo: (sensitive) does not match the "
        r"pattern `^(\+[1-9][0-9]{6,14}|\{\{\s*[A-Za-z_][A-Za-z0-9_]*\s*\}\})$`",
        "2 errors",
    ]
    assert "XYZ" not in result.output and "nnnn" not in result.output


def test_paths_limit_the_report(tmp_path: Path) -> None:
    files = {
        "agents/broken.yaml": "a: [\n",
        "agents/number.yaml": (
            "kind: PhoneNumber\nname: line\n"
            "spec: {phoneNumber: '+14155550123', inboundAgent: support}\n"
        ),
    }
    root = make_project(tmp_path, **files)
    assert run(root, "validate").exit_code == 1
    result = run(root, "validate", "agents/number.yaml")
    assert result.exit_code == 0  # references still resolve against the whole project
    assert lines(result) == ["OK: 1 resource valid"]
    missing = run(root, "validate", "agents/nope.yaml")
    assert missing.exit_code == 1
    assert lines(missing) == ["agents/nope.yaml: no such file or directory", "1 error"]


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\x01\x02binary\xff\xfe",
        b"",
        b"# just a comment\n",
        b"kind: Agent\n\tname: x\n",
        b"a: &a [*a, *a]\nb: *a\n",
        b"[" * 50_000,
        b"kind: !!python/object/apply:os.system [echo]\nname: x\n",
        b"- 1\n- 2\n",
        b"kind: [Agent]\nname: {a: 1}\nspec: 3\n",
    ],
)
def test_no_traceback_on_garbage(tmp_path: Path, content: bytes) -> None:
    root = make_project(tmp_path)
    (root / "agents" / "junk.yaml").write_bytes(content)
    result = run(root, "validate")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert any(line.startswith("agents/junk.yaml") for line in lines(result))


def test_garbage_project_file(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    (root / "sigmaform.yaml").write_bytes(b"version: 1\nenvironments: [\n")
    result = run(root, "validate")
    assert result.exit_code == 1
    assert lines(result)[0].startswith("sigmaform.yaml:3:1: ")


def test_validate_project_api(tmp_path: Path) -> None:
    root = make_project(
        tmp_path, **{"agents/x.yaml": "kind: Agent\nname: x\nspec: {agentName: 3}\n"}
    )
    problems = validate_project(root, None, environ={})
    assert problems == [
        Problem("agents/x.yaml", 3, 19, "spec.agentName", "expected string, got integer")
    ]
    report = check_project(root, "local", environ={})
    assert report.errors == 1 and report.warnings == 0 and report.resources == 2


def test_schemas_load_from_the_package() -> None:
    schema = load_schema("agent.schema.json")
    assert schema["properties"]["kind"]["const"] == "Agent"
    assert load_schema("agent.schema.json") is schema  # cached


def test_pasted_api_key_never_printed(tmp_path: Path) -> None:
    project = PROJECT.replace("  prod:\n", "  prod:\n    apiKeyEnv: sk-live-0123456789abcdef\n")
    result = run(make_project(tmp_path, project), "validate")
    assert result.exit_code == 1
    assert lines(result) == [
        "sigmaform.yaml:9:16: environments.prod.apiKeyEnv: (sensitive) does not match the "
        "pattern `^[A-Za-z_][A-Za-z0-9_]*$`",
        "1 error",
    ]


def test_single_environment_is_checked_as_selected(tmp_path: Path) -> None:
    project = PROJECT.split("  prod:")[0].replace("    secretDefaults: {HOOK: local-only}\n", "")
    result = run(make_project(tmp_path, project), "validate")
    assert result.exit_code == 1
    assert lines(result) == [
        "agents/support.yaml:16:3: environments.prod: unknown environment `prod` (known: local)",
        "1 error",
    ]


@pytest.mark.parametrize(
    ("schema", "instance", "expected"),
    [
        ({"type": "string", "minLength": 3}, "ab", "shorter than 3 characters"),
        ({"type": "string", "minLength": 1}, "", "must not be empty"),
        ({"minimum": 0}, -1, "-1 is out of range: must be >= 0"),
        ({"exclusiveMaximum": 2}, 2, "2 is out of range: must be < 2"),
        ({"minItems": 2}, [1], "needs at least 2 items"),
        ({"minItems": 1}, [], "must not be empty"),
        ({"maxItems": 1}, [1, 2], "at most 1 items allowed (2 given)"),
        ({"minProperties": 2}, {"a": 1}, "needs at least 2 entries"),
        ({"uniqueItems": True}, [1, 1], "items must be unique"),
        ({"const": "Agent"}, "Chat", 'must be "Agent"'),
        ({"format": "email"}, "nope", '"nope" is not a valid email'),
        ({"enum": ["a", "b"]}, "zzz", '"zzz" is not one of: a, b'),
        ({"type": ["string", "null"]}, 3, "expected string or null, got integer"),
        ({"not": {"type": "integer"}}, 3, "3 should not be valid under {'type': 'integer'}"),
        ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, 1.5, "expected string, got number"),
        ({"oneOf": [{"type": "integer"}, {"minimum": 0}]}, 1, "matches none of the allowed shapes"),
        ({"additionalProperties": False}, {"x": 1}, "unknown field `x`"),
    ],
)
def test_schema_messages(schema: dict[str, object], instance: object, expected: str) -> None:
    from jsonschema import Draft202012Validator

    from sigmaform import schemacheck

    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    [error] = list(validator.iter_errors(instance))
    assert [m for _, _, m in schemacheck._messages(error, set())] == [expected]


def test_hidden_values_in_generic_messages() -> None:
    from jsonschema import Draft202012Validator

    from sigmaform import schemacheck

    [error] = list(Draft202012Validator({"not": {"type": "string"}}).iter_errors("s3cret"))
    assert schemacheck._message(error, hidden=True) == "invalid value (not)"


def test_yaml_12_words_are_text(tmp_path: Path) -> None:
    """`on`, `no`, `1:30` mean what they say (YAML 1.1 made them true, false and 90)."""
    agent = GOOD_AGENT.replace(
        "  welcomeMessageType: static\n",
        "  welcomeMessageType: static\n  welcomeMessage: on\n",
    ).replace("    llmModel: gpt-4o-mini\n", "    llmModel: gpt-4o-mini\n    language: no\n")
    root = make_project(tmp_path, **{"agents/support.yaml": agent})
    result = run(root, "validate")
    assert result.exit_code == 0, result.output
    [doc] = load_documents(root / "agents/support.yaml")
    assert doc.data["spec"]["welcomeMessage"] == "on"
    assert doc.data["spec"]["agentSettings"]["language"] == "no"


def test_env_variables_are_placeholders_offline(tmp_path: Path) -> None:
    agent = GOOD_AGENT.replace("Acme ${var.suffix}", "Acme ${env.TEAM_UNSET}")
    root = make_project(tmp_path, **{"agents/support.yaml": agent})
    assert run(root, "validate").exit_code == 0
    result = run(root, "-e", "local", "plan", "--no-refresh")
    assert result.exit_code == 1
    assert "`${env.TEAM_UNSET}`: environment variable `TEAM_UNSET` is not set" in result.output


def test_agent_names_unique_per_environment_as_rendered(tmp_path: Path) -> None:
    other = GOOD_AGENT.replace("name: support", "name: other").replace(
        "Acme ${var.suffix}", "Acme "
    )
    root = make_project(tmp_path, **{"agents/other.yaml": other})
    result = run(root, "validate")
    assert result.exit_code == 1
    # "Acme (local)" and "Acme " differ; in prod (suffix "") both are "Acme ".
    assert lines(result) == [
        'agents/support.yaml:4:14: spec.agentName: Agent `support` has the same agentName "Acme " '
        "as `other` (agents/other.yaml:4) in environment `prod`; each must be unique",
        "1 error",
    ]


def test_whole_value_mapping_var_stays_allowed(tmp_path: Path) -> None:
    project = PROJECT.replace("temp: 0.3}", "temp: 0.3, customer: {name: Ann}}").replace(
        "temp: 0.7}", "temp: 0.7, customer: {name: Bob}}"
    )
    chat = "kind: Chat\nname: demo\nspec:\n  chatId: chat_1\n  agent: support\n"
    chat += "  dynamicVariables: ${var.customer}\n"
    root = make_project(tmp_path, project, **{"agents/chat.yaml": chat})
    result = run(root, "validate")
    assert result.exit_code == 0, result.output


def test_symlink_inside_the_project_is_read(tmp_path: Path) -> None:
    root = make_project(tmp_path, **{"shared/support.yaml": GOOD_AGENT})
    (root / "agents/support.yaml").unlink()
    (root / "agents/support.yaml").symlink_to(root / "shared/support.yaml")
    (root / "shared/prompts").symlink_to(root / "agents/prompts")
    result = run(root, "validate")
    assert result.exit_code == 0, result.output


def test_unmatched_glob_is_reported_by_validate_only(tmp_path: Path) -> None:
    project = PROJECT.replace('["agents/**/*.yaml"]', '["agents/**/*.yaml", "numbers/*.yaml"]')
    root = make_project(tmp_path, project)
    result = run(root, "validate")
    assert result.exit_code == 1
    assert lines(result)[0] == (
        "sigmaform.yaml:2:33: resources[1]: the glob `numbers/*.yaml` matches no file; "
        "fix or remove it"
    )
    # plan still runs: deleting the last file of a glob is how its resources are deleted
    assert run(root, "-e", "local", "plan", "--no-refresh").exit_code == 0


@pytest.mark.parametrize("command", [("validate",), ("-e", "local", "plan", "--no-refresh")])
def test_api_key_in_env_expression_is_refused_and_never_printed(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    key = "sk-live-9f8e7d6c5b4a39281706"
    agent = GOOD_AGENT.replace(
        "  welcomeMessageType: static\n",
        '  welcomeMessageType: static\n  welcomeMessage: "k=${env.SIGMAMIND_API_KEY}"\n',
    )
    root = make_project(tmp_path, **{"agents/support.yaml": agent})
    result = run(root, *command, env={"SIGMAMIND_API_KEY": key})
    assert result.exit_code == 1
    assert (
        "agents/support.yaml:7:19: spec.welcomeMessage: `${env.SIGMAMIND_API_KEY}` holds an API key"
        in result.output
    )
    assert key not in result.output
    assert not (root / ".sigmaform/emulator/journal.jsonl").exists()


def test_unknown_keys_inside_an_unknown_environment_override(tmp_path: Path) -> None:
    agent = GOOD_AGENT + "  qa:\n    welcomeMesage: hi\n    agentSettings:\n      webhooks:\n"
    agent += "        - {name: a, url: 'https://h.example/a', events: [conversation_ended], x: 1}\n"
    root = make_project(tmp_path, **{"agents/support.yaml": agent})
    result = run(root, "validate")
    assert result.exit_code == 1
    assert lines(result) == [
        "agents/support.yaml:18:3: environments.qa: unknown environment `qa` (known: local, prod)",
        "agents/support.yaml:19:5: spec.welcomeMesage: unknown field `welcomeMesage` "
        "(did you mean `welcomeMessage`?)",
        "agents/support.yaml:22:79: spec.agentSettings.webhooks[0].x: unknown field `x`",
        "3 errors",
    ]
