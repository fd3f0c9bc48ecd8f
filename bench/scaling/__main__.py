"""`python -m bench.scaling`: see bench/scaling/run.py."""

from bench.scaling.run import main

raise SystemExit(main())
