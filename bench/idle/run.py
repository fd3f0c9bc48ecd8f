"""The CPU `syndicate run` uses while it waits: 200 sources, 50 jobs, between ticks.

The sources are the ingest benchmark's feeds on a local server, polled once by `syndicate
fetch` beforehand so none is due again for 15 minutes; the 50 jobs are daily digests none
of which is due within two hours. Then `syndicate run` starts, is left to settle, and its
CPU time (user + system, from /proc/PID/stat, all its threads) is read over the next 60
seconds. Those 60 seconds hold its ordinary ticks: one poll tick (which finds no source
due) and two delivery passes (which find nothing queued).

    python -m bench.idle --seconds 60 --settle 15
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.ingest.run import serve
from bench.ingest.server import FeedsServer
from bench.measure import load_average
from bench.peers import syndicate_command
from bench.site import quiet_jobs, write_site

__all__ = ["main", "measure"]

TARGET_PERCENT = 1.0


def measure(seconds: float = 60, settle: float = 15, *, log: Any = print) -> dict[str, Any]:
    with FeedsServer() as server, tempfile.TemporaryDirectory(prefix="bench-idle-") as folder:
        settings = write_site(Path(folder), serve(server, 200), quiet_jobs(50))
        command = [*syndicate_command(), "--config", str(settings)]
        subprocess.run([*command, "-q", "fetch"], check=True, capture_output=True)
        server.take_answers()
        with open(Path(folder) / "run.log", "wb") as output:
            process = subprocess.Popen([*command, "run"], stdout=output, stderr=output)
            try:
                time.sleep(settle)
                if process.poll() is not None:
                    raise RuntimeError(f"syndicate run stopped: {_tail(folder)}")
                windows = []
                start = before = _cpu_seconds(process.pid)
                began = time.monotonic()
                for _ in range(3):
                    time.sleep(seconds / 3)
                    now = _cpu_seconds(process.pid)
                    windows.append(now - before)
                    before = now
                elapsed = time.monotonic() - began
                used = before - start
                memory = _rss_mb(process.pid)
            finally:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(45)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    percent = 100 * used / elapsed
    log(f"  idle: {used:.3f} CPU-s over {elapsed:.0f} s = {percent:.2f}% of one core")
    return {
        "seconds": elapsed,
        "cpu_seconds": used,
        "percent": percent,
        "window_cpu_seconds": windows,
        "rss_mb": memory,
        "requests_while_idle": sum(server.take_answers().values()),
        "target_percent": TARGET_PERCENT,
        "load_average": load_average(),
        "exit_code": process.returncode,
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads (proc(5), fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _tail(folder: str) -> str:
    return (Path(folder) / "run.log").read_text(errors="replace")[-2000:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.idle", description=__doc__)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--settle", type=float, default=15)
    options = parser.parse_args(argv)
    result = measure(options.seconds, options.settle, log=lambda t: print(t, file=sys.stderr))
    print(json.dumps(result, indent=2))
    return 0
