"""The files `sigmaform init` writes: a project that validates and plans against the emulator."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sigmaform.errors import ConfigError, Problem

PROJECT_FILE = "sigmaform.yaml"
GITIGNORE = ".gitignore"
GITIGNORE_LINE = ".sigmaform/"

_PROJECT = """\
# The sigmaform project file. Reference: `sigmaform schema project`.
version: 1
resources: ["agents/**/*.yaml"]          # resource files, relative to this file
state: {backend: local, path: ".sigmaform/state/{environment}.json"}
environments:
  local:
    # The embedded SigmaMind emulator: no account, no API key, no network.
    # Its data lives under .sigmaform/ (gitignored).
    baseUrl: "local:.sigmaform/emulator"
    vars: {suffix: " (local)"}
  # To manage a real SigmaMind workspace, add environments like these. With more than
  # one environment, choose one with -e NAME (or SIGMAFORM_ENV) on every command.
  #
  # staging:
  #   baseUrl: https://api.sigmamind.ai       # the default
  #   apiKeyEnv: SIGMAMIND_API_KEY_STAGING    # the NAME of the variable holding the key
  #   vars: {suffix: " (staging)"}
  # prod:
  #   apiKeyEnv: SIGMAMIND_API_KEY_PROD
  #   promoteFrom: staging                    # prod only gets what staging has applied
  #   safety: {maxChangePercent: 30, allowDelete: false}
  #   vars: {suffix: ""}
"""

_AGENT = """\
# An agent. Reference: `sigmaform schema agent`. For editor completion, save that output as
# schemas/agent.schema.json and put this on the first line:
#   # yaml-language-server: $schema=../schemas/agent.schema.json
kind: Agent
name: example                  # the logical name: sigmaform's key for this agent
spec:
  agentName: "Example Agent${var.suffix}"
  instructions: !file prompts/example.md
  welcomeMessageType: static
  welcomeMessage: "Hello {{customer_name}}, thanks for calling Example Co. How can I help?"
  agentSettings:
    language: en_US
    aiStartsConversation: true
    llmModel: gpt-4o-mini
    voiceId: elevenlabs_SGbOfpm28edC83pZ9iGb
"""

_PROMPT = """\
# Role

You are the phone assistant of Example Co. You answer questions about opening hours,
location and services, politely and in no more than two sentences at a time.

# Caller

- Name: {{customer_name}}

# Rules

- If you do not know an answer, say so and offer to take a message.
- Never ask for card numbers or passwords.
- Before ending, ask whether there is anything else you can help with.
"""


@dataclass(frozen=True)
class ScaffoldFile:
    """One file `init` writes, relative to the project directory."""

    path: str
    text: str


SCAFFOLD_FILES: tuple[ScaffoldFile, ...] = (
    ScaffoldFile(PROJECT_FILE, _PROJECT),
    ScaffoldFile("agents/example.yaml", _AGENT),
    ScaffoldFile("agents/prompts/example.md", _PROMPT),
)


def scaffold(root: Path, *, force: bool = False) -> list[str]:
    """Write a new project into `root`; return the relative paths written or updated.

    Refuses, before writing anything, when any file it would write already exists, unless
    `force`. An existing .gitignore is extended, never replaced.
    """
    existing = [f.path for f in SCAFFOLD_FILES if (root / f.path).exists()]
    if existing and not force:
        raise ConfigError(
            [
                Problem(
                    file=str(root / path),
                    message="already exists; not overwriting it (use --force to overwrite)",
                )
                for path in existing
            ]
        )
    root.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    for item in SCAFFOLD_FILES:
        target = root / item.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(item.text, encoding="utf-8")
        written.append(item.path)
    if _ensure_gitignore(root / GITIGNORE):
        written.append(GITIGNORE)
    return written


def _ensure_gitignore(path: Path) -> bool:
    """Make .sigmaform/ ignored: emulator data and local state are not for the repository."""
    if not path.exists():
        path.write_text(f"{GITIGNORE_LINE}\n", encoding="utf-8")
        return True
    text = path.read_text(encoding="utf-8", errors="replace")
    if any(line.strip() in (GITIGNORE_LINE, "/" + GITIGNORE_LINE) for line in text.splitlines()):
        return False
    separator = "" if text.endswith("\n") or not text else "\n"
    path.write_text(f"{text}{separator}{GITIGNORE_LINE}\n", encoding="utf-8")
    return True


def next_steps(directory: str) -> list[str]:
    """The commands a user runs after `init`, in order."""
    steps = [] if directory in ("", ".") else [f"cd {directory}"]
    return [*steps, "sigmaform validate", "sigmaform plan", "sigmaform apply"]
