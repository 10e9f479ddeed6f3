"""What every command pays at start-up: the HTTP stack and the file editor load only when used."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("httpx", "ruamel", "boto3", "psycopg", "jsonschema")


def test_the_cli_starts_without_the_http_stack_or_optional_drivers() -> None:
    # `plan --no-refresh` and `validate` of a valid project never talk to the API; the import
    # of the command table must not pull httpx in (it cost ~0.1 s of every command).
    probe = f"import sys, sigmaform.cli; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""
