"""Worst case over the attacks of several `igc attack --json` runs on the same images and the same product.

Each run stores, per attack and image, the smallest perturbation that fooled the product (accuracy) and that
fooled it without being rejected (correct or rejected). Merging takes the per-image minimum over every attack
of every run, on the images the runs share, so two partial suites count as one: nested, worst case per image.

    python scripts/merge_attacks.py RUN1.json RUN2.json [--budgets linf:0.1,0.2,0.3 l2:1,1.5]
"""

from __future__ import annotations

import argparse
import json
import math
import sys

TOLERANCE = 1e-5  # as igc_core.robustness


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson interval of a proportion k / n, in %."""
    p, d = k / n, 1 + z * z / n
    c, h = (p + z * z / (2 * n)) / d, z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return 100 * (c - h), 100 * (c + h)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="JSON files written by igc attack --json")
    ap.add_argument("--budgets", nargs="+", default=["linf:0.1,0.2,0.3", "l2:1,1.5"], help="NORM:EPS,EPS,...")
    args = ap.parse_args(argv)
    from igc_core.search import DISTANCE_SETTINGS  # the settings the product's distances depend on

    runs = [json.load(open(path)) for path in args.runs]
    if len({json.dumps([r["search"].get(k) for k in DISTANCE_SETTINGS])
            for r in runs}) > 1 or len({r["model"] for r in runs}) > 1:
        raise SystemExit("the runs attacked different products (model or search settings differ)")
    common = sorted(set.intersection(*(set(r["test_indices"]) for r in runs)))
    if not common:
        raise SystemExit("the runs share no test image")
    budgets = [(norm, float(e)) for spec in args.budgets for norm, eps in [spec.split(":")] for e in eps.split(",")]
    attacks = sorted({f"{a}" for r in runs for a in r["smallest_fooling_perturbation"]})
    print(f"Worst case over {', '.join(attacks)} from {len(runs)} runs, on the {len(common)} test images they share; "
          f"`python scripts/merge_attacks.py {' '.join(sys.argv[1:] if argv is None else argv)}`\n")
    print("| | " + " | ".join(f"{'L∞' if n == 'linf' else 'L2'} {e:g}" for n, e in budgets) + " |")
    print("|---" * (len(budgets) + 1) + "|")
    for kind, name in (("accuracy", "accuracy %"), ("accepted", "correct or rejected %")):
        cells = []
        for norm, eps in budgets:
            held = 0
            for index in common:
                smallest = math.inf
                for r in runs:
                    row = r["test_indices"].index(index)
                    for per in r["smallest_fooling_perturbation"].values():
                        value = per.get(f"{kind}/{norm}", [None] * len(r["test_indices"]))[row]
                        if value is not None:
                            smallest = min(smallest, value)
                held += smallest > eps + TOLERANCE
            lo, hi = wilson(held, len(common))
            cells.append(f"{100 * held / len(common):.1f} ({lo:.0f}-{hi:.0f})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
