"""How cost grows: fan-out by subscribers (bench.fanout), ingest by feeds (bench.ingest).

Fan-out: one edition to 1k, 10k and 100k subscribers through the real pipeline (see
bench/fanout/fanout.py); time to deliver and peak memory of the delivering process.
Ingest: a first `syndicate fetch` of 50, 200 and 800 feeds of 25 entries (see
bench/ingest/run.py); time and peak memory of the process.

Linear means the cost of one more unit (1,000 subscribers, a feed) stays about the same
from the smallest size to the largest; flat memory means the peak barely moves. The
verdicts are computed, not written by hand (see `verdict`): `per_unit_growth` is 1.0 for
a perfectly linear cost (`quadratic_would_be` gives it for a quadratic one);
`memory_growth` is the largest size's peak memory over the smallest's.

    python -m bench.scaling --subscribers 1000 10000 100000 --feeds 50 200 800
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from bench.measure import load_average, median

__all__ = ["fanout_curve", "ingest_curve", "main", "verdict"]

LINEAR_WITHIN = 1.5  # per-unit cost may grow this much and still be called linear
FLAT_WITHIN = 1.25  # peak memory may grow this much and still be called flat


def fanout_curve(
    sizes: Sequence[int], runs: dict[int, int], *, bare: int, log: Any = print
) -> list[dict[str, Any]]:
    from bench.fanout.fanout import measure

    points = []
    for size in sizes:
        results = []
        for number in range(runs.get(size, 1)):
            result = measure(size, bare=bare)
            result["load_average"] = load_average()
            result["bare_messages"] = bare
            if result["sent_rows"] != size:
                raise RuntimeError(f"fan-out to {size}: only {result['sent_rows']} rows sent")
            results.append(result)
            log(
                f"  fan-out {size:,}, run {number + 1}: {result['deliver_seconds']:.1f} s, "
                f"{result['rate']:.0f} msg/s vs bare {result['bare_rate']:.0f} "
                f"({result['ratio']:.2f}), {result['deliver_maxrss_mb']:.0f} MB "
                f"(load {result['load_average']:.1f})"
            )
        points.append(_fanout_point(size, results))
    return points


def _fanout_point(size: int, results: list[dict[str, Any]]) -> dict[str, Any]:
    def mid(key: str) -> float:
        return median([r[key] for r in results])

    return {
        "subscribers": size,
        "runs": len(results),
        "deliver_seconds": mid("deliver_seconds"),
        "deliver_seconds_runs": [r["deliver_seconds"] for r in results],
        "rate": mid("rate"),
        "bare_rate": mid("bare_rate"),
        "bare_messages": results[0]["bare_messages"],
        "ratio": median([r["ratio"] for r in results]),
        "ratio_runs": [r["ratio"] for r in results],
        "deliver_maxrss_mb": mid("deliver_maxrss_mb"),
        "prepare_maxrss_mb": mid("prepare_maxrss_mb"),
        "import_seconds": mid("import_seconds"),
        "enqueue_seconds": mid("enqueue_seconds"),
        "sink_received": [r["sink_received"] for r in results],
        "rows": [r["rows"] for r in results],
        "load_average": mid("load_average"),
    }


def ingest_curve(
    sizes: Sequence[int],
    runs: int,
    known: dict[int, dict[str, Any]] | None = None,
    *,
    log: Any = print,
) -> list[dict[str, Any]]:
    """syndicate's first and second poll at each size; sizes in `known` are not re-measured."""
    from bench.ingest.run import compare

    points = []
    for size in sizes:
        result = (known or {}).get(size) or compare(size, runs, None, log=log)
        ours = result["syndicate"]
        points.append(
            {
                "feeds": size,
                "runs": len(ours["first_seconds"]),
                "first_seconds": ours["first"],
                "first_seconds_runs": ours["first_seconds"],
                "second_seconds": ours["second"],
                "maxrss_mb": ours["maxrss_mb"],
                "load_average": result["load_average"],
            }
        )
    return points


def verdict(points: list[dict[str, Any]], size: str, cost: str, memory: str) -> dict[str, Any]:
    """How cost and memory grow from the smallest size to the largest.

    With three sizes or more, `per_unit_growth` compares the marginal cost per unit of the
    last step with that of the first ((t3 - t2) / (n3 - n2) against (t2 - t1) / (n2 - n1)),
    so a fixed start-up cost does not pass for economy of scale; with two, the cost per unit.
    """
    small, large = points[0], points[-1]
    if len(points) >= 3:
        first, second, last = points[0], points[1], points[-1]
        before = (second[cost] - first[cost]) / (second[size] - first[size])
        after = (last[cost] - points[-2][cost]) / (last[size] - points[-2][size])
        growth, method = after / before, "marginal"
        # What the same ratio would be for a cost growing with the square of the size.
        quadratic = (last[size] + points[-2][size]) / (second[size] + first[size])
    else:
        growth = (large[cost] / large[size]) / (small[cost] / small[size])
        method, quadratic = "per unit", large[size] / small[size]
    memory_growth = large[memory] / small[memory]
    return {
        "per_unit_growth": growth,
        "method": method,
        "quadratic_would_be": quadratic,
        "linear": growth <= LINEAR_WITHIN,
        "memory_growth": memory_growth,
        "memory_flat": memory_growth <= FLAT_WITHIN,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__)
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--feeds", type=int, nargs="+", default=[50, 200, 800])
    parser.add_argument("--runs", type=int, default=3, help="runs per size (100k: one)")
    parser.add_argument("--bare", type=int, default=10_000)
    options = parser.parse_args(argv)
    log = lambda text: print(text, file=sys.stderr)  # noqa: E731
    runs = {size: (1 if size >= 100_000 else options.runs) for size in options.subscribers}
    fanout = fanout_curve(options.subscribers, runs, bare=options.bare, log=log)
    ingest = ingest_curve(options.feeds, options.runs, log=log)
    result = {
        "fanout": fanout,
        "fanout_verdict": verdict(fanout, "subscribers", "deliver_seconds", "deliver_maxrss_mb"),
        "ingest": ingest,
        "ingest_verdict": verdict(ingest, "feeds", "first_seconds", "maxrss_mb"),
    }
    print(json.dumps(result, indent=2, default=str))
    return 0
