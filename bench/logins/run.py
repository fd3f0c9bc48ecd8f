"""Peak memory of `syndicate serve` under 120 parallel logins, against the gate opened wide.

Each run starts a server (bench/logins/server.py: `serve` itself, behind a trusted proxy
so that 120 made-up client addresses each get their own limits), lets 120 clients fetch
the login form, then sends their 120 wrong passwords at once. The figures are the
server's resident memory before the burst (VmRSS) and its peak (VmHWM, which `exec`
starts afresh, so nothing of the launching process is counted), for syndicate (two
password checks at a time, the rest answered 429 at once) and, side by side, the peer
(every check at once). Runs alternate which goes first. Beside it, the cost of one rate
limiter call while it holds 1,000 keys and while it holds 50,000 (its bound), each call
with a key it has not seen: the same, whatever the number of keys.

    python -m bench.logins --runs 3
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.measure import median
from syndicate.web.security import RateLimiter
from tests.browser.live import ADMIN_USER
from tests.served import ServedSite
from tests.smtpserver import SmtpServer

CLIENTS = 120
KINDS = {"syndicate": 2, "peer": 100_000}  # password checks at once


def _status_kb(pid: int, field: str) -> float:
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def burst(site: ServedSite) -> Counter[int]:
    """120 logins with wrong passwords, sent together; their answers' status codes."""
    ready = threading.Barrier(CLIENTS)

    def one(n: int) -> int:
        with httpx.Client(base_url=site.address, timeout=120) as browser:
            # A connection of its own for the POST: an idle one may be closed meanwhile.
            form_page = browser.get("/admin/login", headers={"connection": "close"})
            token = re.search(r'name="csrf" value="([^"]+)"', form_page.text)
            assert token is not None
            ready.wait()
            form = {"csrf": token.group(1), "user": ADMIN_USER, "password": f"tebak-{n}"}
            hop = {"x-forwarded-for": f"10.1.{n // 250}.{n % 250 + 1}"}
            return browser.post("/admin/login", data=form, headers=hop).status_code

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        return Counter(pool.map(one, range(CLIENTS)))


def one_run(kind: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.logins.server", str(KINDS[kind])]
    proxy = 'trusted_proxies = ["127.0.0.1"]'
    with (
        tempfile.TemporaryDirectory() as folder,
        SmtpServer() as smtp,
        ServedSite(Path(folder), smtp, proxy, command=command) as site,
    ):
        assert site.process is not None
        before = _status_kb(site.process.pid, "VmRSS") / 1024
        answers = burst(site)
        peak = _status_kb(site.process.pid, "VmHWM") / 1024
    return {"before_mb": round(before, 1), "peak_mb": round(peak, 1), "answers": answers}


def limiter_microseconds(keys: int, calls: int = 200_000) -> float:
    """Microseconds per `RateLimiter.allow` while it holds `keys` keys (new ones arriving)."""
    limiter = RateLimiter(10, 600, max_keys=keys)
    for n in range(keys):
        limiter.allow(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")
    names = [f"172.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}" for n in range(calls)]
    started = time.perf_counter()
    for name in names:
        limiter.allow(name)
    return (time.perf_counter() - started) / calls * 1e6


def measure(runs: int, log: Callable[[str], None] = print) -> dict[str, Any]:
    found: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    for run in range(runs):
        order = list(KINDS) if run % 2 == 0 else list(reversed(KINDS))
        for kind in order:
            result = one_run(kind)
            found[kind].append(result)
            log(
                f"  logins, run {run + 1}, {kind}: {result['before_mb']:.0f} MB before, "
                f"{result['peak_mb']:.0f} MB peak, answers {dict(result['answers'])}"
            )
    summary: dict[str, Any] = {"clients": CLIENTS, "runs": {}}
    for kind, results in found.items():
        summary[kind] = {
            "before_mb": median([r["before_mb"] for r in results]),
            "peak_mb": median([r["peak_mb"] for r in results]),
            "refused": median([r["answers"].get(429, 0) for r in results]),
        }
        summary["runs"][kind] = [r["peak_mb"] for r in results]
    growth = {k: summary[k]["peak_mb"] - summary[k]["before_mb"] for k in KINDS}
    summary["growth_ratio"] = growth["peer"] / max(growth["syndicate"], 0.1)
    summary["peak_ratio"] = summary["peer"]["peak_mb"] / summary["syndicate"]["peak_mb"]
    # The fastest of several alternating repetitions: the machine's other work only slows.
    costs: dict[int, list[float]] = {1_000: [], 50_000: []}
    for repetition in range(max(runs, 5)):
        for keys in sorted(costs, reverse=repetition % 2 == 1):
            costs[keys].append(limiter_microseconds(keys, calls=100_000))
    small, large = min(costs[1_000]), min(costs[50_000])
    summary["limiter"] = {"small_us": small, "large_us": large, "ratio": large / small}
    log(f"  rate limiter: {small:.2f} µs a call at 1,000 keys, {large:.2f} µs at 50,000")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.logins", description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args(argv)
    print(json.dumps(measure(options.runs), indent=1, default=str))
    return 0
