"""Apply at scale: create N generated agents through the embedded emulator, whole process.

    python benchmarks/apply_scale.py 100 1000 10000
    python benchmarks/apply_scale.py --http 100 1000     # an emulator over loopback HTTP

Each size is a fresh project (environment `local`, base URL `local:.sigmaform/emulator`)
and one real `sigmaform apply --auto-approve`; printed: wall seconds, CPU seconds and peak
RSS of that process, and the state document's size per resource afterwards. The issue's bar: 10x the
agents within 15x the time, peak RSS <= 300 MB.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.generate import bench_environ, generate
from benchmarks.harness import PYTHON, base_environ, emulator_server, run_child

APPLY = ("apply", "--auto-approve")


def _argv(root: Path, env: str) -> list[str]:
    return [PYTHON, "-m", "sigmaform", "-C", str(root), "-e", env, "--no-color", *APPLY]


def apply_once(work: Path, count: int, http: bool) -> dict[str, float]:
    root = generate(work / f"apply-{count}", count)
    if http:  # a `sigmaform emulator` child on a loopback port, environment `bench`
        with emulator_server(root / ".sigmaform" / "http-emulator") as url:
            environ = base_environ({**bench_environ(), "SIGMAMIND_BASE_URL": url})
            result = run_child(_argv(root, "bench"), environ)
        state = root / ".sigmaform" / "state" / "bench.json"
    else:
        result = run_child(_argv(root, "local"), base_environ())
        state = root / ".sigmaform" / "state" / "local.json"
    if result.returncode != 0:
        raise RuntimeError(f"apply of {count} agents failed:\n{result.stderr[-2000:]}")
    resources = len(json.loads(state.read_text(encoding="utf-8"))["resources"])
    assert resources == count, f"state holds {resources} of {count}"
    return {
        "agents": count,
        "seconds": round(result.seconds, 2),
        "cpu_seconds": round(result.cpu_seconds, 2),  # the apply process's own user + system
        "peak_rss_mb": round(result.max_rss_mb, 1),
        "state_bytes_per_resource": round(state.stat().st_size / count),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 1000])
    parser.add_argument("--http", action="store_true", help="an emulator over loopback HTTP")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sigmaform-apply-scale-") as tmp:
        rows: list[dict[str, float]] = []
        for count in args.sizes:
            rows.append(apply_once(Path(tmp), count, args.http))
            print(json.dumps(rows[-1]), flush=True)
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        print(
            f"time ratio {last['seconds'] / first['seconds']:.1f}x "
            f"(CPU {last['cpu_seconds'] / first['cpu_seconds']:.1f}x) "
            f"for {last['agents'] / first['agents']:.0f}x the agents"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
