"""`python -m detector`: the same as the `detector` command."""

import sys

from .cli import main

sys.exit(main())
