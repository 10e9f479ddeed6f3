"""The built wheel: its metadata (what PyPI shows) and its contents (schemas ship).

Builds with the setuptools backend in a subprocess, without build isolation,
so no network is needed (about 2 s)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path

import pytest

import sigmaform

SOURCES = ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "CHANGELOG.md")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = Path(__file__).resolve().parent.parent
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        shutil.copy(repo / name, src / name)
    (src / "docs").mkdir()
    shutil.copy(repo / "docs" / "pypi.md", src / "docs" / "pypi.md")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(repo / "sigmaform", src / "sigmaform", ignore=ignore)
    shutil.copytree(repo / "schemas", src / "schemas", ignore=ignore)
    out = tmp_path_factory.mktemp("dist")
    build = f"from setuptools import build_meta; print(build_meta.build_wheel({str(out)!r}))"
    done = subprocess.run(
        [sys.executable, "-c", build], cwd=src, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out / done.stdout.strip().splitlines()[-1]


def metadata(wheel: Path) -> tuple[list[str], Message]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        meta = archive.read(f"sigmaform-{sigmaform.__version__}.dist-info/METADATA").decode()
    return names, HeaderParser().parsestr(meta)


def test_wheel_metadata_is_complete(wheel: Path) -> None:
    _, meta = metadata(wheel)
    assert meta["Version"] == sigmaform.__version__
    assert meta["License-Expression"] == "MIT"
    assert meta["License-File"] == "LICENSE"
    classifiers = meta.get_all("Classifier")
    assert "Operating System :: OS Independent" in classifiers
    assert "Environment :: Console" in classifiers
    assert any(c.startswith("Development Status :: ") for c in classifiers)
    assert any(c.startswith("Topic :: ") for c in classifiers)
    for version in ("3.11", "3.12", "3.13", "3.14"):
        assert f"Programming Language :: Python :: {version}" in classifiers
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert {"Homepage", "Issues", "Changelog"} <= set(urls)
    assert all(u.startswith("https://github.com/sigmaform/sigmaform") for u in urls.values())
    assert meta["Keywords"]
    assert meta["Description-Content-Type"] == "text/markdown"
    # Every dependency has an upper bound on its major version.
    for requirement in meta.get_all("Requires-Dist"):
        if "extra ==" not in requirement:
            assert "<" in requirement, requirement


def test_wheel_ships_schemas_and_license_but_no_tests(wheel: Path) -> None:
    names, _ = metadata(wheel)
    schemas = {n for n in names if n.startswith("sigmaform/schemas/") and n.endswith(".json")}
    repo = Path(__file__).resolve().parent.parent
    assert schemas == {f"sigmaform/schemas/{p.name}" for p in (repo / "schemas").glob("*.json")}
    assert "sigmaform/py.typed" in names
    assert f"sigmaform-{sigmaform.__version__}.dist-info/licenses/LICENSE" in names
    assert not [n for n in names if n.startswith(("tests/", "examples/", "benchmarks/"))]


def test_the_pypi_description_links_only_absolute_urls() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "pypi.md").read_text()
    targets = re.findall(r"\]\(([^)]+)\)", text) + re.findall(r"<(https?://[^>]+)>", text)
    assert targets
    assert all(t.startswith("https://") for t in targets), targets
    assert f"@v{sigmaform.__version__}" in text  # the install line names this release


def test_wheel_ships_every_module_of_the_source_tree(wheel: Path) -> None:
    """A package missing from pyproject's list installs a sigmaform that cannot start
    (the editable install the suite runs on would never notice)."""
    names, _ = metadata(wheel)
    repo = Path(__file__).resolve().parent.parent
    modules = {p.relative_to(repo).as_posix() for p in (repo / "sigmaform").rglob("*.py")}
    assert modules - set(names) == set()
