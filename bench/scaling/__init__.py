"""Scaling benchmark: fan-out at 1k, 10k and 100k subscribers, ingest at 50, 200 and 800 feeds.

Run ``python -m bench.scaling --help``; ``python -m bench`` runs it with the others and
draws the curves into ``bench-scaling.png`` next to BENCHMARKS.md.
"""
