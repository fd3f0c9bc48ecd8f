"""`python -m bench.ingest`: see bench/ingest/run.py."""

from bench.ingest.run import main

raise SystemExit(main())
