"""`python -m bench.hostile`: see bench/hostile/run.py."""

from bench.hostile.run import main

raise SystemExit(main())
