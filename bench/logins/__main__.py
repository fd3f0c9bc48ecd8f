"""`python -m bench.logins`: see bench/logins/run.py."""

from bench.logins.run import main

raise SystemExit(main())
