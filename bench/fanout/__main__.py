"""`python -m bench.fanout`: see bench/fanout/fanout.py."""

from bench.fanout.fanout import main

raise SystemExit(main())
