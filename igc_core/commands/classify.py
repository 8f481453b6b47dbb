"""`igc classify`: label image files, with OOC and per-class distances."""

from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np

from .common import add_common_options, add_multilabel_options, add_search_options, multilabel_config, prologue, threshold_arg


def register(sub) -> None:
    p = sub.add_parser("classify", help="classify image files")
    p.add_argument("images", nargs="+", help="image files (PNG, JPEG, BMP, anything Pillow reads)")
    p.add_argument("--threshold", type=threshold_arg, default=None,
                   help="an OOC score above this is out of class (default: the one `igc calibrate` measured for these "
                        "search settings; none measured: no out-of-class verdict)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    add_common_options(p, data=False)
    add_search_options(p)
    add_multilabel_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .. import verdict
    from ..data import DataError, to_model_range
    from ..framing import frame_number, load_image
    from ..search import search

    ctx = prologue(args)
    calibration = verdict.find(ctx.meta, ctx.config)
    if args.threshold is not None:  # by hand: on the calibrated score, or the paper's raw OOC where none is measured
        calibration = verdict.Calibration(calibration.score if calibration else "distance", {}, {0.0: args.threshold},
                                          margin=calibration.margin if calibration else 0.0)
    several = len(ctx.model.label_classes) > 1
    if several and ctx.model.image_shape != (28, 56):
        raise ValueError(f"this igc reads files for one digit (28x28) or a two-digit number (28x56); the model "
                         f"draws {ctx.model.image_shape[0]}x{ctx.model.image_shape[1]}")
    files, images, failed = [], [], 0
    for name in args.images:
        try:
            images.append(load_image(name, frame_number if several else None))
            files.append(name)
        except DataError as exc:
            failed += 1
            print(f"igc: skipped {exc}", file=sys.stderr)
    if not images:
        print("igc: no image could be read", file=sys.stderr)
        return 1
    x = to_model_range(np.stack(images))  # (N, 28, 28) in [-0.5, 0.5]; (N, 28, 56) for numbers
    bar = tqdm(total=len(x), unit="image", desc="classify", disable=args.quiet or len(x) < 2, file=sys.stderr)

    def on_snapshot(snap) -> None:
        if snap.step == snap.steps:
            bar.update(len(snap.losses))

    if several:
        from .. import multilabel

        result = multilabel.search(ctx.model, x, multilabel_config(args, ctx.config), on_snapshot=on_snapshot,
                                   snapshot_every=max(ctx.config.steps, 1))
        bar.close()
        _print_numbers(args, files, x, result, calibration)
        _no_verdict_note(args, calibration)
        return 1 if failed or result.diverged.any() else 0
    result = search(ctx.model, x, ctx.config, on_snapshot=on_snapshot, snapshot_every=max(ctx.config.steps, 1))
    bar.close()

    def digit(i: int, distances: list[float]) -> tuple[dict, str]:
        ranked = "  ".join(f"{c}:{d:.4f}" for c, d in sorted(enumerate(distances), key=lambda t: t[1]))
        label = int(result.labels[i])
        return {"label": label}, f"label {label}  ooc {{ooc}}{{verdict}}  distances {ranked}"

    _print_results(args, files, x, result, calibration, [[round(float(d), 6) for d in row] for row in result.distances],
                   digit, {"label": None})
    _no_verdict_note(args, calibration)
    return 1 if failed or result.diverged.any() else 0


def _no_verdict_note(args: argparse.Namespace, calibration) -> None:
    if calibration is None and not args.json:
        model = f" --model {args.model}" if args.model else ""
        print("(no out-of-class verdict: the model's sidecar has no calibration for these search settings; measure one "
              f"with `igc calibrate{model}` and the same search options, or pass --threshold)", file=sys.stderr)


def _print_results(args: argparse.Namespace, files: list[str], images, result, calibration, distances: list,
                   describe, blank: dict) -> None:
    """One line (or JSON object) per file: `describe(i, distances_i)` gives the label keys of the JSON record and
    the line's text (with {ooc} and {verdict} left to fill); a diverged search says so in either form, its label
    keys set to `blank`. The verdict is igc_core.verdict's: in class, uncertain (the runner-up close) or out of
    class, on the score the calibration was measured with (none without a calibration)."""
    from ..verdict import judge

    for i, name in enumerate(files):
        diverged = bool(result.diverged[i])
        if isinstance(result.distances, list):  # several labels: the closest call of any label decides "uncertain"
            rows = [np.asarray(d[i]) for d in result.distances]
            lead_row = min(rows, key=lambda r: np.diff(np.sort(r)[:2])[0])
            j = judge(lead_row, images[i], calibration, best=float(result.ooc[i]))
        else:
            j = judge(np.asarray(result.distances[i]), images[i], calibration)
        ooc = j.score
        out_of_class = None if j.kind is None or diverged else j.kind == "out of class"
        keys, line = (blank, "") if diverged else describe(i, distances[i])
        if args.json:
            record = {"file": name, **keys, "ooc": round(ooc, 6),
                      "ooc_score": calibration.score if calibration else "distance",
                      "verdict": None if diverged else j.kind, "out_of_class": out_of_class,
                      "distances": distances[i]}
            if diverged:
                record["error"] = "search diverged: lower --lr"
            record, replaced = _finite(record)
            if replaced:  # JSON has no Infinity or NaN: such numbers are null, and the record says why
                record["null_because"] = "the search produced non-finite distances (it diverged: lower --lr)"
            print(json.dumps(record, allow_nan=False))
        elif diverged:
            print(f"{name}: search diverged (lower --lr)")
        else:
            verdict = {None: "", "out of class": "  OUT OF CLASS", "uncertain": "  uncertain"}.get(j.kind, f"  {j.kind}")
            print(f"{name}: " + line.format(ooc=f"{ooc:.4f}", verdict=verdict))


def _print_numbers(args: argparse.Namespace, files: list[str], images, result, calibration) -> None:
    """One line (or JSON object) per file for a multi-label model: the labels, the number, OOC, distances."""
    from ..pairs import number_label

    def number(i: int, distances: list[list[float]]) -> tuple[dict, str]:
        labels = [int(k) for k in result.labels[i]]
        best = "  ".join(f"{'tens' if k == 0 else 'units' if k == 1 else f'label {k}'}: "
                         + " ".join(f"{c}:{d:.4f}" for c, d in sorted(enumerate(ds), key=lambda t: t[1])[:3])
                         for k, ds in enumerate(distances))
        return ({"labels": labels, "label": number_label(labels)},
                f"number {number_label(labels)}  ooc {{ooc}}{{verdict}}  ({result.config.mode}; best: {best})")

    distances = [[[round(float(d), 6) for d in label[i]] for label in result.distances] for i in range(len(files))]
    _print_results(args, files, images, result, calibration, distances, number, {"labels": None, "label": None})


def _finite(value):
    """`value` with every non-finite number replaced by None, and whether any was."""
    if isinstance(value, float):
        return (value, False) if math.isfinite(value) else (None, True)
    if isinstance(value, dict):
        pairs = {k: _finite(v) for k, v in value.items()}
        return {k: v for k, (v, _) in pairs.items()}, any(r for _, r in pairs.values())
    if isinstance(value, list):
        pairs = [_finite(v) for v in value]
        return [v for v, _ in pairs], any(r for _, r in pairs)
    return value, False
