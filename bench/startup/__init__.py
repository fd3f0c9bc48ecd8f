"""Start-up benchmark: how long `syndicate --help` and `syndicate check` take, and why.

Run ``python -m bench.startup --help``; ``python -m bench`` runs it with the others.
"""
