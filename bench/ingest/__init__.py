"""Ingest benchmark: `syndicate fetch` against rss2email on the same feeds, the same server.

Run ``python -m bench.ingest --help``; ``python -m bench`` runs it with the others.
"""
