"""Telegram pacing benchmark: posts to many channels through a Bot API server enforcing
Telegram's flood limits.

Run ``python -m bench.telegram --help``. Results go in BENCHMARKS.md.
"""
