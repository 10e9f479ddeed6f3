"""YAML written for people (what `import` and `render` write): block style, keys in the
order given, multi-line text as `|` blocks, `!file` references kept."""

from __future__ import annotations

from typing import Any

import yaml

from sigmaform.files import FILE_TAG, FileRef
from sigmaform.yamlload import CORE_SCHEMA

try:
    from yaml import CSafeDumper as _BaseDumper
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeDumper as _BaseDumper  # type: ignore[assignment]

_STR = yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG


class _Dumper(_BaseDumper):
    """Block style, keys in the order given, multi-line text as `|` blocks."""


def _represent_str(dumper: _Dumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar(_STR, value, style="|")
    return dumper.represent_scalar(_STR, value)


def _represent_file_ref(dumper: _Dumper, value: FileRef) -> yaml.ScalarNode:
    return dumper.represent_scalar(FILE_TAG, value.path)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(FileRef, _represent_file_ref)
# The emitter quotes a string that its resolvers would read as another type. It knows YAML
# 1.1's rules; with the core schema's added too, a string that either version reads as a
# number, boolean or null (`1e3`, `0o17`, `yes`) is quoted, so it loads back as a string
# here and in any other tool.
for _tag, _pattern, _first in CORE_SCHEMA:
    _Dumper.add_implicit_resolver(_tag, _pattern, _first)


def dump_yaml(value: Any) -> str:
    """Readable YAML for people: what `import` writes."""
    text: str = yaml.dump(
        value,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100_000,
    )
    return text
