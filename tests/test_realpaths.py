"""RealPaths gives Path.resolve()'s answers (it only keeps directories' results)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sigmaform.realpaths import RealPaths, within


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "project" / "prompts").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.md").write_text("x")
    (tmp_path / "project" / "prompts" / "a.md").write_text("a")
    os.symlink(tmp_path / "outside", tmp_path / "project" / "linked-dir")
    os.symlink(tmp_path / "outside" / "secret.md", tmp_path / "project" / "prompts" / "b.md")
    os.symlink("c.md", tmp_path / "project" / "prompts" / "loop.md")
    os.symlink("loop.md", tmp_path / "project" / "prompts" / "c.md")
    return tmp_path / "project"


@pytest.mark.parametrize(
    "relative",
    [
        "prompts/a.md",
        "prompts/b.md",  # a file symlink leaving the project
        "linked-dir/secret.md",  # a directory symlink leaving the project
        "linked-dir/../prompts/a.md",  # `..` after a symlink is taken from its target
        "prompts/missing.md",
        "missing-dir/x.md",
        "prompts/..",
        ".",
    ],
)
def test_same_answer_as_resolve(tree: Path, relative: str) -> None:
    realpaths = RealPaths()
    for _ in range(2):  # the second answer comes from the kept directory
        assert realpaths.resolve(tree / relative) == (tree / relative).resolve()


def test_a_symlink_loop_raises_as_resolve_does(tree: Path) -> None:
    with pytest.raises(RuntimeError):
        (tree / "prompts" / "loop.md").resolve()
    with pytest.raises(RuntimeError):
        RealPaths().resolve(tree / "prompts" / "loop.md")


@pytest.mark.parametrize(
    ("path", "root"),
    [("/p/a.md", "/p"), ("/p", "/p"), ("/pq/a.md", "/p"), ("/x", "/p"), ("/p/a", "/"), ("/", "/")],
)
def test_within_answers_as_is_relative_to(path: str, root: str) -> None:
    assert within(path, root) == Path(path).is_relative_to(root)
