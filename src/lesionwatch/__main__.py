"""`python -m lesionwatch` runs the command line."""

import sys

from lesionwatch.cli.main import main

sys.exit(main())
