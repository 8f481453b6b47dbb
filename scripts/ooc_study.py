"""Collect what an out-of-class score can be built from, for several sets of inputs, and compare candidates.

    python scripts/ooc_study.py collect --model assets/default --preset robust --data ../shared/mnist \
        --fashion ../shared/fashion-mnist --out runs/ooc-default-robust.npz
    python scripts/ooc_study.py compare runs/ooc-default-robust.npz

`collect` runs the product's search on: MNIST test digits 0, 5, 10, ... (reported) and 2, 7, 12, ... (calibration), the
not-MNIST digit sets (typeset, strokes), and out-of-class inputs (marks, letters, Fashion-MNIST), and stores
per image the per-class distances, the winner's latent z-score, and the input's ink. `compare` calibrates
each candidate score on the calibration digits (the threshold that keeps 99 % of them) and prints, per set,
the share called out of class, with AUROCs against the reported digits.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def collect(args: argparse.Namespace) -> None:
    import torch

    from igc_core import checkpoints, testsets
    from igc_core.data import load_dataset, to_model_range
    from igc_core.search import SearchConfig, search

    if args.threads:
        torch.set_num_threads(args.threads)
    model, _ = checkpoints.load_generator(args.model)
    config = SearchConfig.from_preset(args.preset, threads=args.threads)
    test = load_dataset(args.data, "test")
    # two disjoint samples spread over the whole test set (its two halves differ in difficulty)
    report_idx, cal_idx = np.arange(0, 10000, 5)[: args.digits], np.arange(2, 10000, 5)[: args.digits]
    sets: dict[str, tuple[np.ndarray, np.ndarray]] = {
        "mnist": (test.images[report_idx] / 255.0, test.labels[report_idx]),
        "calibration": (test.images[cal_idx] / 255.0, test.labels[cal_idx]),
    }
    for name in ("typeset", "strokes", "marks", "letters"):
        try:
            ts = testsets.build(name, test, limit=args.strokes)
        except ValueError as exc:
            print(f"skipping {name}: {exc}", file=sys.stderr)
            continue
        sets[name] = (ts.images, ts.labels)
    if args.fashion:
        fashion = load_dataset(args.fashion, "test", download=False)
        sets["fashion"] = (fashion.images[: args.fashion_limit] / 255.0, np.full(args.fashion_limit, -1))
    out = {}
    for name, (images, labels) in sets.items():
        started = time.perf_counter()
        x = to_model_range(np.asarray(images, dtype=np.float32))
        result = search(model, x, config, return_latents=True)
        winner = result.latents[np.arange(len(x)), np.maximum(result.labels, 0)]
        zscore = np.abs((winner - model.prior_mean.numpy()) / model.prior_std.numpy()).mean(-1)
        out[f"{name}_distances"] = result.distances
        out[f"{name}_labels"] = np.asarray(labels)
        out[f"{name}_pred"] = result.labels
        out[f"{name}_zscore"] = zscore
        out[f"{name}_ink"] = (x + 0.5).reshape(len(x), -1).mean(1)
        print(f"{name}: {len(x)} images, {time.perf_counter() - started:.0f} s, "
              f"accuracy {np.mean(result.labels == np.asarray(labels)):.4f}", file=sys.stderr)
    np.savez_compressed(args.out, preset=args.preset, model=args.model, **out)
    print(f"wrote {args.out}")


def candidates(f: dict, name: str) -> dict[str, np.ndarray]:
    d = f[f"{name}_distances"]
    ink = f[f"{name}_ink"]
    z = f[f"{name}_zscore"]
    s = np.sort(d, 1)
    best, second = s[:, 0], s[:, 1]
    return {
        "raw": best,
        "ink-ratio": best / (ink + 0.02),
        "sqrt-ink": best / np.sqrt(ink + 0.01),
        "margin": -(second - best),
        "rel-margin": best / second,
        "raw+z": best * (1 + 0.1 * z),
        "sqrt-ink+rel": best / np.sqrt(ink + 0.01) + 0.05 * best / second,
    }


def compare(args: argparse.Namespace) -> None:
    from igc_core.evaluate import auroc

    f = dict(np.load(args.file, allow_pickle=False))
    names = [k[: -len("_distances")] for k in f if k.endswith("_distances")]
    cal = candidates(f, "calibration")
    rep = candidates(f, "mnist")
    print(f"{args.file} (preset {f['preset']}); share called out of class at the threshold keeping "
          f"{args.keep:.0%} of the calibration digits; AUROC vs the reported MNIST digits\n")
    head = "| score | " + " | ".join(n for n in names if n != "calibration") + " |"
    print(head + "\n|" + "---|" * (head.count("|") - 1))
    for key in cal:
        thr = np.quantile(cal[key], args.keep)
        cells = []
        for n in names:
            if n == "calibration":
                continue
            sc = candidates(f, n)[key]
            labels = f[f"{n}_labels"]
            digits = labels >= 0
            share = np.mean(sc > thr)
            if digits.all():
                cells.append(f"{share:.1%} out")
            else:
                au = auroc(rep[key], sc[~digits])
                cells.append(f"{share:.1%} out, AUROC {au:.3f}")
        print(f"| {key} | " + " | ".join(cells) + " |")
    # per-class thresholds on the raw distance, by the predicted class
    pred_cal = np.argmin(f["calibration_distances"], 1)
    thr_c = np.array([np.quantile(cal["raw"][pred_cal == c], args.keep) for c in range(f["calibration_distances"].shape[1])])
    cells = []
    for n in names:
        if n == "calibration":
            continue
        dd = f[f"{n}_distances"]
        p = np.argmin(dd, 1)
        sc = dd.min(1) / thr_c[p]
        labels = f[f"{n}_labels"]
        share = np.mean(sc > 1)
        if (labels >= 0).all():
            cells.append(f"{share:.1%} out")
        else:
            rp = f["mnist_distances"].min(1) / thr_c[np.argmin(f["mnist_distances"], 1)]
            cells.append(f"{share:.1%} out, AUROC {auroc(rp, sc[labels < 0]):.3f}")
    print("| per-class raw | " + " | ".join(cells) + " |")


def tradeoff(args: argparse.Namespace) -> None:
    """For one score: per share of calibration digits kept, the share of each set called out of class."""
    f = dict(np.load(args.file, allow_pickle=False))
    names = [k[: -len("_distances")] for k in f if k.endswith("_distances") and not k.startswith("calibration")]
    cal = candidates(f, "calibration")[args.score]
    print(f"{args.file} (model {f['model']}, preset {f['preset']}), score '{args.score}': share called out of class "
          f"at the threshold keeping each share of the calibration digits\n")
    print("| kept (calibration) | " + " | ".join(names) + " |\n|" + "---|" * (len(names) + 1))
    for keep in args.keeps:
        thr = np.quantile(cal, keep)
        cells = [f"{np.mean(candidates(f, n)[args.score] > thr):.1%}" for n in names]
        print(f"| {keep:.1%} | " + " | ".join(cells) + " |")
    from igc_core.evaluate import auroc

    rep = candidates(f, "mnist")[args.score]
    aurocs = [f"{n} {auroc(rep, candidates(f, n)[args.score][f[f'{n}_labels'] < 0]):.4f}" for n in names
              if (f[f"{n}_labels"] < 0).any()]
    accs = [f"{n} {np.mean(f[f'{n}_pred'] == f[f'{n}_labels']):.2%}" for n in names if (f[f"{n}_labels"] >= 0).all()]
    print(f"\nAUROC against the reported MNIST digits: {', '.join(aurocs)}; accuracy: {', '.join(accs)}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect")
    c.add_argument("--model", default=None)
    c.add_argument("--preset", default="igc")
    c.add_argument("--data", required=True)
    c.add_argument("--fashion", default=None)
    c.add_argument("--fashion-limit", type=int, default=1000, dest="fashion_limit")
    c.add_argument("--digits", type=int, default=2000)
    c.add_argument("--strokes", type=int, default=300, help="MNIST test digits redrawn per stroke variant")
    c.add_argument("--threads", type=int, default=1)
    c.add_argument("--out", required=True)
    c.set_defaults(func=collect)
    m = sub.add_parser("compare")
    m.add_argument("file")
    m.add_argument("--keep", type=float, default=0.99)
    m.set_defaults(func=compare)
    t = sub.add_parser("tradeoff")
    t.add_argument("file")
    t.add_argument("--score", default="sqrt-ink")
    t.add_argument("--keeps", type=lambda text: [float(v) for v in text.split(",")], default=[0.95, 0.98, 0.99, 0.995])
    t.set_defaults(func=tradeoff)
    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
