"""Command-line argument types that the app's entry point shares with the CLI.

Torch-free on purpose: `igc-app --help` and `python -m app --help` parse their options with these and must
answer without loading torch (about 3 s), and the app must not import the CLI layer (igc_core.commands).
"""

from __future__ import annotations

import argparse


def threads_arg(text: str) -> int:
    """--threads: a positive count, or 0 / 'auto' for the automatic choice."""
    if text.strip().lower() == "auto":
        return 0
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"threads must be a whole number or 'auto', got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"threads must be 1 or more (or 0 / 'auto' for automatic), got {text!r}")
    return value
