"""`igc calibrate`: measure the out-of-class verdict for a search configuration and store it in the sidecar."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

import numpy as np

from .common import add_common_options, add_multilabel_options, add_search_options, command_line, floats, positive_int, prologue

# MNIST test digits the thresholds are measured on: every fifth from the third on (2, 7, 12, ...), spread over the
# whole test set (its halves differ) and apart from the digits benchmarks of the verdict report on (0, 5, 10, ...)
CALIBRATION_START, CALIBRATION_STEP = 2, 5


def register(sub) -> None:
    from ..verdict import DEFAULT_SCORE, KEEP, SCORES, SIGMAS

    p = sub.add_parser("calibrate", help="measure the out-of-class verdict (thresholds per noise level, the uncertain "
                                         "lead) for a search configuration and store it in the model's sidecar")
    add_common_options(p)
    add_search_options(p)
    add_multilabel_options(p)
    p.add_argument("--digits", type=positive_int, default=2000,
                   help="MNIST test digits to measure on (every fifth from the third: 2, 7, 12, ...; two-digit models: "
                        "pairs of them)")
    p.add_argument("--sigmas", type=floats, default=list(SIGMAS), help="noise levels to measure a threshold for")
    p.add_argument("--keep", type=float, default=KEEP, help="share of the digits each threshold keeps in class")
    p.add_argument("--ooc-score", choices=SCORES, default=DEFAULT_SCORE, dest="ooc_score",
                   help="ink: the winning distance over the square root of the input's ink; distance: the paper's raw OOC")
    p.add_argument("--dry-run", action="store_true", dest="dry_run", help="measure and print, write nothing")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import checkpoints, verdict
    from ..data import load_dataset, to_model_range
    from .common import multilabel_config, progress_bar

    if not 0 < args.keep < 1:
        raise ValueError(f"--keep is a share between 0 and 1 (got {args.keep})")
    if any(s < 0 for s in args.sigmas):
        raise ValueError("noise levels must be 0 or more")
    ctx = prologue(args)
    if not args.dry_run:
        checkpoints.check_writable(ctx.model_path)  # before the work, not after
    test = load_dataset(args.data, "test")
    idx = np.arange(CALIBRATION_START, len(test), CALIBRATION_STEP)[: args.digits]
    several = len(ctx.model.label_classes) > 1
    ml = None
    if several:
        from ..data import Dataset
        from ..pairs import fixed_pairs

        pairs = fixed_pairs(Dataset(test.images[idx], test.labels[idx], test.name), len(idx))
        images, labels = to_model_range(pairs.images), pairs.labels
        ml = multilabel_config(args, ctx.config)
    else:
        images, labels = to_model_range(test.images[idx]), test.labels[idx]
    bar, update = progress_bar(len(args.sigmas), args.quiet, unit="noise level")
    cal = verdict.measure(ctx.model, ctx.config, images, labels, sigmas=tuple(args.sigmas), keep=args.keep,
                          score=args.ooc_score, progress=lambda sigma: update(f"σ {sigma:g}", 1), multilabel_config=ml)
    bar.close()
    cal = replace(cal, measured_by=command_line(args))
    print(f"OOC calibration of {ctx.model_path} ({cal.score} score, keeping {cal.keep:.0%} of {cal.digits} "
          f"{'pairs' if several else 'digits'}; {command_line(args)})\n")
    print("| noise σ | threshold | accuracy |\n|---|---|---|")
    for sigma, value in sorted(cal.thresholds.items()):
        print(f"| {sigma:g} | {value:.5f} | {cal.report[f'{sigma:g}']['accuracy']:.2%} |")
    print(f"\nuncertain below a lead of {cal.margin:.5f} over the runner-up")
    if args.dry_run:
        return 0
    checkpoints.update_sidecar(ctx.model_path, lambda meta: verdict.with_calibration(meta, cal))
    print(f"stored in {checkpoints.paths(ctx.model_path)[1]} for these distance settings: "
          + ", ".join(f"{k} {v}" for k, v in cal.settings.items()), file=sys.stderr)
    return 0
