"""How close may the two best classes be before the app calls a verdict 'uncertain'? Measured, not guessed.

For MNIST test digits at a few noise levels this runs the app's default search, takes the winner's lead over
the runner-up (the L_DD margin) and prints, for candidate margins, which share of the wrong predictions and of
the right ones fall below it; then the app's three-state verdict (in class / uncertain / out of class, with the
model's per-noise thresholds) at the chosen margin. The table goes to BENCHMARKS.md ("Uncertain verdicts").

    python scripts/margin_study.py --data /work/shared/mnist --limit 1000 --threads 1 [--model M] [--margin 0.004]
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CANDIDATES = (0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="folder with the MNIST IDX files")
    p.add_argument("--model", default=None, help="generator checkpoint (default: the shipped one)")
    p.add_argument("--limit", type=int, default=1000)
    p.add_argument("--sigmas", default="0,0.2,0.4")
    p.add_argument("--margin", type=float, default=None, help="the margin for the verdict table (default: the app's)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)

    import torch

    from app.model.threshold import UNCERTAIN_MARGIN, threshold_for
    from igc_core import checkpoints, data, search
    from igc_core.evaluate import noisy_images

    torch.set_num_threads(args.threads)
    model, meta = checkpoints.load_generator(args.model)
    test = data.load_dataset(args.data, "test", download=False)
    images, labels = test.images[: args.limit], test.labels[: args.limit]
    config = search.SearchConfig.from_preset(None, threads=args.threads)
    margin_used = args.margin if args.margin is not None else UNCERTAIN_MARGIN
    sigmas = [float(s) for s in args.sigmas.split(",")]
    print(f"`python scripts/{Path(__file__).name} {shlex.join(sys.argv[1:] if argv is None else argv)}`")
    print(f"{len(images)} MNIST test digits, default search ({config.steps} steps, lr {config.lr:g}, "
          f"λ_LR {config.lambda_lr:g}, {config.dif}), model {args.model or 'shipped default'}\n")
    results = {}
    for sigma in sigmas:
        started = time.perf_counter()
        r = search.search(model, noisy_images(images, sigma), config)
        d = np.sort(r.distances, axis=1)
        results[sigma] = (r.labels, d[:, 1] - d[:, 0], r.ooc)
        print(f"sigma {sigma:g}: searched in {time.perf_counter() - started:.0f} s, precision {r.precision}", file=sys.stderr)

    print("Share of predictions whose lead over the runner-up (L_DD) is below the margin:\n")
    print("| sigma | accuracy % | wrong | " + " | ".join(f"< {m:g}: wrong / right %" for m in CANDIDATES) + " |")
    print("|---|---|---|" + "---|" * len(CANDIDATES))
    for sigma, (pred, lead, _) in results.items():
        right = pred == labels
        cells = [f"{100 * np.mean(lead[~right] < m):.0f} / {100 * np.mean(lead[right] < m):.1f}" if (~right).any() else "-"
                 for m in CANDIDATES]
        print(f"| {sigma:g} | {100 * right.mean():.1f} | {int((~right).sum())} | " + " | ".join(cells) + " |")
    print("\nmedian lead: " + ", ".join(
        f"sigma {s:g}: right {np.median(lead[p == labels]):.4f}, wrong {np.median(lead[p != labels]) if (p != labels).any() else float('nan'):.4f}"
        for s, (p, lead, _) in results.items()))

    print(f"\nThe app's verdict at margin {margin_used:g} with the model's threshold for each noise level:\n")
    print("| sigma | threshold | in class, right % | in class, wrong % | uncertain % (of which right) | out of class % | "
          "accuracy of in-class verdicts % |")
    print("|---|---|---|---|---|---|---|")
    for sigma, (pred, lead, ooc) in results.items():
        t = threshold_for(meta, sigma)
        right = pred == labels
        out = ooc > t.value
        unsure = ~out & (lead < margin_used)
        sure = ~out & ~unsure
        n = len(pred)
        print(f"| {sigma:g} | {t.value:.4f} ({t.source}) | {100 * (sure & right).sum() / n:.1f} | {100 * (sure & ~right).sum() / n:.1f} | "
              f"{100 * unsure.sum() / n:.1f} ({100 * (unsure & right).sum() / max(unsure.sum(), 1):.0f} % right) | "
              f"{100 * out.sum() / n:.1f} | {100 * (sure & right).sum() / max(sure.sum(), 1):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
