"""Idle benchmark: the CPU `syndicate run` uses between ticks, with 200 sources and 50 jobs.

Run ``python -m bench.idle --help``; ``python -m bench`` runs it with the others.
"""
