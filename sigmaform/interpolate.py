"""`${...}` values, `!file` contents and secret wrapping: a document rendered for one env."""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sigmaform.errors import Problem
from sigmaform.files import (
    Document,
    FileRef,
    JsonPath,
    Mark,
    NotRegularFileError,
    display_path,
    format_path,
    read_regular,
)
from sigmaform.kinds import SENSITIVE_KEYS
from sigmaform.realpaths import RealPaths, within
from sigmaform.resource import Environment
from sigmaform.sensitive import Sensitive, remember
from sigmaform.spec_text import FileText, swap_texts
from sigmaform.state_blobs import is_long

SecretsMode = Literal["required", "placeholder"]

# `$${` escapes, `${...}` is an expression, and a `${` with no `}` is a mistake.
_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_EXPRESSION = re.compile(r"(var|env|secret)\.([A-Za-z_][A-Za-z0-9_-]*)")
_USAGE = "use ${var.NAME}, ${env.NAME}, ${secret.NAME} or ${environment}; $${ writes ${"


def suggest(word: str, candidates: list[str] | set[str] | Mapping[str, Any]) -> str:
    """` (did you mean `x`?)` when a candidate is close, else ``."""
    import difflib  # here: only a message with a suggestion needs it

    close = difflib.get_close_matches(word, sorted(candidates), n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""


@dataclass
class Renderer:
    """Renders values for one environment, collecting problems instead of stopping.

    `files` caches `!file` contents across documents and environments.
    """

    root: Path
    environment: Environment
    environ: Mapping[str, str]
    secrets: SecretsMode = "required"
    problems: list[Problem] = field(default_factory=list)
    files: dict[str, str | Problem | FileText] = field(default_factory=dict)  # by real path
    # validate only: an unset `${env.X}` renders as a placeholder instead of an error, so
    # any laptop and the pre-commit hook can validate (plan and apply name what is missing;
    # promote and diff-env compare rendered values, which a placeholder would falsify).
    env_placeholders: bool = False
    # `${env.X}` names that hold credentials (API keys, the state URL): name -> what it holds.
    forbidden_env: Mapping[str, str] = field(default_factory=dict)
    # Paths (under `spec`) of values that hold a placeholder or a failed expression, since
    # the last `take_unresolved`: a schema error there is noise after the real problem.
    unresolved: set[JsonPath] = field(default_factory=set)
    # Every `${env.X}` rendered (file, mark, path, name), and every secret name: an env
    # var also used as a secret would put the secret's value where it is printed and
    # stored. The mark, not the document: documents are let go once rendered.
    env_uses: list[tuple[str, Mark, JsonPath, str]] = field(default_factory=list)
    secret_names: set[str] = field(default_factory=set)
    # Directories' real paths, kept: each `!file` costs one lstat, not one per component.
    realpaths: RealPaths = field(default_factory=RealPaths)
    # Called with the text of each sensitive value rendered (plan starts stretching it
    # for its fingerprint while the other files load).
    on_secret: Callable[[str], None] | None = None
    _real_root: str | None = field(default=None, init=False, repr=False)
    _secrets: dict[str, tuple[str | None, bool]] = field(
        default_factory=dict, init=False, repr=False
    )
    _texts: dict[str, str | Sensitive] = field(default_factory=dict, init=False, repr=False)
    # apply: a long `!file` value is kept as a FileText once its resource is checked
    # (`take_file_texts`), so the rendered project does not hold every prompt.
    lazy_files: bool = False
    # Held with their text until taken, so that no id can be reused meanwhile.
    file_texts: dict[int, tuple[str, FileText]] = field(default_factory=dict)

    def render(self, doc: Document, value: Any, path: JsonPath, in_spec: bool = True) -> Any:
        """A copy of `value` with expressions replaced, files read and secrets wrapped."""
        if isinstance(value, str):
            return self._string(doc, value, path)
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, child in value.items():
                # Most values render as themselves (text without `${`, numbers, booleans,
                # null): told apart here, without a call and a path for each.
                kind = child.__class__
                if (kind is str and "${" not in child) or kind in _SCALARS:
                    rendered = child
                else:
                    rendered = self.render(doc, child, (*path, key), in_spec)
                if in_spec and key in SENSITIVE_KEYS and isinstance(rendered, str):
                    # A webhook secret is sensitive even when written literally.
                    if rendered and not self.environment.is_local:
                        self._literal_secret(doc, child, (*path, key))
                    rendered = self._sensitive(rendered, "literal")
                out[key] = rendered
            return out
        if isinstance(value, list):
            return [
                child
                if (child.__class__ is str and "${" not in child) or child.__class__ in _SCALARS
                else self.render(doc, child, (*path, i), in_spec)
                for i, child in enumerate(value)
            ]
        if isinstance(value, FileRef):
            return self._file(doc, value, path)
        return value

    def take_unresolved(self) -> frozenset[JsonPath]:
        """The unresolved paths since the last call, as paths in the rendered spec."""
        env = self.environment.name
        taken = frozenset(
            ("spec", *path[2:]) if path[:2] == ("environments", env) else path
            for path in self.unresolved
        )
        self.unresolved = set()
        return taken

    def _problem(self, doc: Document, path: JsonPath, message: str) -> None:
        self.problems.append(doc.problem(path, message))
        self.unresolved.add(path)

    def _literal_secret(self, doc: Document, written: Any, path: JsonPath) -> None:
        """A secret written into the file (or a var) where only a `${secret.X}` belongs."""
        if isinstance(written, str) and ("${secret." in written or "${env." in written):
            return
        self.problems.append(
            doc.problem(
                path,
                'a literal secret in a file ends up in git: write "${secret.NAME}" and set '
                "NAME in the environment (only a `local:` environment may use a literal)",
            )
        )

    def _file(self, doc: Document, ref: FileRef, path: JsonPath) -> str:
        # File contents are NOT interpolated: prompts are prose full of `{{var}}` and may
        # mention `${` literally; a prompt that needs a value can use SigmaMind's own
        # `{{variables}}` instead. Paths are text here: a plan reads a prompt per agent.
        target = os.path.join(os.path.dirname(doc.path), ref.path)
        cached: str | Problem | None
        try:
            target = self.realpaths.real(target)
        except (RuntimeError, OSError):  # a symlink loop
            mark = ref.mark
            cached = Problem(
                doc.display,
                mark.line,
                mark.column,
                format_path(path),
                f"`!file {ref.path}`: a symlink loop",
            )
        else:
            known = self.files.get(target)
            if known is None:
                cached = self._read(doc, ref, target, path)
                self.files[target] = cached
                if self.lazy_files and isinstance(cached, str) and is_long(cached):
                    lazy = FileText.of(cached, Path(target), display_path(Path(target), self.root))
                    self.files[target] = lazy  # the cache keeps the digest, not the text
                    self.file_texts[id(cached)] = (cached, lazy)
            elif isinstance(known, FileText):
                cached = known.text  # read again: another document names the same file
                self.file_texts[id(cached)] = (cached, known)
            else:
                cached = known
        if isinstance(cached, Problem):
            self.problems.append(cached)
            self.unresolved.add(path)
            return ""
        return cached

    def take_file_texts(self, value: Any) -> Any:
        """`value` (a rendered spec) with the long `!file` texts read since the last call
        as FileTexts (lazy_files). Matched by identity: a string that only equals one
        stays itself."""
        read, self.file_texts = self.file_texts, {}
        if not read:
            return value

        def found(text: str) -> FileText | None:
            entry = read.get(id(text))
            return entry[1] if entry is not None and entry[0] is text else None

        return swap_texts(value, found)

    def _read(self, doc: Document, ref: FileRef, target: str, path: JsonPath) -> str | Problem:
        def problem(message: str) -> Problem:
            return Problem(doc.display, ref.mark.line, ref.mark.column, format_path(path), message)

        if self._real_root is None:
            self._real_root = self.realpaths.real(self.root)
        if not within(target, self._real_root):
            return problem(f"`!file {ref.path}` is outside the project directory; refused")
        try:
            text = read_regular(target).decode("utf-8")
        except FileNotFoundError:
            return problem(f"`!file {ref.path}`: file not found")
        except IsADirectoryError:
            return problem(f"`!file {ref.path}`: is a directory")
        except NotRegularFileError:
            return problem(f"`!file {ref.path}`: not a regular file (a FIFO, socket or device)")
        except UnicodeDecodeError:
            return problem(f"`!file {ref.path}`: not UTF-8 text")
        except OSError as error:
            return problem(f"`!file {ref.path}`: cannot read ({error.strerror})")
        if "\0" in text:
            return problem(f"`!file {ref.path}`: a NUL character (\\0) is not allowed in text")
        if "\r" in text:
            # Read as read_text would: universal newlines, so a CRLF prompt diffs like an LF one.
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        return text

    def _string(self, doc: Document, text: str, path: JsonPath) -> Any:
        if "${" not in text:
            return text
        # The same text renders the same in one environment (1,000 agents may name one
        # `${secret.X}`), unless rendering it reported something or recorded where it was
        # used: only a clean text or secret is kept.
        held = self._texts.get(text)
        if held is not None:
            return held
        before = (len(self.problems), len(self.unresolved), len(self.env_uses))
        rendered = self._expand(doc, text, path)
        after = (len(self.problems), len(self.unresolved), len(self.env_uses))
        if after == before and isinstance(rendered, str | Sensitive):
            self._texts[text] = rendered
        return rendered

    def _expand(self, doc: Document, text: str, path: JsonPath) -> Any:
        whole = _TOKEN.fullmatch(text)
        if whole and whole.group(1) is not None:
            found = _EXPRESSION.fullmatch(whole.group(1).strip())
            if found and found.group(1) == "var":
                # `${var.X}` alone keeps the variable's type (a number stays a number).
                return copy.deepcopy(self._var(doc, found.group(2), path))
        parts: list[str] = []
        sources: list[str] = []  # the text with secrets left as expressions: a safe identity
        secret_names: list[str] = []
        position = 0
        for token in _TOKEN.finditer(text):
            literal = text[position : token.start()]
            parts.append(literal)
            sources.append(literal)
            position = token.end()
            if token.group(0) == "$${":
                parts.append("${")
                sources.append("$${")
                continue
            expression = token.group(1)
            if expression is None:
                self._problem(doc, path, f"`${{` without a closing `}}`: {_USAGE}")
                continue
            value, secret = self._expression(doc, expression.strip(), path)
            parts.append(value)
            if secret is None:
                sources.append(value)
            else:
                secret_names.append(secret)
                sources.append("${" + secret + "}")
                remember(value)  # the secret alone, not only the string around it
        parts.append(text[position:])
        sources.append(text[position:])
        rendered = "".join(parts)
        if not secret_names:
            return rendered
        whole_secret = len(sources) == 3 and not sources[0] and not sources[2]
        source = secret_names[0] if whole_secret else "".join(sources)
        return self._sensitive(rendered, source)

    def _sensitive(self, value: str, source: str) -> Sensitive:
        if self.on_secret is not None and value:
            self.on_secret(value)
        return Sensitive(value, source=source)

    def _expression(self, doc: Document, expression: str, path: JsonPath) -> tuple[str, str | None]:
        """The text of one expression, and the secret's `secret.NAME` if it is one."""
        if expression == "environment":
            return self.environment.name, None
        found = _EXPRESSION.fullmatch(expression)
        if found is None:
            self._problem(doc, path, f"unknown expression `${{{expression}}}`: {_USAGE}")
            return "", None
        scope, name = found.groups()
        if scope == "var":
            value = self._var(doc, name, path)
            if isinstance(value, dict | list):
                # Python's repr of it would land in the text.
                self._problem(
                    doc,
                    path,
                    f"`${{var.{name}}}` is a {'mapping' if isinstance(value, dict) else 'list'}: "
                    "only a value that is the whole `${var.NAME}` can be one, not part of a text",
                )
                return "", None
            return _as_text(value), None
        if scope == "env":
            return self._env(doc, name, path), None
        self.secret_names.add(name)
        secret, malformed = self._secret(name)
        if secret is None:
            if self.secrets == "required":
                self._problem(
                    doc,
                    path,
                    f"`${{secret.{name}}}`: environment variable `{name}` is not set "
                    f"or empty (environment `{self.environment.name}`)",
                )
            self.unresolved.add(path)
            secret = ""
        elif malformed:
            # Usually a trailing newline from a file; sent as is, it would sign nothing
            # the receiver can check, and a library's error could quote it.
            self._problem(
                doc,
                path,
                f"`${{secret.{name}}}`: the value of `{name}` has surrounding whitespace, a"
                " newline or another control character; remove it (the value is not shown)",
            )
            secret = ""
        return secret, f"secret.{name}"

    def _secret(self, name: str) -> tuple[str | None, bool]:
        """The value of secret `name` (None: unset) and whether it is malformed; looked up
        once per name (1,000 agents may use one secret 1,000 times)."""
        found = self._secrets.get(name)
        if found is None:
            # Empty counts as unset: CI systems pass an undefined secret as "", and sending
            # an empty webhook secret would silently disable payload signing.
            secret = self.environ.get(name) or None
            if secret is None:
                secret = self.environment.secret_defaults.get(name) or None
            malformed = secret is not None and (
                secret != secret.strip() or any(ord(c) < 32 or ord(c) == 127 for c in secret)
            )
            found = self._secrets[name] = (secret, malformed)
        return found

    def _env(self, doc: Document, name: str, path: JsonPath) -> str:
        held = self.forbidden_env.get(name)
        if held is not None:
            self._problem(
                doc,
                path,
                f"`${{env.{name}}}` holds {held}: an `${{env.X}}` value is printed in plans and "
                "stored in state; refused",
            )
            return ""
        self.env_uses.append((doc.display, doc.locate(path), path, name))
        value = self.environ.get(name)
        if value is None:
            if not self.env_placeholders:
                self._problem(
                    doc, path, f"`${{env.{name}}}`: environment variable `{name}` is not set"
                )
            self.unresolved.add(path)
            return ""
        return value

    def env_secret_problems(self) -> list[Problem]:
        """`${env.X}` where X is also used as `${secret.X}`: the secret would be printed."""
        return [
            Problem(
                display,
                mark.line,
                mark.column,
                format_path(path),
                f"`${{env.{name}}}`: `{name}` is also used as `${{secret.{name}}}`; "
                f"write `${{secret.{name}}}` here too, so that it is never printed or stored",
            )
            for display, mark, path, name in self.env_uses
            if name in self.secret_names
        ]

    def _var(self, doc: Document, name: str, path: JsonPath) -> Any:
        variables = self.environment.vars
        if name in variables:
            return variables[name]
        known = ", ".join(sorted(variables)) or "none"
        self._problem(
            doc,
            path,
            f"`${{var.{name}}}`: no variable `{name}`{suggest(name, variables)} "
            f"in environment `{self.environment.name}` (its vars: {known})",
        )
        return ""


_SCALARS = frozenset({int, float, bool, type(None)})  # values that render as themselves


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"  # as YAML writes it, not Python's `True`
    if value is None:
        return ""
    return str(value)


def deep_merge(base: Any, override: Any) -> Any:
    """Objects merge key by key; arrays and scalars replace."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base[key], value) if key in base else value
        return merged
    return override


def mark_of(doc: Document, path: JsonPath, env: str | None) -> Mark:
    """Where the rendered value at `path` (under `spec`) was written.

    An override replaces the spec's value, so its mark comes first; then the spec's own
    value; then the nearest written ancestor.
    """
    if env is not None and path and path[0] == "spec":
        mark = doc.mark_at(("environments", env, *path[1:]))
        if mark is not None:
            return mark
    return doc.locate(path)


def escape_literal(value: Any) -> Any:
    """`value` written so that rendering reads it back as itself: every `${` becomes `$${`.

    For text that came from the server (import, pull): a literal `${` must not become an
    expression when the file is rendered."""
    if isinstance(value, str):
        return value.replace("${", "$${")
    if isinstance(value, dict):
        return {k: escape_literal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape_literal(v) for v in value]
    return value
