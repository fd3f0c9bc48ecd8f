"""`python -m syndicate` runs the same command as `syndicate`."""

from syndicate.cli import run

run()
