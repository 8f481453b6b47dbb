"""`python -m app`: the IGC desktop app."""

import sys

from .main import main

if __name__ == "__main__":  # the engine process imports this module too (multiprocessing 'spawn'): no second app
    sys.exit(main())
