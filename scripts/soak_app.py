"""Does the app leak? Many searches in one offscreen window, with the resources counted along the way.

Runs N searches (small step counts, the shipped samples in turn, a result drawn each time) and prints, after
0, 25, 50, 100, 200, ... searches: the app's resident memory, the engine process's, the app's threads, open
file descriptors and child processes, and the engine's temporary folder. Growth in the first tens of searches
is caches filling (fonts, torch, the history); after that every column should stay flat. Linux only (/proc).

    python scripts/soak_app.py --searches 300 --steps 5
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")


def status(pid: int | str, key: str) -> int:
    """A number from /proc/PID/status (VmRSS in kB, Threads), 0 when the process has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def folder_kb(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) // 1024 if path.exists() else 0


def measure(done: int, engine) -> dict:
    me = os.getpid()
    return {"searches": done, "app RSS MB": status(me, "VmRSS") / 1024, "engine RSS MB": status(engine.pid, "VmRSS") / 1024,
            "threads": status(me, "Threads"), "open files": len(os.listdir(f"/proc/{me}/fd")),
            "children": len(children(me)), "engine folder kB": folder_kb(engine.folder)}


def main(argv: list[str] | None = None) -> int:
    from app.main import _setting

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--searches", type=int, default=300)
    p.add_argument("--steps", type=int, default=5, help="steps per search (small: the soak is about resources)")
    p.add_argument("--model", default=None, help="a generator checkpoint (default: the shipped one)")
    p.add_argument("--set", type=_setting, action="append", default=[], metavar="NAME=VALUE", help="a setting, as igc-app --set")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds one search may take before the soak fails")
    args = p.parse_args(argv)
    marks = sorted({0, 25, 50, 100, 200, args.searches} | set(range(0, args.searches + 1, 100)))
    marks = [m for m in marks if m <= args.searches]

    import torch
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from app.window import MainWindow, apply_theme

    torch.set_num_threads(1)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_theme(app)
    settings = Path(tempfile.mkdtemp(prefix="igc-soak-")) / "settings.json"
    window = MainWindow(model_path=args.model, settings_path=settings, persist=False,
                        overrides={"steps": args.steps, **dict(args.set)}, hint=False)
    window.resize(1366, 700)
    window.show()
    outcome: list[str] = []
    window.result_shown.connect(lambda: outcome.append("done"))
    window.session.run_failed.connect(lambda msg: outcome.append(f"failed: {msg}"))

    def wait_for_result() -> str:
        loop = QEventLoop()
        timer = QTimer(singleShot=True)
        timer.timeout.connect(loop.quit)
        window.result_shown.connect(loop.quit)
        window.session.run_failed.connect(loop.quit)
        timer.start(int(args.timeout * 1000))
        if not outcome:
            loop.exec()
        window.result_shown.disconnect(loop.quit)
        window.session.run_failed.disconnect(loop.quit)
        return outcome.pop() if outcome else "timed out"

    rows, failures, started = [], 0, time.perf_counter()
    engine = window.session.runner.engine
    rows.append(measure(0, engine))
    for i in range(1, args.searches + 1):
        window.pick_sample(i % 10, i // 10)
        outcome.clear()
        if not window.start_search():
            print(f"search {i}: could not start: {window.banner.text}", file=sys.stderr)
            return 1
        result = wait_for_result()
        if result != "done":
            failures += 1
            print(f"search {i}: {result}", file=sys.stderr)
        if i in marks:
            engine = window.session.runner.engine  # a restarted engine is a new process
            rows.append(measure(i, engine))
    seconds = time.perf_counter() - started
    window.close()

    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    print(f"`{command}`  \n{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{args.searches} searches of {args.steps} steps in {seconds:.0f} s, {failures} failed\n")
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "|".join("---:" for _ in keys) + "|")
    for row in rows:
        print("| " + " | ".join(f"{row[k]:.1f}" if isinstance(row[k], float) else str(row[k]) for k in keys) + " |")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
