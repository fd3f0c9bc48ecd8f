"""Fan-out benchmark: one email edition to many subscribers, against a bare smtplib loop.

Run ``python -m bench.fanout --help``. Results go in BENCHMARKS.md.
"""
