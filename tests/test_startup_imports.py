"""What every command pays at start-up: the HTTP stack and the file editor load only when used."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = ("httpx", "ruamel", "boto3", "psycopg", "jsonschema")


def test_the_cli_starts_without_the_http_stack_or_optional_drivers() -> None:
    # `plan --no-refresh` and `validate` of a valid project never talk to the API; the import
    # of the command table must not pull httpx in (it cost ~0.1 s of every command).
    probe = f"import sys, sigmaform.cli; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_a_command_imports_only_its_own_module() -> None:
    # Command modules load on first use: `plan` must not pay for the emulator or doctor.
    probe = (
        "import sys\n"
        "from sigmaform.cli import cli\n"
        "cli.get_command(None, 'plan')\n"
        "print(','.join(m for m in ('sigmaform.emulator', 'sigmaform.doctor', "
        "'sigmaform.cli.import_cmd') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""


def test_every_command_module_is_in_the_table() -> None:
    # A *_cmd module missing from COMMAND_MODULES would never be imported: its command
    # would silently not exist.
    from sigmaform.cli import cli
    from sigmaform.cli.commands import COMMAND_MODULES

    here = Path(__file__).resolve().parent.parent / "sigmaform" / "cli"
    listed = {m for modules in COMMAND_MODULES.values() for m in modules}
    assert {p.stem for p in here.glob("*_cmd.py")} == listed
    assert sorted(cli.commands) == sorted(COMMAND_MODULES)
