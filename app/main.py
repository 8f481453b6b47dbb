"""The `igc-app` entry point: command-line options, then the window.

Scripted figures for a talk (and the docs' screenshots) come from the same program:

    python -m app digit.png --size 1366x700 --run --screenshot out.png

opens the image, searches, waits for the result, saves the whole window at exactly that size and exits 0
(1 when the search failed or the window could not take that size: the picture is saved all the same).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from igc_core.argtypes import threads_arg


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1366x700, got {text!r}") from None
    if not (300 <= w <= 20_000 and 200 <= h <= 20_000):
        raise argparse.ArgumentTypeError(f"a window of {w}x{h} pixels is not possible")
    return w, h


def _setting(text: str) -> tuple[str, object]:
    from .model import settings

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


TABS = ("distances", "why", "latent", "compare", "attack")  # app.model.lesson.TABS (not imported: --help stays quick)


def _sweep(text: str) -> tuple[str, tuple]:
    from .model.compare import parse_values

    name, sep, values = text.partition("=")
    try:
        if not sep:
            raise ValueError("expected NAME=V1,V2,... such as lambda_lr=0,0.03,0.3")
        return name, parse_values(name, values)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _attack(text: str) -> tuple[str, float]:
    from .attack_demo import EPS_MAX, METHODS

    method, _, eps = text.partition(":")
    try:
        value = float(eps or 0.15)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected METHOD:EPS such as fgsm:0.15, got {text!r}") from None
    if method not in METHODS or not 0 < value <= EPS_MAX:
        raise argparse.ArgumentTypeError(f"METHOD is one of {', '.join(METHODS)} and EPS in (0, {EPS_MAX}]")
    return method, value


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
    p.add_argument("--presentation", action="store_true",
                   help="start in presentation mode: large fonts, no settings panel (F11 toggles it)")
    p.add_argument("--tab", choices=TABS, help="show this tab beside the grid (distances, why, latent, compare, attack)")
    p.add_argument("--grid", choices=("images", "differences"), help="the grid shows the drawings or their differences G - d")
    p.add_argument("--compare-with", type=int, metavar="CLASS", help="compare this class with the winner (Why this class)")
    p.add_argument("--sweep", type=_sweep, metavar="NAME=V1,V2,...",
                   help="search the input once per value of a setting (lambda_lr, lr, restarts, steps), e.g. lambda_lr=0,0.03,0.3")
    p.add_argument("--attack", type=_attack, metavar="METHOD:EPS",
                   help="make an adversarial of the input (fgsm, pgd or igc, with budget EPS) and search it with IGC")
    p.add_argument("--lesson", metavar="FILE",
                   help="walk through a lesson (JSON steps: input, settings, tab, caption) in presentation mode; "
                        "Page Down / Page Up step through it, e.g. lessons/five-minute-demo.json")
    p.add_argument("--record", metavar="OUT",
                   help="with --run: write the search as an animation (.gif; .mp4/.webm with imageio-ffmpeg), one frame "
                        "per recorded step, at --size (and --presentation), then exit")
    p.add_argument("--figure", action="store_true", help="with --record: animate the exported figure, not the window")
    p.add_argument("--screenshot", metavar="PNG",
                   help="save the window to PNG (after the run with --run) and exit; settings are not saved")
    p.add_argument("--settings", metavar="PATH", help="the settings file (JSON; default ~/.config/igc/app.json)")
    p.add_argument("--quit-after", type=int, metavar="MS", help="close the window after MS milliseconds")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    lesson = None
    if args.lesson:
        from .model.lesson import load_lesson

        try:
            lesson = load_lesson(args.lesson)
        except ValueError as exc:
            print(f"igc-app: {exc}", file=sys.stderr)
            return 2
    if args.record:
        from .record import check_path

        if not args.run:
            print("igc-app: --record needs --run (an image or --mnist, searched, then recorded)", file=sys.stderr)
            return 2
        try:
            check_path(args.record)
        except ValueError as exc:
            print(f"igc-app: {exc}", file=sys.stderr)
            return 2
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

    import torch

    from igc_core import runtime

    # leave a core to the window so drawing stays smooth while the search runs
    torch.set_num_threads(args.threads or max(1, runtime.available_cores() - 1))
    # The window's Python paint code shares the GIL with the thread that relays the engine process's frames
    # and with the attack demo's thread; a shorter switch interval than the default 5 ms keeps the window
    # from waiting in 5 ms slices while they run.
    sys.setswitchinterval(0.001)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from .style import apply_theme
    from .window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("igc")
    app.setApplicationName("igc")
    app.setApplicationDisplayName("IGC")
    apply_theme(app)
    window = MainWindow(model_path=args.model, device=args.device, data_dir=args.data, image_path=args.image,
                        settings_path=args.settings, persist=not (args.screenshot or args.record), overrides=dict(args.set),
                        hint=not (args.run or args.sweep or args.attack or args.mnist is not None))
    if args.threads:
        window.session.max_threads = args.threads
    if args.mnist is not None and not window.input_panel.pick_test_image(args.mnist):
        ds = window.input_panel.dataset()
        if ds is None:
            print(f"igc-app: cannot open MNIST test image {args.mnist}: no MNIST test set found "
                  "(put it in --data or $IGC_DATA)", file=sys.stderr)
        else:  # the data set is there: the index is what is wrong
            print(f"igc-app: there is no MNIST test image {args.mnist}: the test set has {len(ds)} images, "
                  f"numbered 0 to {len(ds) - 1}", file=sys.stderr)
        window.close()
        return 2
    if args.size:
        window.resize(*args.size)
    if args.presentation:
        window.set_presentation(True)
    if args.tab:
        window.result_panel.show_tab(args.tab)
    if args.grid:
        window.session.set_grid_mode(args.grid)
    window.show()
    if lesson is not None:
        window.start_lesson(lesson)
    status = {"code": 0}
    session = window.session

    def fail(message: str) -> None:
        print(f"igc-app: {message}", file=sys.stderr)
        status["code"] = 2
        if args.screenshot:
            window.close()

    def shoot() -> None:
        if args.compare_with is not None:
            session.select_class(args.compare_with)
        if args.size and (window.width(), window.height()) != args.size:
            print(f"igc-app: the window is {window.width()}x{window.height()}, not {args.size[0]}x{args.size[1]} "
                  "(its minimum size is larger)", file=sys.stderr)
            status["code"] = 1
        if not window.grab().save(args.screenshot):
            print(f"igc-app: could not write {args.screenshot}", file=sys.stderr)
            status["code"] = 1
        window.close()

    def write_animation() -> None:
        try:
            path = window.record_animation(args.record, figure=args.figure, size=args.size)
            print(f"igc-app: wrote {path} ({path.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
        except (OSError, ValueError) as exc:
            fail(f"cannot write the animation: {exc}")
        window.close()

    if args.screenshot:
        later = lambda: QTimer.singleShot(150, shoot)  # noqa: E731
    elif args.record:
        later = lambda: QTimer.singleShot(150, write_animation)  # noqa: E731
    else:
        later = lambda: None  # noqa: E731

    def run_failed(message: str) -> None:  # the figure shows the failure, and the exit status says so
        print(f"igc-app: the search failed: {message}", file=sys.stderr)
        status["code"] = 1
        if args.record:
            window.close()
        else:
            later()

    if args.screenshot or args.record:
        session.run_failed.connect(run_failed)
    if args.attack:
        attack = window.result_panel.attack
        attack.set_choice(*args.attack)
        attack._relay.done.connect(lambda out: QTimer.singleShot(0, attack.search_button.click) if not isinstance(out, (str, type(None)))
                                   else fail(f"the attack did not finish: {out}"))
        window.result_shown.connect(later)
        QTimer.singleShot(0, window.teaching.make_adversarial)
    elif args.sweep:
        session.run_finished.connect(lambda v: later() if v.sweep is not None and v.sweep.done else None)
        QTimer.singleShot(0, lambda: window.teaching.sweep(args.sweep[0], ",".join(map(str, args.sweep[1]))) or fail(
            f"cannot sweep: {window.banner.text}"))
    elif args.run and args.pause_at is not None:
        def paused(step: int) -> None:
            if step >= args.pause_at:
                later()
            else:
                session.step()

        session.runner.paused_at.connect(paused)
    elif args.run:
        window.result_shown.connect(later)
    elif args.screenshot:
        QTimer.singleShot(300, shoot)
    if args.run and not (args.sweep or args.attack):
        def run() -> None:
            if not window.start_search(start_paused=args.pause_at is not None):
                fail(f"cannot search: {window.banner.text}")

        QTimer.singleShot(0, run)
    if args.quit_after is not None:
        QTimer.singleShot(args.quit_after, window.close)
    received = _end_on_signals(app, window)
    try:
        code = app.exec()
    finally:
        from .engine.worker import EngineProcess

        EngineProcess.close_all()  # the engine and its temporary folder, whatever ended the loop
    if received:
        return 128 + received[0]  # the shell's convention for "ended by signal N"
    return status["code"] or code


def _end_on_signals(app, window) -> list[int]:
    """SIGTERM, SIGINT (Ctrl+C) and SIGHUP close the window as its close button does (the settings are
    saved) and end the event loop; `main` then ends the engine and removes its temporary folder.

    Python runs a signal handler only between its own bytecodes, never while Qt's loop waits in C++: the
    signal module writes a byte to a socket (`set_wakeup_fd`) whose `QSocketNotifier` wakes the loop into a
    Python slot, and the handler runs there. Returns the list the received signal numbers go into."""
    import signal
    import socket

    from PySide6.QtCore import QSocketNotifier, QTimer

    received: list[int] = []
    ours, theirs = socket.socketpair()
    for s in (ours, theirs):
        s.setblocking(False)
    try:
        signal.set_wakeup_fd(theirs.fileno())
    except ValueError:  # not the main thread (an embedding): leave the defaults
        return received
    notifier = QSocketNotifier(ours.fileno(), QSocketNotifier.Type.Read, app)

    def drain() -> None:
        try:
            ours.recv(512)
        except OSError:
            pass

    notifier.activated.connect(drain)

    def handler(signum, _frame) -> None:
        if not received:
            received.append(signum)
            window.close()
        app.quit()
        QTimer.singleShot(0, app.quit)  # for a signal that came before the loop ran

    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), handler)
    _WAKEUP[:] = [ours, theirs, notifier]  # kept for the life of the process (the wakeup fd must stay open)
    return received


_WAKEUP: list = []


if __name__ == "__main__":
    sys.exit(main())
