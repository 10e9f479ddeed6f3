"""YAML loading with marks and clean errors; JSON/YAML dumping; atomic writes."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sigmaform import yamlload
from sigmaform.errors import ConfigError
from sigmaform.files import Document, FileRef, Mark, dump_json, format_path, write_atomic
from sigmaform.yamldump import dump_yaml
from sigmaform.yamlload import load_documents, load_documents_many


def _write(tmp_path: Path, text: str | bytes, name: str = "a.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _error(tmp_path: Path, text: str | bytes) -> str:
    with pytest.raises(ConfigError) as caught:
        load_documents(_write(tmp_path, text), "a.yaml")
    return str(caught.value)


def test_uses_the_c_loader_when_available() -> None:
    assert yaml.__with_libyaml__
    assert issubclass(yamlload._Loader, yaml.CSafeLoader)


def test_marks_for_every_value_and_key(tmp_path: Path) -> None:
    text = "kind: Agent\nspec:\n  tools:\n    - type: x\n      n: 3\n  flag: true\n"
    [doc] = load_documents(_write(tmp_path, text), "a.yaml")
    assert doc.data == {"kind": "Agent", "spec": {"tools": [{"type": "x", "n": 3}], "flag": True}}
    assert doc.marks[()] == Mark(1, 1)
    assert doc.marks[("kind",)] == Mark(1, 7)
    assert doc.marks[("spec", "tools")] == Mark(4, 5)
    assert doc.marks[("spec", "tools", 0)] == Mark(4, 7)
    assert doc.marks[("spec", "tools", 0, "n")] == Mark(5, 10)
    assert doc.key_marks[("spec", "flag")] == Mark(6, 3)
    assert doc.locate(("spec", "tools", 0, "missing", "deeper")) == Mark(4, 7)
    assert doc.locate_key(("spec", "flag")) == Mark(6, 3)
    assert doc.locate(()) == Mark(1, 1)
    assert doc.path == tmp_path / "a.yaml" and doc.display == "a.yaml" and doc.index == 0


def test_problem_helper_formats_path() -> None:
    doc = Document(Path("/x.yaml"), "x.yaml", 0, {}, {("spec",): Mark(2, 3)})
    problem = doc.problem(("spec", "tools", 0, "type"), "bad")
    assert str(problem) == "x.yaml:2:3: spec.tools[0].type: bad"
    assert format_path(()) == ""


def test_scalar_types(tmp_path: Path) -> None:
    text = (
        "s: hello\nn: ~\nnull_word: Null\nempty:\ni: 42\nz: 0\nneg: -7\no: 0o17\nh: 0x1f\n"
        "f: 0.5\ne: 1e3\ndot: .5\nb: true\nB: FALSE\nd: 2024-01-01\nq: 'no'\nkey_on: {on: 1}\n"
    )
    [doc] = load_documents(_write(tmp_path, text), "a.yaml")
    d = doc.data
    assert d["s"] == "hello" and d["n"] is None and d["null_word"] is None and d["empty"] is None
    assert d["i"] == 42 and d["z"] == 0 and d["neg"] == -7 and d["o"] == 15 and d["h"] == 31
    assert d["f"] == 0.5 and d["e"] == 1000.0 and d["dot"] == 0.5
    assert d["b"] is True and d["B"] is False and d["q"] == "no"
    assert d["d"] == "2024-01-01"  # dates stay text: JSON has no date type
    assert d["key_on"] == {"on": 1}  # keys are the text written, never booleans


@pytest.mark.parametrize(
    ("written", "value"),
    [
        # YAML 1.1 read these as other types; the YAML 1.2 core schema reads them as text
        ("1:30", "1:30"),  # sexagesimal: 90 under YAML 1.1
        ("yes", "yes"),
        ("No", "No"),
        ("on", "on"),
        ("OFF", "OFF"),
        ("y", "y"),
        ("1_000", "1_000"),
        ("0b101", "0b101"),
        ("+0x1f", "+0x1f"),
        ("2024-01-01 10:00:00", "2024-01-01 10:00:00"),
        ("TRue", "TRue"),
        ("NULL", None),
        # numbers per YAML 1.2: a leading zero is decimal, not octal
        ("0755", 755),
        ("0o755", 493),
        ("+12", 12),
        ("-1.5e-3", -0.0015),
        ("5.", 5.0),
    ],
)
def test_yaml_12_core_schema(tmp_path: Path, written: str, value: object) -> None:
    [doc] = load_documents(_write(tmp_path, f"v: {written}\n"), "a.yaml")
    assert doc.data["v"] == value and type(doc.data["v"]) is type(value)


@pytest.mark.parametrize("written", [".nan", ".NaN", ".inf", "-.Inf", "+.INF", "1e999", "-1e400"])
def test_nan_and_infinity_refused(tmp_path: Path, written: str) -> None:
    message = _error(tmp_path, f"a: 1\nv: {written}\n")
    assert message.startswith("a.yaml:2:4: ") and "not a finite number" in message


def test_huge_integer_is_a_clean_error(tmp_path: Path) -> None:
    message = _error(tmp_path, "a: 1\nv: " + "9" * 5_000 + "\n")
    assert message == "a.yaml:2:4: integer of 5000 digits is too large"


def test_huge_hex_integer_loads(tmp_path: Path) -> None:
    [doc] = load_documents(_write(tmp_path, "v: 0x" + "f" * 5_000 + "\n"), "a.yaml")
    assert doc.data["v"] == 16**5_000 - 1


@pytest.mark.parametrize(
    ("written", "column"),
    [('"a\\0b"', 4), ('"a\\x00b"', 4), ('"\\u0000"', 4), ('{"k\\0": 1}', 5)],
)
def test_nul_character_refused(tmp_path: Path, written: str, column: int) -> None:
    message = _error(tmp_path, f"a: 1\nv: {written}\n")
    assert message.startswith(f"a.yaml:2:{column}: ") and "NUL character" in message


def test_file_tag_becomes_fileref(tmp_path: Path) -> None:
    [doc] = load_documents(_write(tmp_path, "instructions: !file prompts/x.md\n"), "a.yaml")
    assert doc.data == {"instructions": FileRef("prompts/x.md", Mark(1, 15))}


def test_file_tag_without_path(tmp_path: Path) -> None:
    assert "a.yaml:1:4: `!file` needs a path" in _error(tmp_path, "x: !file\n")


def test_duplicate_keys_name_both_lines(tmp_path: Path) -> None:
    message = _error(tmp_path, "a: 1\nb:\n  c: 1\n  c: 2\na: 3\n")
    assert "a.yaml:4:3: duplicate key `c` (first on line 3)" in message
    assert "a.yaml:5:1: duplicate key `a` (first on line 1)" in message


@pytest.mark.parametrize(
    "text",
    [
        "a: !!python/object:os.system x\n",
        "a: !!python/object/apply:os.system [ls]\n",
        "a: !!binary aGVsbG8=\n",
        "a: !!set {x, y}\n",
        "a: !custom {x: 1}\n",
        "a: !!omap [x: 1]\n",
    ],
)
def test_unsafe_and_unknown_tags_refused(tmp_path: Path, text: str) -> None:
    message = _error(tmp_path, text)
    assert message.startswith("a.yaml:1:4: tag `")
    assert "is not allowed (only plain YAML values and `!file`)" in message


def test_billion_laughs_refused_quickly(tmp_path: Path) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]")
    path = _write(tmp_path, "\n".join(lines) + "\n")
    started = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        load_documents(path, "a.yaml")
    print(f"billion laughs refused in {time.perf_counter() - started:.4f}s")
    assert "aliases expand to more than 10000 nodes; refused" in str(caught.value)


def test_modest_aliases_and_merge_keys_work(tmp_path: Path) -> None:
    text = "base: &d {a: 1, b: 2}\ncopy: *d\nover:\n  <<: *d\n  b: 3\n"
    [doc] = load_documents(_write(tmp_path, text), "a.yaml")
    assert doc.data["copy"] == {"a": 1, "b": 2}
    assert doc.data["over"] == {"a": 1, "b": 3}
    assert doc.marks[("over",)] == Mark(4, 3)  # not the merged mapping's position
    assert doc.marks[("over", "b")] == Mark(5, 6)


def test_merge_of_non_mapping_refused(tmp_path: Path) -> None:
    assert "`<<` merges only mappings" in _error(tmp_path, "a:\n  <<: 3\n")


def test_recursive_alias_refused(tmp_path: Path) -> None:
    assert "an alias refers to a node that contains it" in _error(tmp_path, "a: &a [*a]\n")


def test_complex_key_refused(tmp_path: Path) -> None:
    assert "a mapping key must be a plain value" in _error(tmp_path, "? [a, b]\n: 1\n")


def test_deep_nesting_refused_without_crashing(tmp_path: Path) -> None:
    # libyaml's composer recurses on the C stack: 100,000 levels would crash the process.
    # Newer libyaml also has its own limit (1,000), which its read-ahead reaches first on one
    # line of brackets: our limit must still be the one reported, whatever the library.
    message = _error(tmp_path, "[" * 100_000 + "]" * 100_000)
    assert message == "a.yaml:1:101: nested deeper than 100 levels"


@pytest.mark.parametrize(
    "text",
    [
        "{a: " * 5_000 + "1" + "}" * 5_000,
        "a:\n" + "".join(" " * (2 * i) + "- \n" for i in range(1, 3_000)),
        "[" * 2_000 + "\n" + "]" * 2_000,
    ],
)
def test_deep_nesting_in_other_shapes(tmp_path: Path, text: str) -> None:
    message = _error(tmp_path, text)
    assert "nested deeper than 100 levels" in message and message.startswith("a.yaml:")


def test_broken_file_past_libyamls_limit_keeps_its_position(tmp_path: Path) -> None:
    # Deep but broken before it is deep: the real problem and its position are reported.
    message = _error(tmp_path, "a: b: c\n" + "[" * 2_000)
    assert message.startswith("a.yaml:1:5: ") and "nested" not in message


def test_moderate_nesting_refused_by_builder(tmp_path: Path) -> None:
    assert "nested deeper than 100 levels" in _error(tmp_path, "[" * 150 + "]" * 150)


def test_tab_indentation(tmp_path: Path) -> None:
    message = _error(tmp_path, "a:\n\t- b\n")
    assert message.startswith("a.yaml:2:1: ")
    assert "tabs cannot indent YAML, use spaces" in message


def test_tab_in_mapping(tmp_path: Path) -> None:
    assert "tabs cannot indent YAML" in _error(tmp_path, "a: 1\n\tb: 2\n")


def test_not_utf8(tmp_path: Path) -> None:
    message = _error(tmp_path, b"a: ok\nb: caf\xe9\n")
    assert message == "a.yaml:2:7: not UTF-8 text (a YAML file must be UTF-8)"


def test_binary_garbage(tmp_path: Path) -> None:
    message = _error(tmp_path, bytes(range(256)) * 4)
    assert message.startswith("a.yaml:2:") and "not UTF-8 text" in message


def test_control_characters(tmp_path: Path) -> None:
    message = _error(tmp_path, "é: 1\nb: 'x\x01'\n")
    assert message == "a.yaml:2:6: control character U+0001 is not allowed in YAML"


def test_utf8_bom_accepted(tmp_path: Path) -> None:
    [doc] = load_documents(_write(tmp_path, b"\xef\xbb\xbfa: 1\n"), "a.yaml")
    assert doc.data == {"a": 1}


@pytest.mark.parametrize("text", ["", "# only a comment\n# and another\n", "---\n---\n"])
def test_empty_files(tmp_path: Path, text: str) -> None:
    assert _error(tmp_path, text) == "a.yaml: no YAML document (the file is empty)"


def test_several_documents_skip_empty_ones(tmp_path: Path) -> None:
    text = "---\n---\nkind: A\n---\n# nothing\n---\nkind: B\n"
    docs = load_documents(_write(tmp_path, text), "a.yaml")
    assert [(d.index, d.data, d.start) for d in docs] == [
        (1, {"kind": "A"}, Mark(3, 1)),
        (3, {"kind": "B"}, Mark(7, 1)),
    ]


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        # the file ends inside a bracket or a quote: the line where it opens
        ("a: [1, 2\n", "a.yaml:1:4: ", "did not find expected ',' or ']'"),
        ("a:\n  b: 1\n c: 2\n", "a.yaml:3:2: ", "did not find expected key"),
        ("a: 'open\n", "a.yaml:1:4: ", "found unexpected end of stream"),
        ('a: 1\nb: "x\nc: 2\n\n', "a.yaml:2:4: ", "that starts here"),
        ("a: b: c\n", "a.yaml:1:5: ", "mapping values are not allowed"),
        ("a: *nope\n", "a.yaml:1:4: ", "found undefined alias"),
    ],
)
def test_parser_errors_have_positions(tmp_path: Path, text: str, where: str, words: str) -> None:
    message = _error(tmp_path, text)
    assert message.startswith(where), message
    assert words in message


def test_errors_in_later_document_keep_earlier_position_info(tmp_path: Path) -> None:
    message = _error(tmp_path, "a: 1\n---\nb: 1\nb: 2\n")
    assert message == "a.yaml:4:1: duplicate key `b` (first on line 3)"


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: file not found"):
        load_documents(tmp_path / "nope.yaml", "nope.yaml")
    with pytest.raises(ConfigError, match="d: is a directory"):
        (tmp_path / "d").mkdir()
        load_documents(tmp_path / "d", "d")


def test_default_display_is_the_path(tmp_path: Path) -> None:
    path = _write(tmp_path, "a: 1\n")
    assert load_documents(path)[0].display == str(path)


def test_large_prompt_string_loads(tmp_path: Path) -> None:
    prompt = ("You are a helpful agent. Say {{name}}: - [x] ok.\n" * 110_000)[: 5 * 1024 * 1024]
    text = "instructions: |\n" + "".join(f"  {line}\n" for line in prompt.splitlines())
    [doc] = load_documents(_write(tmp_path, text), "a.yaml")
    assert len(doc.data["instructions"]) > 5_000_000


def test_load_many_collects_problems_across_files(tmp_path: Path) -> None:
    good = _write(tmp_path, "a: 1\n", "good.yaml")
    bad1 = _write(tmp_path, "a: [\n", "bad1.yaml")
    (tmp_path / "sub").mkdir()
    bad2 = _write(tmp_path, "a: 1\na: 2\n", "sub/bad2.yaml")
    docs, problems = load_documents_many([bad1, good, bad2], tmp_path)
    assert [d.display for d in docs] == ["good.yaml"]
    assert sorted(p.file for p in problems) == ["bad1.yaml", "sub/bad2.yaml"]


def test_load_1000_agent_files(tmp_path: Path) -> None:
    agent = (
        "kind: Agent\nname: agent-{i}\nspec:\n  agentName: Agent {i}\n"
        "  instructions: !file prompts/x.md\n  welcomeMessage: 'Hi {{{{name}}}}'\n"
        "  agentSettings:\n    language: en_US\n    llmModel: gpt-4o-mini\n    temperature: 0.4\n"
        "    webhooks:\n      - name: events\n        url: https://x.example/{i}\n"
        "        secret: '${{secret.S}}'\n        events: [a, b]\n"
        "  tools:\n    - type: voice_transfer_call\n      transferTo: '+14155550100'\n"
        "environments:\n  prod:\n    agentSettings: {{llmModel: gpt-4o}}\n"
    )
    paths = [_write(tmp_path, agent.format(i=i), f"a{i:04d}.yaml") for i in range(1000)]
    started = time.perf_counter()
    docs, problems = load_documents_many(paths, tmp_path)
    print(f"loaded 1,000 agent files in {time.perf_counter() - started:.3f}s")
    assert len(docs) == 1000 and not problems
    assert docs[999].data["name"] == "agent-999"


def test_dump_json_is_stable() -> None:
    assert dump_json({"b": 1, "a": {"d": [1, "é"], "c": None}}) == (
        '{\n  "a": {\n    "c": null,\n    "d": [\n      1,\n      "é"\n    ]\n  },\n  "b": 1\n}\n'
    )


def test_dump_yaml_readable_and_round_trips(tmp_path: Path) -> None:
    value = {
        "kind": "Agent",
        "name": "support",
        "spec": {"instructions": "line one\nline two\n", "flag": "no", "n": 3, "list": [1, 2]},
        "prompt": FileRef("prompts/x.md", Mark(1, 1)),
    }
    text = dump_yaml(value)
    assert text.splitlines()[0] == "kind: Agent"  # order kept
    assert "instructions: |\n    line one\n    line two\n" in text
    assert "flag: 'no'" in text
    assert "prompt: !file prompts/x.md" in text
    [doc] = load_documents(_write(tmp_path, text), "a.yaml")
    assert doc.data["spec"] == value["spec"]
    assert doc.data["prompt"].path == "prompts/x.md"


def test_write_atomic_with_backup(tmp_path: Path) -> None:
    target = tmp_path / "state" / "prod.json"
    write_atomic(target, "one\n")
    assert target.read_text() == "one\n"
    assert not (target.parent / "prod.json.backup").exists()
    os.chmod(target, 0o640)
    write_atomic(target, "two\n", backup=True)
    assert target.read_text() == "two\n"
    assert (target.parent / "prod.json.backup").read_text() == "one\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in target.parent.iterdir()) == ["prod.json", "prod.json.backup"]


def test_write_atomic_leaves_old_file_when_write_fails(tmp_path: Path) -> None:
    target = tmp_path / "x.json"
    write_atomic(target, json.dumps({"a": 1}))
    with pytest.raises(UnicodeEncodeError):
        write_atomic(target, "\ud800")  # a lone surrogate cannot be encoded
    assert target.read_text() == '{"a": 1}'
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


_YAMLISH = st.text(
    alphabet=st.sampled_from(list("ab: -[]{}&*!|>'\"#\n\t?,%@`~0.\x00é")), max_size=60
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=_YAMLISH)
def test_any_text_loads_or_fails_cleanly(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        docs = load_documents(path, "fuzz.yaml")
    except ConfigError as error:
        assert all(p.file == "fuzz.yaml" and p.message for p in error.problems)
    else:
        assert docs and all(isinstance(d.marks, dict) for d in docs)
        json.dumps([d.data for d in docs], default=lambda ref: ref.path)  # plain data only


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=200))
def test_any_bytes_load_or_fail_cleanly(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(data)
    with contextlib.suppress(ConfigError):
        load_documents(path, "fuzz.yaml")


@pytest.mark.parametrize(
    "text",
    ["1e3", "0o17", ".5", "yes", "on", "1:30", "TRUE", "~", "Null", "0755", "1_000", "-.inf"],
)
def test_dumped_strings_load_back_as_strings(tmp_path: Path, text: str) -> None:
    """What import writes reads back unchanged, whichever YAML version would misread it."""
    written = dump_yaml({"v": text})
    [doc] = load_documents(_write(tmp_path, written), "a.yaml")
    assert doc.data == {"v": text}
    assert yaml.safe_load(written) == {"v": text}  # and in a YAML 1.1 reader too
