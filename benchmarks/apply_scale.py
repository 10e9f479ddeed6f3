"""Apply at scale: create N generated agents through the embedded emulator, whole process.

    python benchmarks/apply_scale.py 100 1000 10000

Each size is a fresh project (environment `local`, base URL `local:.sigmaform/emulator`)
and one real `sigmaform apply --auto-approve`; printed: wall seconds, peak RSS of that
process, and the state document's size per resource afterwards. The issue's bar: 10x the
agents within 15x the time, peak RSS <= 300 MB.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.generate import generate
from benchmarks.harness import PYTHON, base_environ, run_child

APPLY = ("apply", "--auto-approve")


def apply_once(work: Path, count: int) -> dict[str, float]:
    root = generate(work / f"apply-{count}", count)
    result = run_child(
        [PYTHON, "-m", "sigmaform", "-C", str(root), "-e", "local", "--no-color", *APPLY],
        base_environ(),
    )
    if result.returncode != 0:
        raise RuntimeError(f"apply of {count} agents failed:\n{result.stderr[-2000:]}")
    state = root / ".sigmaform" / "state" / "local.json"
    resources = len(json.loads(state.read_text(encoding="utf-8"))["resources"])
    assert resources == count, f"state holds {resources} of {count}"
    return {
        "agents": count,
        "seconds": round(result.seconds, 2),
        "peak_rss_mb": round(result.max_rss_mb, 1),
        "state_bytes_per_resource": round(state.stat().st_size / count),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 1000])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sigmaform-apply-scale-") as tmp:
        rows: list[dict[str, float]] = []
        for count in args.sizes:
            rows.append(apply_once(Path(tmp), count))
            print(json.dumps(rows[-1]), flush=True)
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        print(
            f"time ratio {last['seconds'] / first['seconds']:.1f}x "
            f"for {last['agents'] / first['agents']:.0f}x the agents"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
