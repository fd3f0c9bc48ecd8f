"""Hostile-answers benchmark: the peak memory of a poll that meets a 400 MB page and a gzip
bomb, against the 150 MB target.

Run ``python -m bench.hostile --help``; ``python -m bench`` runs it with the others.
"""
