"""Measuring a program run: wall time, CPU time and peak memory of a child process.

A child is started by a tiny launcher process and reaped there with `os.wait4`, so its
resource usage (user and system CPU seconds, ``ru_maxrss``) is that process's own and that
of the processes it started and waited for (syndicate's feed-parsing workers). Since
``ru_maxrss`` is the largest single process, the launcher also samples, every 0.1 s, the
resident memory of the program and all its descendants together (`tree_rss_mb`).
The launcher matters for memory: Linux carries a process's resident size at `fork` into
the ``ru_maxrss`` of what it `exec`s, so a program started straight from this (large)
benchmark process would report at least this process's size. Started from the launcher
(Python without site, about 9 MB), the floor is the launcher's size. Figures are
reported as medians of several runs; `load_average` says how busy the machine was
meanwhile, since its other work slows every run.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Run", "load_average", "machine", "median", "run_program", "spread"]


@dataclass(frozen=True)
class Run:
    """One finished child process."""

    seconds: float  # wall clock, start to exit
    cpu_seconds: float  # user + system
    maxrss_mb: float  # peak resident memory of the largest single process
    tree_rss_mb: float  # peak of the program's processes together (sampled)
    returncode: int
    stdout: str
    stderr: str


_LAUNCHER = """
import json, os, sys, threading, time
report, argv = sys.argv[1], sys.argv[2:]
page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
peak_kb = 0

def tree_kb(root):
    parents, sizes = {}, {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(name)], sizes[int(name)] = int(fields[1]), int(fields[21]) * page_kb
    total, stack = 0, [root]
    children = {}
    for child, parent in parents.items():
        children.setdefault(parent, []).append(child)
    while stack:
        pid = stack.pop()
        total += sizes.get(pid, 0)
        stack.extend(children.get(pid, ()))
    return total

def sample(pid, done):
    global peak_kb
    while not done.wait(0.1):
        peak_kb = max(peak_kb, tree_kb(pid))

started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
done = threading.Event()
sampler = threading.Thread(target=sample, args=(pid, done), daemon=True)
sampler.start()
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
done.set()
sampler.join()
with open(report, "w") as out:
    json.dump([seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss,
               os.waitstatus_to_exitcode(status), max(peak_kb, usage.ru_maxrss)], out)
"""


def run_program(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 900,
) -> Run:
    """Run `argv` to its end and measure it; output is captured to files, not pipes."""
    base = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-{os.getpid()}-{time.monotonic_ns()}"
    report = Path(f"{base}.json")
    launcher = [sys.executable, "-S", "-c", _LAUNCHER, str(report), *argv]
    with open(f"{base}.out", "w+b") as out, open(f"{base}.err", "w+b") as err:
        process = subprocess.Popen(
            launcher, cwd=cwd, env=env, stdout=out, stderr=err, start_new_session=True
        )
        watchdog = threading.Timer(timeout, os.killpg, (process.pid, signal.SIGKILL))
        watchdog.start()
        try:
            process.wait()
        finally:
            watchdog.cancel()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    try:
        seconds, cpu_seconds, maxrss_kb, returncode, tree_kb = json.loads(report.read_text())
    except (OSError, ValueError):  # killed by the watchdog
        seconds, cpu_seconds, maxrss_kb, returncode, tree_kb = timeout, 0.0, 0, -9, 0
    for path in (report, Path(f"{base}.out"), Path(f"{base}.err")):
        path.unlink(missing_ok=True)
    return Run(
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        maxrss_mb=maxrss_kb / 1024,  # kB on Linux
        tree_rss_mb=tree_kb / 1024,
        returncode=returncode,
        stdout=stdout,
        stderr=stderr,
    )


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    """'min-max' of the runs, for the report: how much they disagreed."""
    if len(values) < 2:
        return ""
    return f"{min(values):.3g}–{max(values):.3g}"


def load_average() -> float:
    """The one-minute load average (how many processes wanted a core)."""
    return os.getloadavg()[0]


def machine() -> dict[str, str]:
    """What this machine is, for the report's heading."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
                break
    except OSError:
        pass
    return {
        "cpu": model or platform.processor() or platform.machine(),
        "cores": str(os.cpu_count()),
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "executable": sys.executable,
    }
