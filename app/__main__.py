"""`python -m app`: the IGC desktop app."""

import sys

from .main import main

sys.exit(main())
