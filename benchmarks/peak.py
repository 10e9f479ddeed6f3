"""Run `python -m MODULE ARGS...` or `python SCRIPT ARGS...`, then write this process's own
peak RSS (VmHWM, in KiB) to the file named by BENCH_PEAK_FILE.

The harness times children through this: the ru_maxrss that wait4 gives a child includes
its parent's peak when that was higher (Linux keeps it across fork and exec), and the
benchmark runner itself holds a whole generated project in memory.
"""

from __future__ import annotations

import atexit
import os
import runpy
import sys


def _report() -> None:
    target = os.environ.get("BENCH_PEAK_FILE")
    if not target:
        return
    with open("/proc/self/status", encoding="ascii") as status:
        peak = next((line.split()[1] for line in status if line.startswith("VmHWM:")), "")
    with open(target, "w", encoding="ascii") as out:
        out.write(peak)


def main() -> None:
    atexit.register(_report)
    if sys.argv[1] == "-m":
        module = sys.argv[2]
        sys.argv = [module, *sys.argv[3:]]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        sys.argv = sys.argv[1:]
        runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
