"""Imports every command module so that each registers itself on the group."""

from __future__ import annotations

import importlib

# Each name is a module in sigmaform/cli/ whose import adds a command to `cli`.
# A module not written yet is simply skipped, so parallel work can land piece by piece.
_COMMAND_MODULES = (
    "validate_cmd",
    "init_cmd",
    "schema_cmd",
    "emulator_cmd",
    "plan_cmd",
    "apply_cmd",
    "state_cmd",
    "drift_cmd",
    "import_cmd",
    "promote_cmd",
    "state_transfer_cmd",
    "diff_env_cmd",
)

for _name in _COMMAND_MODULES:
    try:
        importlib.import_module(f"sigmaform.cli.{_name}")
    except ModuleNotFoundError as error:
        if error.name != f"sigmaform.cli.{_name}":
            raise
