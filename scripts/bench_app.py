"""Does the window slow the search, and does it stutter? Click-to-result in the app against the engine alone.

For the same input and the same settings, in turn: the engine's `search()` called directly (as
`igc classify` does, with the same thread cap the app uses); the app (an offscreen window at the given
size) from `start_search()` to the result on screen; and the app again while a 5 ms timer records how
long the UI thread's event loop goes between turns (the frame gaps; the probe costs the search a little
itself, so the time ratio comes from the run without it). Prints one markdown table with the command,
the CPU, and the load average at the start and the end (the machine may be shared: say so).

    python scripts/bench_app.py --data /work/shared/mnist --mnist 61 --repeats 5
    python scripts/bench_app.py --image assets/samples/7.png --set restarts=5
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")


def main(argv: list[str] | None = None) -> int:
    from app.main import _setting, _size

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", help="an image file (default: MNIST test image --mnist from --data)")
    p.add_argument("--data", help="folder with the MNIST IDX files")
    p.add_argument("--mnist", type=int, default=61)
    p.add_argument("--model", default=None)
    p.add_argument("--set", type=_setting, action="append", default=[], metavar="NAME=VALUE", help="a setting, as igc-app --set")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--size", type=_size, default=(1366, 700))
    p.add_argument("--max-threads", type=int, default=None,
                   help="cap on the search's threads, in the app and the engine alike (default: the app's, all cores but one)")
    args = p.parse_args(argv)

    import torch

    from igc_core import runtime, search

    threads = max(1, runtime.available_cores() - 1)
    torch.set_num_threads(threads)  # as app.main does
    sys.setswitchinterval(0.001)

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from app.style import apply_theme
    from app.window import MainWindow

    qapp = QApplication.instance() or QApplication([])
    apply_theme(qapp)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        w = MainWindow(model_path=args.model, data_dir=args.data, settings_path=Path(tmp) / "s.json", persist=False,
                       overrides=dict(args.set))
        w.resize(*args.size)
        w.show()
        if args.image:
            assert w.open_image(args.image), w.banner.text
        elif not w.input_panel.pick_test_image(args.mnist):
            p.error("no MNIST test set: give --data or --image")
        config = w.search_config()
        _, x = w.current_input()
        model = w.session.model
        if args.max_threads:
            w.session.max_threads = args.max_threads
        max_threads = w.session.max_threads

        def engine() -> tuple[float, str, float]:
            t0, c0 = time.perf_counter(), time.thread_time()
            r = search.search(model, x[None], config, max_threads=max_threads)
            return time.perf_counter() - t0, r.precision, time.thread_time() - c0

        def app_run(probe: bool) -> tuple[float, list[float], int, float]:
            stamps: list[float] = []
            tick = QTimer()
            tick.setInterval(5)
            tick.timeout.connect(lambda: stamps.append(time.perf_counter()))
            views = []
            w.session.view_changed.connect(views.append)
            loop = QEventLoop()
            w.result_shown.connect(loop.quit)
            if probe:
                tick.start()
            qapp.processEvents()
            t0 = time.perf_counter()
            assert w.start_search(), w.banner.text
            loop.exec()
            t1 = time.perf_counter()
            tick.stop()
            w.result_shown.disconnect(loop.quit)
            w.session.view_changed.disconnect(views.append)
            gaps = [1000 * (b - a) for a, b in zip(stamps, stamps[1:]) if a >= t0]
            return t1 - t0, gaps, len(views), w.session.draw_cost

        engine()
        app_run(True)  # warm-up: precision calibration, thread pools, first paints
        rows = []
        for _ in range(args.repeats):
            te, precision, ce = engine()
            ta, _, views, cost = app_run(False)
            ca = w.session.runner.last_cpu_seconds
            _, gaps, _, _ = app_run(True)
            rows.append((te, ta, gaps, views, precision, cost, ce, ca))
        w.close()
    load_after = os.getloadavg()

    te = [r[0] for r in rows]
    ta = [r[1] for r in rows]
    gaps = np.array([g for r in rows for g in r[2]]) if any(r[2] for r in rows) else np.zeros(1)
    ratios = [a / e for e, a in zip(te, ta)]
    cmd = "python scripts/bench_app.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    print(f"`{cmd}`\n")
    print(f"CPU: {runtime.cpu_name()}, {runtime.available_cores()} cores; search threads at most {max_threads} "
          f"(automatic below that); load average {load_before[0]:.2f} at the start, {load_after[0]:.2f} at the end")
    print(f"search: {config.steps} steps x {config.restarts} restart(s) x 10 classes, precision {config.precision} "
          f"-> {rows[-1][4]}; window {args.size[0]}x{args.size[1]} (offscreen)\n")
    print("| run | engine s | app click-to-result s | app / engine | engine CPU s | app search CPU s | CPU ratio | "
          "views drawn | ms per view | frame gap p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for i, (e, a, g, v, _, cost, ce, ca) in enumerate(rows, 1):
        g = np.array(g) if g else np.zeros(1)
        print(f"| {i} | {e:.3f} | {a:.3f} | {a / e:.2f} | {ce:.3f} | {ca:.3f} | {ca / ce:.2f} | {v} | {1000 * cost:.1f} | "
              f"{np.percentile(g, 50):.1f} | {np.percentile(g, 95):.1f} | {g.max():.0f} |")
    med = statistics.median
    print(f"| **median** | **{med(te):.3f}** | **{med(ta):.3f}** | **{med(ratios):.2f}** | {med(r[6] for r in rows):.3f} | "
          f"{med(r[7] for r in rows):.3f} | **{med(r[7] / r[6] for r in rows):.2f}** | {med(r[3] for r in rows):.0f} | "
          f"{1000 * med(r[5] for r in rows):.1f} | {np.percentile(gaps, 50):.1f} | **{np.percentile(gaps, 95):.1f}** | {gaps.max():.0f} |")
    print("\nengine: `search()` in this process; app: the window's click to its result on screen, the search running in the "
          "app's engine process (its CPU time is that process's); CPU ratios show the app's own cost when the wall clock "
          "is blurred by other work on the machine.")
    print("\ntargets: app / engine <= 1.2, frame gap p95 <= 50 ms (gaps include the 5 ms timer period)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
