"""Imports every command module so that each registers itself on the group."""

from __future__ import annotations

from sigmaform.cli import (  # noqa: F401
    apply_cmd,
    destroy_cmd,
    diff_env_cmd,
    doctor_cmd,
    drift_cmd,
    emulator_cmd,
    fmt_cmd,
    graph_cmd,
    import_cmd,
    init_cmd,
    plan_cmd,
    promote_cmd,
    pull_cmd,
    render_cmd,
    schema_cmd,
    show_cmd,
    state_cmd,
    state_transfer_cmd,
    test_cmd,
    validate_cmd,
)
