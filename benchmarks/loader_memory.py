"""Peak memory of loading a project alone: `python benchmarks/loader_memory.py ROOT ENV`.

Prints the process's peak RSS (MB) after `open_project` (read, render and schema-check
every file), and after importing sigmaform only, as JSON: the loader's share of a plan's
peak memory is the difference.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path


def _peak_mb() -> float:
    """This process's own peak RSS. VmHWM, not ru_maxrss: after fork and exec, Linux keeps
    the parent's peak in ru_maxrss when it was higher."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(argv: list[str]) -> int:
    root, env = Path(argv[0]), argv[1]
    import sigmaform.cli  # noqa: F401  what every command imports
    from sigmaform.operations import open_project

    imported = _peak_mb()
    project = open_project(root, env)
    print(
        json.dumps(
            {
                "resources": len(project.resources),
                "imports_mb": round(imported, 1),
                "loaded_mb": round(_peak_mb(), 1),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
