"""`python -m forum ...`: see forum.cli."""

import sys

from forum.cli import main

sys.exit(main())
