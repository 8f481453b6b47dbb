"""The `igc-app` entry point: command-line options, then the window."""

from __future__ import annotations

import argparse
import os
import sys


def _threads(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"threads must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"threads must be 1 or more, got {text!r}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="igc-app",
        description="Draw a digit and watch an inverted generator classify it (the IGC desktop app).",
    )
    p.add_argument("image", nargs="?", help="an image file to open at start (PNG, JPEG, BMP, ...)")
    p.add_argument("--model", help="a generator checkpoint (.safetensors with its .json sidecar); default: the shipped one")
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], help="where the search runs (default: the remembered choice, else cpu)")
    p.add_argument("--data", help="a folder holding the MNIST test set, for the sample digits")
    p.add_argument("--threads", type=_threads, default=None, help="CPU threads for the search (default: all cores but one)")
    p.add_argument("--settings", help=argparse.SUPPRESS)  # an ini file instead of the user's settings (tests)
    p.add_argument("--quit-after", type=int, metavar="MS", help=argparse.SUPPRESS)  # smoke tests: close after MS ms
    p.add_argument("--run", action="store_true", help="start the search at once (with an image or a sample)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

    import torch

    # leave a core to the window so drawing stays smooth while the search runs
    torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 2) - 1))
    # The search loop and the window's Python paint code share the GIL; a shorter switch interval than
    # the default 5 ms keeps the window from waiting in 5 ms slices while the worker runs.
    sys.setswitchinterval(0.001)

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from .window import MainWindow, apply_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("igc")
    app.setApplicationName("igc")
    app.setApplicationDisplayName("IGC")
    apply_theme(app)
    settings = QSettings(args.settings, QSettings.Format.IniFormat) if args.settings else QSettings("igc", "igc")
    window = MainWindow(model_path=args.model, device=args.device, data_dir=args.data, image_path=args.image, settings=settings)
    window.show()
    if args.run:
        QTimer.singleShot(0, window.start_search)
    if args.quit_after is not None:
        QTimer.singleShot(args.quit_after, window.close)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
