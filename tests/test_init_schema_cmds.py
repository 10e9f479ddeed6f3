"""`sigmaform init` and `sigmaform schema`, through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from sigmaform.cli import cli
from sigmaform.cli.schema_cmd import available_schemas, schema_name

ROOT = Path(__file__).resolve().parent.parent
SCAFFOLD = ["sigmaform.yaml", "agents/example.yaml", "agents/prompts/example.md", ".gitignore"]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, result.stdout, result.stderr


# --- init


def test_init_creates_project_and_prints_next_steps(tmp_path: Path) -> None:
    target = tmp_path / "new" / "proj"
    code, out, err = run("init", str(target))
    assert (code, err) == (0, "")
    for name in SCAFFOLD:
        assert (target / name).is_file(), name
    assert (target / ".gitignore").read_text() == ".sigmaform/\n"
    assert f"cd {target}" in out
    assert out.index("sigmaform validate") < out.index("sigmaform plan") < out.index("apply")


def test_init_without_dir_uses_project_dir_option(tmp_path: Path) -> None:
    code, out, _ = run("-C", str(tmp_path), "init")
    assert code == 0
    assert (tmp_path / "sigmaform.yaml").is_file()
    assert "sigmaform validate" in out


def test_init_defaults_to_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("init")
    assert code == 0
    assert (tmp_path / "sigmaform.yaml").is_file()
    assert "cd " not in out


def test_init_refuses_to_overwrite_then_force_overwrites(tmp_path: Path) -> None:
    assert run("init", str(tmp_path))[0] == 0
    project = tmp_path / "sigmaform.yaml"
    project.write_text("version: 1  # mine\n")
    code, _, err = run("init", str(tmp_path))
    assert code == 1
    assert f"{project}: already exists" in err
    assert "--force" in err
    assert project.read_text() == "version: 1  # mine\n"
    code, _, _ = run("init", "--force", str(tmp_path))
    assert code == 0
    assert "environments:" in project.read_text()


def test_init_refuses_when_only_the_example_agent_exists(tmp_path: Path) -> None:
    agent = tmp_path / "agents" / "example.yaml"
    agent.parent.mkdir(parents=True)
    agent.write_text("kind: Agent\n")
    code, _, err = run("init", str(tmp_path))
    assert code == 1
    assert "agents/example.yaml: already exists" in err
    assert not (tmp_path / "sigmaform.yaml").exists(), "nothing is written when refusing"


def test_init_extends_existing_gitignore_once(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("node_modules/")
    assert run("init", str(tmp_path))[0] == 0
    assert (tmp_path / ".gitignore").read_text() == "node_modules/\n.sigmaform/\n"
    assert run("init", "--force", str(tmp_path))[0] == 0
    assert (tmp_path / ".gitignore").read_text() == "node_modules/\n.sigmaform/\n"


def test_init_onto_a_file_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    target = tmp_path / "afile"
    target.write_text("x")
    code, _, err = run("init", str(target))
    assert code != 0
    assert "afile" in err


def test_scaffold_matches_the_schemas(tmp_path: Path) -> None:
    assert run("init", str(tmp_path))[0] == 0
    schema = json.loads((ROOT / "schemas" / "project.schema.json").read_text())
    project = yaml.safe_load((tmp_path / "sigmaform.yaml").read_text())
    assert list(Draft202012Validator(schema).iter_errors(project)) == []
    assert list(project["environments"]) == ["local"]
    assert project["environments"]["local"]["baseUrl"] == "local:.sigmaform/emulator"

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!file", lambda loader, node: loader.construct_scalar(node))
    agent = yaml.load((tmp_path / "agents/example.yaml").read_text(), Loader=Loader)
    assert agent["spec"]["instructions"] == "prompts/example.md"
    agent["spec"]["agentName"] = agent["spec"]["agentName"].replace("${var.suffix}", "(local)")
    schema = json.loads((ROOT / "schemas" / "agent.schema.json").read_text())
    assert list(Draft202012Validator(schema).iter_errors(agent)) == []


def test_init_result_validates_with_the_real_validator(tmp_path: Path) -> None:
    assert run("init", str(tmp_path))[0] == 0
    code, out, err = run("-C", str(tmp_path), "validate")
    assert code == 0, out + err


def test_init_result_plans_and_applies_against_the_emulator(tmp_path: Path) -> None:
    """The scaffold is a working quickstart: the local emulator needs no key or network."""
    assert run("init", str(tmp_path))[0] == 0
    code, out, err = run("-C", str(tmp_path), "apply", "--auto-approve")
    assert code == 0, out + err
    assert "agent.example" in out
    code, out, err = run("-C", str(tmp_path), "plan", "--detailed-exitcode")
    assert code == 0, out + err
    assert "1 unchanged" in out


# --- schema


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("agent", "agent"),
        ("Agent", "agent"),
        ("phone-number", "phone-number"),
        ("PhoneNumber", "phone-number"),
        ("phone_number", "phone-number"),
        ("chat", "chat"),
        ("Chat", "chat"),
        ("project", "project"),
    ],
)
def test_schema_prints_the_shipped_file(kind: str, name: str) -> None:
    code, out, err = run("schema", kind)
    assert (code, err) == (0, "")
    assert out == (ROOT / "schemas" / f"{name}.schema.json").read_text()
    Draft202012Validator.check_schema(json.loads(out))


def test_schema_unknown_kind_lists_known_ones() -> None:
    code, out, err = run("schema", "Agnet")
    assert code == 1
    assert out == ""
    assert "unknown schema kind 'Agnet'" in err
    known = err.split("known: ", 1)[1].strip().split(", ")
    assert {"agent", "chat", "phone-number", "project"} <= set(known)
    assert known == sorted(known)


def test_schema_kinds_are_whatever_schema_files_ship() -> None:
    shipped = sorted(
        p.name.removesuffix(".schema.json") for p in (ROOT / "schemas").glob("*.schema.json")
    )
    assert available_schemas() == shipped
    assert {"agent", "chat", "phone-number", "project"} <= set(shipped)


def test_schema_name_folds_kind_spellings() -> None:
    assert schema_name("PhoneNumber") == schema_name("phone_number") == "phone-number"
    assert schema_name(" Plan ") == "plan"


def test_schema_in_a_real_process() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sigmaform", "schema", "PhoneNumber"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["properties"]["kind"]["const"] == "PhoneNumber"
    bad = subprocess.run(
        [sys.executable, "-m", "sigmaform", "schema", "nope"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert bad.returncode == 1
    assert "Traceback" not in bad.stderr
    assert "known: agent" in bad.stderr
