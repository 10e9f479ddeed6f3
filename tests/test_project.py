"""sigmaform.yaml, environment selection, resource globs and rendering for an environment."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import Project

from sigmaform.errors import ConfigError
from sigmaform.project import (
    PROJECT_FILE,
    load_project,
    load_project_file,
    resource_files,
    select_environment,
)
from sigmaform.resource import DEFAULT_BASE_URL
from sigmaform.sensitive import Sensitive, source_tree

PROJECT = """\
version: 1
resources: ["agents/**/*.yaml"]
state: {backend: local, path: ".sigmaform/state/{environment}.json"}
environments:
  local:
    baseUrl: "local:.sigmaform/emulator"
    vars: {suffix: "(local)", hooks: "https://hooks.local", temp: 0.3, on: true}
    secretDefaults: {HOOK_SECRET: local-only}
  staging:
    apiKeyEnv: KEY_STAGING
    vars: {suffix: "(staging)", hooks: "https://hooks.staging", temp: 0.5, on: false}
  prod:
    apiKeyEnv: KEY_PROD
    promoteFrom: staging
    safety: {maxChangePercent: 30, allowDelete: false}
    vars: {suffix: "", hooks: "https://hooks.prod", temp: 0.7, on: true}
"""

AGENT = """\
kind: Agent
name: support
protect: true
spec:
  agentName: "Acme ${var.suffix}"
  instructions: !file prompts/support.md
  welcomeMessage: "Hi {{customer_name}}, costs $${price} in ${environment}"
  agentSettings:
    llmModel: gpt-4o-mini
    llmTemperature: ${var.temp}
    flag: ${var.on}
    note: "temp is ${var.temp}, on=${var.on}"
    webhooks:
      - name: events
        url: "${var.hooks}/x"
        secret: "${secret.HOOK_SECRET}"
        events: [conversation_started]
  tools:
    - type: voice_end_call
environments:
  prod:
    agentSettings: {llmModel: gpt-4o}
    tools: []
"""


def make_project(tmp_path: Path, project: str = PROJECT, **files: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / PROJECT_FILE).write_text(project)
    defaults = {"agents/support.yaml": AGENT, "agents/prompts/support.md": "Be kind. ${not}"}
    for name, text in {**defaults, **files}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


def errors(root: Path, env: str | None, **kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_project(root, env, **kwargs)  # type: ignore[arg-type]
    return [str(p) for p in caught.value.problems]


def test_project_file_parsed(tmp_path: Path) -> None:
    pf = load_project_file(make_project(tmp_path))
    assert list(pf.environments) == ["local", "staging", "prod"]
    local, staging, prod = pf.environments.values()
    assert local.is_local and local.secret_defaults == {"HOOK_SECRET": "local-only"}
    assert staging.base_url == DEFAULT_BASE_URL and staging.api_key_env == "KEY_STAGING"
    assert prod.promote_from == "staging"
    assert prod.safety.max_change_percent == 30 and prod.safety.allow_delete is False
    assert pf.resources == ("agents/**/*.yaml",)
    assert pf.state.path == ".sigmaform/state/{environment}.json"
    assert "HOOK_SECRET" not in repr(local) or "local-only" not in repr(local)


def test_missing_project_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_project_file(tmp_path)
    assert str(caught.value) == f"no sigmaform.yaml in {tmp_path} (run `sigmaform init`)"


def test_project_file_defaults(tmp_path: Path) -> None:
    (tmp_path / PROJECT_FILE).write_text(
        "version: 1\nresources: ['x/*.yaml']\nenvironments:\n  dev: {}\n"
    )
    pf = load_project_file(tmp_path)
    assert pf.environments["dev"].base_url == DEFAULT_BASE_URL
    assert pf.state.backend == "local"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "version: 1\nresources: [a]\nenvironments:\n"
            "  prod: {promoteFrom: stagin}\n  staging: {}\n",
            "sigmaform.yaml:4:23: environments.prod.promoteFrom: unknown environment `stagin` "
            "(did you mean `staging`?) (known: prod, staging)",
        ),
        (
            "version: 1\nresources: [a]\nenvironments:\n  dev: {baseURL: x}\n",
            "sigmaform.yaml:4:9: environments.dev.baseURL: unknown field `baseURL` "
            "(did you mean `baseUrl`?)",
        ),
        (
            "version: 2\nresources: [a]\nenvironments:\n  dev: {}\n",
            "sigmaform.yaml:1:10: version: must be 1",
        ),
        (
            "version: 1\nresources: [a]\nenvironments: {}\n",
            "sigmaform.yaml:3:15: environments: must not be empty",
        ),
        (
            "- a\n",
            "sigmaform.yaml:1:1: expected a mapping with `version`, `resources`, `environments`",
        ),
        (
            "version: 1\nversion: 1\n",
            "sigmaform.yaml:2:1: duplicate key `version` (first on line 1)",
        ),
    ],
)
def test_project_file_problems(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / PROJECT_FILE).write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_project_file(tmp_path)
    assert expected in [str(p) for p in caught.value.problems]


def test_project_file_hand_checks_without_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sigmaform import projectfile

    monkeypatch.setattr(projectfile, "schema_exists", lambda name: False)
    (tmp_path / PROJECT_FILE).write_text(
        "version: 1\nresourcez: []\nstate: {backend: gcs}\nenvironments:\n"
        "  Dev: {vars: 3, safety: {maxChangePercent: 300, allowDelete: maybe}, apiKeyEnv: 'a b'}\n"
        "  prod: {promoteFrom: prod, secretDefaults: {A: 1}, baseUrl: 5}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_project_file(tmp_path)
    messages = str(caught.value)
    for expected in (
        "sigmaform.yaml:2:1: resourcez: unknown field `resourcez` (did you mean `resources`?)",
        "sigmaform.yaml:3:18: state.backend: unknown state backend `gcs`",
        "environments.Dev: invalid environment name `Dev`",
        "environments.Dev.vars: expected a mapping of variables",
        "environments.Dev.safety.maxChangePercent: expected a number from 0 to 100",
        "environments.Dev.safety.allowDelete: expected true or false",
        "environments.Dev.apiKeyEnv: expected the NAME of an environment variable",
        "environments.prod.promoteFrom: cannot promote from itself",
        "environments.prod.secretDefaults: expected a mapping of names to strings",
        "environments.prod.baseUrl: expected a string",
    ):
        assert expected in messages


def test_select_environment(tmp_path: Path) -> None:
    pf = load_project_file(make_project(tmp_path))
    assert select_environment(pf, "prod").name == "prod"
    with pytest.raises(ConfigError) as caught:
        select_environment(pf, None)
    assert str(caught.value) == (
        "several environments (local, prod, staging): choose one with -e/--env or SIGMAFORM_ENV"
    )
    with pytest.raises(ConfigError) as caught:
        select_environment(pf, "prd")
    assert str(caught.value) == (
        "unknown environment `prd` (did you mean `prod`?) "
        "(known: local, prod, staging; sigmaform.yaml declares them)"
    )


def test_single_environment_needs_no_choice(tmp_path: Path) -> None:
    project = "version: 1\nresources: ['agents/*.yaml']\nenvironments:\n  only: {}\n"
    pf = load_project_file(make_project(tmp_path, project))
    assert select_environment(pf, None).name == "only"


def test_resource_files_globs_and_paths(tmp_path: Path) -> None:
    root = make_project(
        tmp_path,
        **{
            "agents/b/deep/x.yaml": "kind: Agent\n",
            "agents/a.yaml": "kind: Agent\n",
            "agents/notes.txt": "no",
            "other/z.yaml": "kind: Agent\n",
        },
    )
    pf = load_project_file(root)
    names = [p.relative_to(root).as_posix() for p in resource_files(root, pf)]
    assert names == ["agents/a.yaml", "agents/b/deep/x.yaml", "agents/support.yaml"]
    narrowed = resource_files(root, pf, [Path("agents/b"), Path("other/z.yaml")])
    assert [p.relative_to(root).as_posix() for p in narrowed] == [
        "agents/b/deep/x.yaml",
        "other/z.yaml",
    ]
    with pytest.raises(ConfigError, match=r"nope\.yaml: no such file or directory"):
        resource_files(root, pf, [Path("nope.yaml")])


def test_render_for_each_environment(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    local = load_project(root, "local", environ={})
    [agent] = local.resources
    assert agent.address == "agent.support" and agent.protect is True
    assert agent.source == "agents/support.yaml" and agent.line == 1
    spec = agent.spec
    assert spec["agentName"] == "Acme (local)"
    assert spec["instructions"] == "Be kind. ${not}"  # file text is not interpolated
    assert spec["welcomeMessage"] == "Hi {{customer_name}}, costs ${price} in local"
    settings = spec["agentSettings"]
    assert settings["llmTemperature"] == 0.3 and settings["flag"] is True  # types kept
    assert settings["note"] == "temp is 0.3, on=true"
    webhook = settings["webhooks"][0]
    assert webhook["url"] == "https://hooks.local/x"
    secret = webhook["secret"]
    assert isinstance(secret, Sensitive) and secret.reveal() == "local-only"
    assert secret.source == "secret.HOOK_SECRET"
    assert "local-only" not in repr(agent)

    prod = load_project(root, "prod", environ={"HOOK_SECRET": "from-env"})
    [agent] = prod.resources
    assert agent.spec["agentSettings"]["llmModel"] == "gpt-4o"  # object merged
    assert agent.spec["agentSettings"]["llmTemperature"] == 0.7  # sibling kept
    assert agent.spec["tools"] == []  # arrays replace
    assert agent.spec["agentSettings"]["webhooks"][0]["secret"].reveal() == "from-env"
    assert prod.environment.safety.allow_delete is False
    assert prod.state_path() == root.absolute() / ".sigmaform/state/prod.json"


def test_base_url_override(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    project = load_project(
        root, "staging", environ={"SIGMAMIND_BASE_URL": "http://127.0.0.1:9", "HOOK_SECRET": "s"}
    )
    assert project.environment.base_url == "http://127.0.0.1:9"


def test_missing_secret_required_vs_placeholder(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    assert errors(root, "prod", environ={}) == [
        "agents/support.yaml:16:17: spec.agentSettings.webhooks[0].secret: "
        "`${secret.HOOK_SECRET}`: environment variable `HOOK_SECRET` is not set "
        "or empty (environment `prod`)"
    ]
    # CI passes an undefined secret as "": that is missing too, never sent empty.
    assert len(errors(root, "prod", environ={"HOOK_SECRET": ""})) == 1
    project = load_project(root, "prod", secrets="placeholder", environ={})
    secret = project.resources[0].spec["agentSettings"]["webhooks"][0]["secret"]
    assert isinstance(secret, Sensitive) and secret.reveal() == ""
    assert secret.source == "secret.HOOK_SECRET"


def test_composite_secret_and_literal_secret(tmp_path: Path) -> None:
    agent = """\
    kind: Agent
    name: a
    spec:
      auth: "Bearer ${secret.TOKEN} for ${var.suffix}"
      agentSettings:
        webhooks: [{name: w, url: "https://x", secret: plain-text, events: [a]}]
    """
    root = make_project(tmp_path, **{"agents/support.yaml": agent})
    [resource] = load_project(root, "local", environ={"TOKEN": "t0k"}).resources
    auth = resource.spec["auth"]
    assert isinstance(auth, Sensitive) and auth.reveal() == "Bearer t0k for (local)"
    assert auth.source == "Bearer ${secret.TOKEN} for (local)"  # identity without the value
    literal = resource.spec["agentSettings"]["webhooks"][0]["secret"]
    assert isinstance(literal, Sensitive) and literal.reveal() == "plain-text"
    assert "t0k" not in str(source_tree(resource.spec))
    # Outside the local emulator a literal secret is refused (it is in git).
    with pytest.raises(ConfigError) as caught:
        load_project(root, "staging", environ={"TOKEN": "t0k"})
    assert "webhooks[0].secret: a literal secret in a file ends up in git" in str(caught.value)
    assert "plain-text" not in str(caught.value)


def test_env_variables(tmp_path: Path) -> None:
    agent = "kind: Agent\nname: a\nspec: {agentName: '${env.TEAM}-bot'}\n"
    root = make_project(tmp_path, **{"agents/support.yaml": agent})
    [resource] = load_project(root, "local", environ={"TEAM": "blue"}).resources
    assert resource.spec["agentName"] == "blue-bot"
    assert errors(root, "local", environ={}) == [
        "agents/support.yaml:3:19: spec.agentName: `${env.TEAM}`: "
        "environment variable `TEAM` is not set"
    ]


def test_rendering_problems_all_reported(tmp_path: Path) -> None:
    agent = """\
    kind: Agent
    name: a
    spec:
      one: "${var.sufix}"
      two: "${nope}"
      three: "${var.suffix"
      four: !file prompts/missing.md
      five: !file ../../outside.md
      six: !file prompts
    """
    (tmp_path.parent / "outside.md").write_text("secret stuff")
    root = make_project(tmp_path, **{"agents/support.yaml": agent})
    assert errors(root, "local", environ={}) == [
        "agents/support.yaml:4:8: spec.one: `${var.sufix}`: no variable `sufix` (did you mean "
        "`suffix`?) in environment `local` (its vars: hooks, on, suffix, temp)",
        "agents/support.yaml:5:8: spec.two: unknown expression `${nope}`: use ${var.NAME}, "
        "${env.NAME}, ${secret.NAME} or ${environment}; $${ writes ${",
        "agents/support.yaml:6:10: spec.three: `${` without a closing `}`: use ${var.NAME}, "
        "${env.NAME}, ${secret.NAME} or ${environment}; $${ writes ${",
        "agents/support.yaml:7:9: spec.four: `!file prompts/missing.md`: file not found",
        "agents/support.yaml:8:9: spec.five: `!file ../../outside.md` is outside the "
        "project directory; refused",
        "agents/support.yaml:9:8: spec.six: `!file prompts`: is a directory",
    ]


def test_file_symlink_leaving_project_refused(tmp_path: Path) -> None:
    outside = tmp_path.parent / "elsewhere.md"
    outside.write_text("x")
    root = make_project(
        tmp_path / "p",
        **{"agents/support.yaml": "kind: Agent\nname: a\nspec: {i: !file link.md}\n"},
    )
    (root / "agents" / "link.md").symlink_to(outside)
    assert errors(root, "local", environ={}) == [
        "agents/support.yaml:3:11: spec.i: `!file link.md` is outside the project directory; "
        "refused"
    ]


def test_file_not_utf8(tmp_path: Path) -> None:
    root = make_project(
        tmp_path, **{"agents/support.yaml": "kind: Agent\nname: a\nspec: {i: !file p.md}\n"}
    )
    (root / "agents" / "p.md").write_bytes(b"\xff\xfe")
    assert errors(root, "local", environ={}) == [
        "agents/support.yaml:3:11: spec.i: `!file p.md`: not UTF-8 text"
    ]


def test_document_shape_problems(tmp_path: Path) -> None:
    bad = """\
    kind: Agnt
    name: Bad_Name
    spec: {}
    ---
    - a list
    ---
    kind: Agent
    spec: []
    protect: yes please
    extra: 1
    ---
    name: x
    spec: {}
    ---
    kind: Agent
    name: y
    spec: {}
    environments: {prd: {}, local: 3}
    only: [local, qa]
    ---
    kind: Agent
    name: z
    spec: {}
    environments: []
    only: local
    """
    root = make_project(tmp_path, **{"agents/support.yaml": bad})
    assert errors(root, "local", environ={}) == [
        "agents/support.yaml:1:7: kind: unknown kind `Agnt` (did you mean `Agent`?) "
        "(known: Agent, Chat, PhoneNumber, TestCase)",
        "agents/support.yaml:2:7: name: invalid name `Bad_Name`: lowercase letters, digits and "
        "`-`, starting with a letter or digit, at most 63 characters",
        "agents/support.yaml:5:1: expected a mapping with `kind`, `name` and `spec`",
        "agents/support.yaml:7:1: missing `name`",
        "agents/support.yaml:8:7: spec: expected an object (a mapping of fields)",
        "agents/support.yaml:9:10: protect: expected true or false",
        "agents/support.yaml:10:1: extra: unknown key `extra` "
        "(allowed: kind, name, protect, spec, gate, environments, only, ignoreChanges)",
        "agents/support.yaml:12:1: missing `kind` (one of: Agent, PhoneNumber, Chat, TestCase)",
        "agents/support.yaml:18:16: environments.prd: unknown environment `prd` "
        "(did you mean `prod`?) (known: local, prod, staging)",
        "agents/support.yaml:18:32: environments.local: expected a mapping (a partial spec)",
        "agents/support.yaml:19:15: only[1]: unknown environment `qa` "
        "(known: local, prod, staging)",
        "agents/support.yaml:24:15: environments: expected a mapping of environments",
        "agents/support.yaml:25:7: only: expected a list of environment names",
    ]


def test_only_and_references(tmp_path: Path) -> None:
    files = {
        "agents/support.yaml": "kind: Agent\nname: support\nonly: [prod]\nspec: {}\n",
        "agents/more.yaml": (
            "kind: PhoneNumber\nname: line\nspec: {inboundAgent: support, outboundAgent: null}\n"
            "---\nkind: Chat\nname: demo\nspec: {chatId: c1, agent: suport}\n"
            "---\nkind: Chat\nname: demo2\nspec: {chatId: c2, agent: null}\n"
        ),
    }
    root = make_project(tmp_path, **files)
    prod = load_project(root, "prod", environ={}, paths=[Path("agents/support.yaml")])
    assert [r.address for r in prod.resources] == ["agent.support"]
    assert errors(root, "local", environ={}) == [
        "agents/more.yaml:3:22: spec.inboundAgent: Agent `support` is not in environment "
        "`local` (its `only:`)",
        "agents/more.yaml:7:27: spec.agent: no Agent named `suport`",
        "agents/more.yaml:11:27: spec.agent: expected the name of an Agent",
    ]
    assert errors(root, "prod", environ={}) == [
        "agents/more.yaml:7:27: spec.agent: no Agent named `suport` (did you mean `support`?)",
        "agents/more.yaml:11:27: spec.agent: expected the name of an Agent",
    ]


def test_duplicate_names_report_both(tmp_path: Path) -> None:
    files = {
        "agents/support.yaml": "kind: Agent\nname: support\nspec: {}\n",
        "agents/copy.yaml": (
            "# copy\nkind: Agent\nname: support\nspec: {}\n"
            "---\nkind: Chat\nname: support\nspec: {}\n"
        ),
    }
    root = make_project(tmp_path, **files)
    assert errors(root, "local", environ={}) == [
        "agents/copy.yaml:3:7: name: duplicate Agent name `support` "
        "(also in agents/support.yaml:2)",
        "agents/support.yaml:2:7: name: duplicate Agent name `support` "
        "(also in agents/copy.yaml:3)",
    ]


def test_every_file_problem_at_once(tmp_path: Path) -> None:
    files = {
        "agents/support.yaml": "kind: Agent\nname: a\nspec: {x: '${var.nope}'}\n",
        "agents/broken.yaml": "a: [\n",
        "agents/dup.yaml": "a: 1\na: 2\n",
    }
    root = make_project(tmp_path, **files)
    found = errors(root, "local", environ={})
    assert [line.split(":")[0] for line in found] == [
        "agents/broken.yaml",
        "agents/dup.yaml",
        "agents/support.yaml",
    ]


@pytest.mark.parametrize("pattern", ["/abs/*.yaml", "agents/**b/*.yaml"])
def test_invalid_glob(tmp_path: Path, pattern: str) -> None:
    project = PROJECT.replace('resources: ["agents/**/*.yaml"]', f'resources: ["{pattern}"]')
    root = make_project(tmp_path, project)
    with pytest.raises(ConfigError) as caught:
        load_project(root, "local", environ={})
    assert str(caught.value).startswith(
        f"sigmaform.yaml:2:13: resources[0]: invalid glob `{pattern}`"
    )


def test_cross_file_problems_point_at_the_lines_written_after_streaming(example: Project) -> None:
    # The loader lets each file's YAML go once rendered, keeping only the marks that the
    # checks across files report at: those must still name the line that was written,
    # an override's included.
    (example.root / "agents" / "twin.yaml").write_text(
        "kind: Agent\n"
        "name: twin\n"
        "spec:\n"
        "  agentName: placeholder\n"
        "  instructions: hi\n"
        "environments:\n"
        "  local:\n"
        '    agentName: "Acme Support${var.suffix}"\n'
    )
    (example.root / "numbers" / "extra.yaml").write_text(
        "kind: PhoneNumber\n"
        "name: extra\n"
        "spec:\n"
        '  phoneNumber: "+14155550999"\n'
        "  inboundAgent: support\n"
        "environments:\n"
        "  local:\n"
        "    inboundAgent: suport\n"
    )
    result = example.run("--no-color", "plan", "--no-refresh")
    assert result.exit_code == 1
    assert "agents/twin.yaml:8:16: spec.agentName: Agent `twin` has the same agentName" in (
        result.output
    )
    assert "numbers/extra.yaml:8:19: spec.inboundAgent: no Agent named `suport`" in result.output
