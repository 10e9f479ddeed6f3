"""Benchmark plumbing: timed child processes with their own peak RSS, emulator servers, tables."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PYTHON = sys.executable
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class RunResult:
    seconds: float
    cpu_seconds: float  # user + system of the child alone
    max_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


PEAK = Path(__file__).with_name("peak.py")


def run_child(args: Sequence[str], env: Mapping[str, str], cwd: Path | None = None) -> RunResult:
    """Run one child process; its wall time, CPU time from wait4, and its own peak RSS.

    A Python child runs through peak.py, which reports its VmHWM: wait4's ru_maxrss
    would include this parent's peak when that was higher (Linux keeps it across fork
    and exec), and the runner holds whole generated projects in memory.
    """
    args = list(args)
    if args and args[0] == PYTHON:
        args = [PYTHON, str(PEAK), *args[1:]]
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory() as tmp,
    ):
        peak_file = Path(tmp) / "peak"
        child_env = {**env, "BENCH_PEAK_FILE": str(peak_file)}
        start = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=err, env=child_env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        reported = peak_file.read_text(encoding="ascii") if peak_file.exists() else ""
        peak_kib = int(reported) if reported.isdigit() else usage.ru_maxrss  # KiB on Linux
        return RunResult(
            seconds=seconds,
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            max_rss_mb=peak_kib / 1024,
            returncode=proc.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


def sigmaform(
    root: Path, env_name: str, *args: str, environ: Mapping[str, str], expect: Sequence[int] = (0,)
) -> RunResult:
    """`python -m sigmaform -C ROOT -e ENV ARGS...` as a whole process."""
    result = run_child(
        [PYTHON, "-m", "sigmaform", "-C", str(root), "-e", env_name, "--no-color", *args], environ
    )
    if result.returncode not in expect:
        raise RuntimeError(
            f"sigmaform {' '.join(args)} exited {result.returncode}:\n{result.stderr[-2000:]}"
        )
    return result


@dataclass
class Timing:
    """Several runs of one job: median and spread."""

    samples: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def spread(self) -> str:
        return f"{min(self.samples):.2f}-{max(self.samples):.2f}"

    def describe(self) -> str:
        return (
            f"{self.median:.2f} s (n={len(self.samples)}, {self.spread()}; "
            f"CPU {statistics.median(self.cpu):.2f} s)"
        )


def repeat(runs: int, job: Callable[[], RunResult]) -> Timing:
    timing = Timing()
    for _ in range(runs):
        result = job()
        timing.samples.append(result.seconds)
        timing.cpu.append(result.cpu_seconds)
        timing.rss_mb.append(result.max_rss_mb)
    return timing


def repeat_pair(
    runs: int, job: Callable[[], RunResult], other: Callable[[], RunResult]
) -> tuple[Timing, Timing]:
    """`repeat` of two jobs, run by run in turn: load from elsewhere falls on both alike."""
    first, second = Timing(), Timing()
    for _ in range(runs):
        for timing, run in ((first, job), (second, other)):
            result = run()
            timing.samples.append(result.seconds)
            timing.cpu.append(result.cpu_seconds)
            timing.rss_mb.append(result.max_rss_mb)
    return first, second


def compile_package() -> None:
    """Write sigmaform's bytecode, as `pip install` does: a checkout run with
    PYTHONDONTWRITEBYTECODE=1 compiles ~100 modules in every timed process (~0.2 s)."""
    import compileall

    compileall.compile_dir(str(REPO / "sigmaform"), quiet=1)


def base_environ(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The parent's environment without SIGMA* variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGMA")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


_LISTENING = re.compile(r"listening on (http://\S+)")


@contextmanager
def emulator_server(data_dir: Path, *options: str) -> Iterator[str]:
    """A `sigmaform emulator` child on a free loopback port; yields its base URL."""
    data_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [PYTHON, "-m", "sigmaform", "emulator", "--port", "0", "--data", str(data_dir), *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=base_environ(),
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = _LISTENING.search(line)
        if found is None:
            raise RuntimeError(f"emulator did not start: {line!r}")
        yield found.group(1)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass(frozen=True)
class Row:
    scenario: str
    measured: str
    bar: str = ""
    ratio: str = ""
    baseline: str = ""  # the naive script's figure, where there is one


def table(rows: Sequence[Row]) -> str:
    lines = [
        "| scenario | measured | bar | measured/bar | naive script |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {r.scenario} | {r.measured} | {r.bar} | {r.ratio} | {r.baseline} |" for r in rows]
    return "\n".join(lines) + "\n"


def ratio(measured: float, bar: float) -> str:
    return f"{measured / bar:.2f}"
