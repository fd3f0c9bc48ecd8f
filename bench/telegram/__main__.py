"""`python -m bench.telegram`: see bench/telegram/run.py."""

from bench.telegram.run import main

raise SystemExit(main())
