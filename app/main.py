"""The `igc-app` entry point: command-line options, then the window.

Scripted figures for a talk (and the docs' screenshots) come from the same program:

    python -m app digit.png --size 1366x700 --run --screenshot out.png

opens the image, searches, waits for the result, saves the whole window at exactly that size and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from igc_core.commands.common import threads_arg


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1366x700, got {text!r}") from None
    if not (300 <= w <= 20_000 and 200 <= h <= 20_000):
        raise argparse.ArgumentTypeError(f"a window of {w}x{h} pixels is not possible")
    return w, h


def _setting(text: str) -> tuple[str, object]:
    from . import settings

    name, sep, raw = text.partition("=")
    if not sep or name not in settings.BY_NAME:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE with NAME one of {', '.join(settings.BY_NAME)}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    try:
        return name, settings.BY_NAME[name].check(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{name}={raw}: {exc}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="igc-app",
        description="Draw a digit and watch an inverted generator classify it (the IGC desktop app).",
    )
    p.add_argument("image", nargs="?", help="an image file to open at start (PNG, JPEG, BMP, ...)")
    p.add_argument("--model", help="a generator checkpoint (.safetensors with its .json sidecar); default: the shipped one")
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], help="where the search runs (default: the remembered choice, else cpu)")
    p.add_argument("--data", help="a folder holding the MNIST test set, for the sample digits")
    p.add_argument("--mnist", type=int, metavar="INDEX", help="open MNIST test image INDEX (needs the data set)")
    p.add_argument("--threads", type=threads_arg, default=None, help="CPU threads for the search (default: all cores but one)")
    p.add_argument("--set", type=_setting, action="append", default=[], metavar="NAME=VALUE",
                   help="change a setting for this session, e.g. --set restarts=5 --set noise=0.3 (not saved with --screenshot)")
    p.add_argument("--run", action="store_true", help="start the search at once (with an image or a sample)")
    p.add_argument("--pause-at", type=int, metavar="STEP", help="with --run: pause the search at this step (a mid-search figure)")
    p.add_argument("--size", type=_size, metavar="WxH", help="the window's size in pixels, e.g. 1366x700")
    p.add_argument("--screenshot", metavar="PNG",
                   help="save the window to PNG (after the run with --run) and exit; settings are not saved")
    p.add_argument("--settings", metavar="PATH", help="the settings file (JSON; default ~/.config/igc/app.json)")
    p.add_argument("--quit-after", type=int, metavar="MS", help="close the window after MS milliseconds")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

    import torch

    from igc_core import runtime

    # leave a core to the window so drawing stays smooth while the search runs
    torch.set_num_threads(args.threads or max(1, runtime.available_cores() - 1))
    # The search loop and the window's Python paint code share the GIL; a shorter switch interval than
    # the default 5 ms keeps the window from waiting in 5 ms slices while the worker runs.
    sys.setswitchinterval(0.001)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from .window import MainWindow, apply_theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("igc")
    app.setApplicationName("igc")
    app.setApplicationDisplayName("IGC")
    apply_theme(app)
    window = MainWindow(model_path=args.model, device=args.device, data_dir=args.data, image_path=args.image,
                        settings_path=args.settings, persist=not args.screenshot, overrides=dict(args.set))
    if args.threads:
        window.session.max_threads = args.threads
    if args.mnist is not None and not window.input_panel.pick_test_image(args.mnist):
        print(f"igc-app: no MNIST test image {args.mnist} (is the data set in --data or $IGC_DATA?)", file=sys.stderr)
        return 2
    if args.size:
        window.resize(*args.size)
    window.show()
    status = {"code": 0}

    if args.screenshot:
        def shoot() -> None:
            if args.size and (window.width(), window.height()) != args.size:
                print(f"igc-app: the window is {window.width()}x{window.height()}, not {args.size[0]}x{args.size[1]} "
                      "(its minimum size is larger)", file=sys.stderr)
                status["code"] = 1
            if not window.grab().save(args.screenshot):
                print(f"igc-app: could not write {args.screenshot}", file=sys.stderr)
                status["code"] = 1
            window.close()

        if args.run and args.pause_at is not None:
            def paused(step: int) -> None:
                if step >= args.pause_at:
                    QTimer.singleShot(100, shoot)
                else:
                    window.session.step()

            window.session.runner.paused_at.connect(paused)
            window.session.run_failed.connect(lambda _msg: QTimer.singleShot(100, shoot))
        elif args.run:
            window.result_shown.connect(lambda: QTimer.singleShot(100, shoot))
            window.session.run_failed.connect(lambda _msg: QTimer.singleShot(100, shoot))
        else:
            QTimer.singleShot(300, shoot)
    if args.run:
        def run() -> None:
            if not window.start_search(start_paused=args.pause_at is not None):
                print(f"igc-app: cannot search: {window.banner.text}", file=sys.stderr)
                status["code"] = 2
                if args.screenshot:
                    window.close()

        QTimer.singleShot(0, run)
    if args.quit_after is not None:
        QTimer.singleShot(args.quit_after, window.close)
    code = app.exec()
    return status["code"] or code


if __name__ == "__main__":
    sys.exit(main())
