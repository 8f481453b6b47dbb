"""Time `igc classify` on image files, the way users meet it: the default against every explicit choice.

Writes N MNIST test digits as PNG files, then times whole `igc classify` runs (process start, model
loading, reading and framing the files, the search) with the default settings and with each explicit
--precision x --threads choice, on the machine as it is and next to a busy process. Prints a table and
the default's ratio to the best explicit choice.

    python scripts/bench_classify.py --data ../shared/mnist --images 1000 --neighbour both
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None)
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--neighbour", choices=["idle", "busy", "both"], default="both")
    p.add_argument("--repeats", type=int, default=1, help="runs per cell (the fastest counts)")
    args = p.parse_args()

    from igc_core import runtime
    from igc_core.data import load_dataset
    from igc_core.framing import save_digit_png
    from igc_core.evaluate import busy_neighbour

    test = load_dataset(args.data, "test")
    cores = runtime.available_cores()
    choices = [("default", [])] + [(f"--precision {p} --threads {t}", ["--precision", p, "--threads", str(t)])
                                    for p in ("fp32", "bf16") for t in range(1, cores + 1)]
    neighbours = ["idle", "busy"] if args.neighbour == "both" else [args.neighbour]
    print(f"`python scripts/bench_classify.py {' '.join(sys.argv[1:])}`")
    print(f"CPU: {runtime.cpu_name()}, {cores} cores; native bfloat16: {runtime.native_bf16()}\n")
    print(f"`igc classify` on {args.images} PNG files (whole runs: start, model, files, search), seconds\n")
    print("| neighbour | settings | seconds |\n|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i in range(args.images):
            path = Path(tmp) / f"{i:05d}.png"
            save_digit_png(test.images[i] / 255.0, path)
            files.append(str(path))
        cmd = [sys.executable, "-m", "igc_core", "classify", *files, "--json", "--quiet"]
        subprocess.run(cmd[:6] + ["--json", "--quiet"], capture_output=True)  # warm caches and the calibration
        for neighbour in neighbours:
            times = {}
            with busy_neighbour() if neighbour == "busy" else _nothing():
                for name, extra in choices:
                    best = float("inf")
                    for _ in range(args.repeats):
                        started = time.perf_counter()
                        done = subprocess.run(cmd + extra, capture_output=True, text=True, env=os.environ)
                        best = min(best, time.perf_counter() - started)
                        if done.returncode != 0:
                            print(done.stderr, file=sys.stderr)
                            return 1
                    times[name] = best
                    print(f"| {neighbour} | {name} | {best:.2f} |", flush=True)
            explicit = {k: v for k, v in times.items() if k != "default"}
            fastest = min(explicit, key=explicit.get)
            print(f"\n{neighbour}: default {times['default']:.2f} s; best explicit ({fastest}) {explicit[fastest]:.2f} s; "
                  f"ratio {times['default'] / explicit[fastest]:.2f}x\n")
    return 0


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    sys.exit(main())
