"""Which module registers each command: imported only when that command is asked for."""

from __future__ import annotations

# Command name -> the modules under sigmaform.cli that register it (a new command module
# goes here; tests/test_startup_imports.py checks that every *_cmd module is listed).
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "apply": ("apply_cmd",),
    "destroy": ("destroy_cmd",),
    "diff-env": ("diff_env_cmd",),
    "doctor": ("doctor_cmd",),
    "drift": ("drift_cmd",),
    "emulator": ("emulator_cmd",),
    "fmt": ("fmt_cmd",),
    "graph": ("graph_cmd",),
    "import": ("import_cmd",),
    "init": ("init_cmd",),
    "plan": ("plan_cmd",),
    "promote": ("promote_cmd",),
    "pull": ("pull_cmd",),
    "render": ("render_cmd",),
    "schema": ("schema_cmd",),
    "show": ("show_cmd",),
    "state": ("state_cmd", "state_transfer_cmd"),
    "test": ("test_cmd",),
    "validate": ("validate_cmd",),
}
