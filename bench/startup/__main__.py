"""`python -m bench.startup`: see bench/startup/run.py."""

from bench.startup.run import main

raise SystemExit(main())
