"""A `!file` text that apply keeps by digest and reads again from its file when it is needed.

Creating 10,000 agents held every prompt (1-20 KB each, ~110 MB) from loading the files to
the end of the apply: in the rendered resources, in the plan's create changes, and in the
state recorded after each create. Apply loads the project with `lazy_files`: a long `!file`
value is then a `FileText` once its resource is rendered and checked, which knows the file
and the digest of what was read. Its text is read again each time something needs it (the
plan shown, the request body, a state blob), never kept, and refused if the file no longer
holds what was planned: apply never sends text that the plan did not show.

It is a `TextRef`, so every place that already takes state's out-of-line text (comparison
by digest, `materialize`, blob writes) takes it too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sigmaform.errors import ConfigError, Problem
from sigmaform.files import read_regular
from sigmaform.state_blobs import TextRef, digest_of


def normalise_newlines(text: str) -> str:
    # Read as read_text would: universal newlines, so a CRLF prompt diffs like an LF one.
    return text.replace("\r\n", "\n").replace("\r", "\n")


class FileText(TextRef):
    """A long `!file` value known by its digest; `.text` reads the file again each time."""

    __slots__ = ("display", "path")

    def __init__(self, digest: str, path: Path, display: str) -> None:
        super().__init__(digest, None)
        self.path = path  # resolved: the same file whatever the working directory
        self.display = display  # as the user wrote it, for messages

    @classmethod
    def of(cls, text: str, path: Path, display: str) -> FileText:
        return cls(digest_of(text), path, display)

    @property
    def text(self) -> str:
        try:
            text: str | None = normalise_newlines(read_regular(self.path).decode("utf-8"))
        except (OSError, UnicodeDecodeError):
            text = None
        if text is None or digest_of(text) != self.digest:
            raise ConfigError(
                Problem(
                    self.display,
                    message="the file changed (or is gone) since sigmaform read it for this "
                    "plan; nothing was sent from it: run the command again",
                )
            )
        return text

    def __repr__(self) -> str:
        return f"FileText({self.display!r}, {self.digest!r})"


def swap_texts(value: Any, found: Callable[[str], FileText | None]) -> Any:
    """`value` with each string that `found` knows replaced by its FileText (in place for
    containers: a rendered spec is ours to change)."""
    if isinstance(value, str):
        return found(value) or value
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = swap_texts(item, found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            value[index] = swap_texts(item, found)
    return value
