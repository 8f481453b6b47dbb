"""The `igc` command: train generators, classify images, evaluate and benchmark the search.

Each subcommand is a module of `igc_core.commands`; this module builds the parser and turns the engine's
errors into one-line messages (exit status 2) instead of tracebacks.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from . import __version__


def build_parser() -> argparse.ArgumentParser:
    from .commands import COMMANDS

    parser = argparse.ArgumentParser(prog="igc", description="Inverted Generator Classifier: classify images by inverting a conditional generator.")
    parser.add_argument("--version", action="version", version=f"igc {__version__}")
    sub = parser.add_subparsers(dest="cmd", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    from .checkpoints import CheckpointError
    from .data import DataError

    try:
        with _signals_end_the_command():
            return args.func(args)
    except (CheckpointError, DataError, ValueError, OSError) as exc:
        print(f"igc: error: {exc}", file=sys.stderr)
        return 2
    except FloatingPointError as exc:  # a training that diverged: stopped at its first non-finite loss
        print(f"igc: error: training stopped: {exc}", file=sys.stderr)
        return 2
    except Terminated as exc:
        print(f"igc: stopped by {exc}", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("igc: interrupted", file=sys.stderr)
        return 130


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: the command ends as on Ctrl+C, its clean-up (child processes, temporary files)
    running on the way out."""


@contextlib.contextmanager
def _signals_end_the_command():
    """While a command runs, SIGTERM and SIGHUP raise Terminated in the main thread instead of ending the process
    on the spot, so every `finally` and context manager runs (the benchmark's busy neighbour is stopped)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise Terminated(signal.Signals(signum).name)

    wanted = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None]
    previous = {s: signal.signal(s, stop) for s in wanted}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


if __name__ == "__main__":
    sys.exit(main())
