"""`python -m bench.extraction`: see bench/extraction/run.py."""

from bench.extraction.run import main

raise SystemExit(main())
