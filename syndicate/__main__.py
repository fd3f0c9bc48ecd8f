"""`python -m syndicate` runs the same command as `syndicate`."""

import sys

from syndicate.cli import main

sys.exit(main())
