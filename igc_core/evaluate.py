"""Measuring IGC: accuracy under the paper's noise protocol, out-of-class detection, and speed.

`igc evaluate` reproduces the paper's table (Sec. 4.2, Table 1: MNIST test images, Gaussian noise sigma added
in the [-0.5, 0.5] scale and clipped) with our figures, 95% confidence intervals and seconds per image beside
the paper's; `igc evaluate --ood` measures how well OOC (Sec. 3.2) separates digits from other images;
`igc bench` times the batched search against the paper's one-image-at-a-time loop.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import Dataset, add_noise, load_dataset, to_model_range

# The IGC paper's Table 1 (1,000 MNIST test images): accuracy in % by method and noise sigma.
PAPER = {
    ("IGC", 1): {0.0: 95.1, 0.2: 94.7, 0.4: 91.2},
    ("IGC", 5): {0.0: 95.7, 0.2: 95.7, 0.4: 92.3},
}
PAPER_SECONDS_PER_IMAGE = 2.526  # 2,526 s for 1,000 images on an RTX 2080 Ti
NOISE_SEED = 20190101


def wilson_interval(correct: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a proportion, in %."""
    if total == 0:
        return (float("nan"), float("nan"))
    p = correct / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return (100 * (centre - half), 100 * (centre + half))


def noisy_images(images01: np.ndarray, sigma: float, seed: int = NOISE_SEED) -> np.ndarray:
    """The paper's corruption with a fixed seed: the same N(0, 1) draws, scaled by sigma, for every sigma."""
    return add_noise(to_model_range(images01), sigma, np.random.default_rng(seed))


@dataclass
class Row:
    method: str
    restarts: int | None
    sigma: float
    correct: int
    total: int
    seconds: float

    @property
    def accuracy(self) -> float:
        return 100.0 * self.correct / self.total

    def to_dict(self) -> dict:
        lo, hi = wilson_interval(self.correct, self.total)
        paper = PAPER.get((self.method, self.restarts), {}).get(self.sigma)
        return {
            "method": self.method, "restarts": self.restarts, "sigma": self.sigma, "accuracy": round(self.accuracy, 3),
            "ci95": [round(lo, 2), round(hi, 2)], "correct": self.correct, "images": self.total,
            "seconds_per_image": round(self.seconds / self.total, 5), "paper_accuracy": paper,
        }


def accuracy_table(model, data: Dataset, sigmas, restarts_list, config, cnn=None, progress=None) -> list[Row]:
    """IGC (and the CNN baseline) on `data` under each noise level."""
    from .search import search

    rows = []
    for sigma in sigmas:
        x = noisy_images(data.images, sigma)
        for restarts in restarts_list:
            cfg = config.with_(restarts=restarts)
            started = time.perf_counter()
            done = [0]

            def on_snapshot(snap, done=done) -> None:
                if snap.step == snap.steps and progress:
                    done[0] += len(snap.losses)
                    progress(f"IGC R={restarts} sigma={sigma}", len(snap.losses))

            result = search(model, x, cfg, on_snapshot=on_snapshot, snapshot_every=max(cfg.steps, 1))
            rows.append(Row("IGC", restarts, sigma, int(np.sum(result.labels == data.labels)), len(data), time.perf_counter() - started))
        if cnn is not None:
            started = time.perf_counter()
            predicted = cnn.predict(x)
            rows.append(Row("CNN", None, sigma, int(np.sum(predicted == data.labels)), len(data), time.perf_counter() - started))
    return rows


def format_table(rows: list[Row]) -> str:
    lines = [
        "| method | latents/class | sigma | accuracy % | 95% CI | paper % | s/image |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        d = row.to_dict()
        paper = "" if d["paper_accuracy"] is None else f"{d['paper_accuracy']:.1f}"
        lines.append(
            f"| {row.method} | {row.restarts or ''} | {row.sigma:g} | {row.accuracy:.2f} | "
            f"{d['ci95'][0]:.2f}-{d['ci95'][1]:.2f} | {paper} | {d['seconds_per_image']:.4f} |"
        )
    return "\n".join(lines)


# ------------------------------------------------------------------------------------- out of class


def auroc(inliers: np.ndarray, outliers: np.ndarray) -> float:
    """Area under the ROC curve for 'outlier scores higher' (Mann-Whitney U with tie correction)."""
    scores = np.concatenate([inliers, outliers])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    n_in, n_out = len(inliers), len(outliers)
    u = ranks[n_in:].sum() - n_out * (n_out + 1) / 2
    return float(u / (n_in * n_out))


def ood_report(in_ooc: np.ndarray, sets: dict[str, np.ndarray], tpr: float = 0.95) -> tuple[float, list[dict]]:
    """The threshold that keeps `tpr` of the digits in class, and per set AUROC and FPR at that threshold."""
    threshold = float(np.quantile(in_ooc, tpr))
    rows = []
    for name, out_ooc in sets.items():
        rows.append({
            "set": name, "images": len(out_ooc), "auroc": round(auroc(in_ooc, out_ooc), 5),
            # false positives: outliers accepted as digits when 95% of the digits are accepted
            "fpr_at_95tpr": round(float(np.mean(out_ooc <= threshold)), 5),
            "median_ooc": round(float(np.median(out_ooc)), 5),
        })
    return threshold, rows


def noise_images(kind: str, n: int, seed: int = 7) -> np.ndarray:
    """Non-digit test inputs in the model's scale: uniform or Gaussian noise images."""
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        return (rng.random((n, 28, 28)) - 0.5).astype(np.float32)
    return np.clip(rng.normal(0.0, 0.5, (n, 28, 28)), -0.5, 0.5).astype(np.float32)


# ---------------------------------------------------------------------------------------------- CLI


def _progress_bar(total: int, quiet: bool):
    from tqdm import tqdm

    bar = tqdm(total=total, unit="image", disable=quiet, file=sys.stderr)

    def update(desc: str, n: int) -> None:
        bar.set_description(desc)
        bar.update(n)

    return bar, update


def _command(args) -> str:
    import shlex

    return "igc " + " ".join(shlex.quote(a) for a in args.argv)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from . import checkpoints
    from .cli import _threads, search_config
    from .search import search

    _threads(args.threads)
    model, meta = checkpoints.load(args.model)
    config = search_config(args)
    test = load_dataset(args.data, "test")
    if args.limit:
        test = Dataset(test.images[: args.limit], test.labels[: args.limit], test.name)
    report = {"command": _command(args), "model": str(checkpoints.paths(args.model or checkpoints.DEFAULT_MODEL)[0]),
              "search": config.to_dict(), "images": len(test)}
    if args.ood:
        other = load_dataset(args.ood, "test", download=False)
        n = len(test)
        sets = {f"{Path(args.ood).name}": to_model_range(other.images[:n]),
                "uniform noise": noise_images("uniform", n), "gaussian noise": noise_images("gaussian", n)}
        bar, update = _progress_bar(n * (1 + len(sets)), args.quiet)

        def ooc_of(x, desc):
            def on_snapshot(snap):
                if snap.step == snap.steps:
                    update(desc, len(snap.losses))
            return search(model, x, config, on_snapshot=on_snapshot, snapshot_every=max(config.steps, 1)).ooc

        in_ooc = ooc_of(to_model_range(test.images), "digits")
        out = {name: ooc_of(x, name) for name, x in sets.items()}
        bar.close()
        threshold, rows = ood_report(in_ooc, out)
        report["ood"] = {"threshold_95tpr": threshold, "sets": rows, "median_digit_ooc": float(np.median(in_ooc))}
        print(f"OOC out-of-class detection, {n} MNIST test digits vs each set ({_command(args)})\n")
        print("| set | images | AUROC | FPR at 95% TPR | median OOC |\n|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['set']} | {r['images']} | {r['auroc']:.4f} | {r['fpr_at_95tpr']:.4f} | {r['median_ooc']:.4f} |")
        print(f"\nmedian digit OOC {np.median(in_ooc):.4f}; threshold keeping 95% of digits in class: {threshold:.4f}")
        if args.save_threshold:
            checkpoints.set_metric(args.model, "ooc_threshold", round(threshold, 5),
                                   note={"ooc_threshold_measured_by": _command(args), "ooc_threshold_search": config.to_dict()})
            print("saved as the model's recommended threshold (sidecar metrics.ooc_threshold)")
    else:
        cnn = None
        if args.cnn != "none":
            cnn_path = Path(args.cnn) if args.cnn else checkpoints.ASSETS / "cnn.safetensors"
            if cnn_path.exists() or args.cnn:
                cnn, _ = checkpoints.load(cnn_path)
        total = len(test) * len(args.sigmas) * len(args.restarts)
        bar, update = _progress_bar(total, args.quiet)
        rows = accuracy_table(model, test, args.sigmas, args.restarts, config, cnn, update)
        bar.close()
        report["rows"] = [r.to_dict() for r in rows]
        print(f"Accuracy on {len(test)} MNIST test images, noise sigma*N(0,1) clipped to [-0.5, 0.5] (seed {NOISE_SEED})")
        print(f"search: {config.steps} steps, lr {config.lr:g}, lambda_LR {config.lambda_lr:g}, dif {config.dif}, "
              f"score {config.score}, init {config.init}, {config.precision}; `{_command(args)}`\n")
        print(format_table(rows))
        print(f"\npaper: 1,000 images, about {PAPER_SECONDS_PER_IMAGE:.2f} s/image on an RTX 2080 Ti")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Batched search vs the one-image loop on the same images and settings, and one interactive query."""
    import torch

    from . import checkpoints
    from .cli import _threads, search_config
    from .search import search

    _threads(args.threads)
    model, _ = checkpoints.load(args.model)
    config = search_config(args)
    test = load_dataset(args.data, "test")
    x = to_model_range(test.images[: args.images])
    y = test.labels[: args.images]
    search(model, x[:8], config.with_(steps=3))  # warm-up
    started = time.perf_counter()
    batched = search(model, x, config)
    t_batch = time.perf_counter() - started
    n_loop = min(args.loop_images, len(x))
    started = time.perf_counter()
    loop_labels = [int(search(model, x[i : i + 1], config).labels[0]) for i in range(n_loop)]
    t_loop = time.perf_counter() - started
    same = int(np.sum(np.asarray(loop_labels) == batched.labels[:n_loop]))
    interactive = config.with_(restarts=5, steps=200)
    times = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        search(model, x[:1], interactive, snapshot_every=1, snapshot_images=True, on_snapshot=lambda s: None)
        times.append(time.perf_counter() - started)
    per_batch, per_loop = t_batch / len(x), t_loop / n_loop
    latents = len(x) * model.num_classes * config.restarts
    report = {
        "command": _command(args), "threads": torch.get_num_threads(), "search": config.to_dict(),
        "batched": {"images": len(x), "seconds": round(t_batch, 3), "seconds_per_image": per_batch,
                    "latent_steps_per_second": latents * config.steps / t_batch, "accuracy": float(np.mean(batched.labels == y))},
        "loop": {"images": n_loop, "seconds": round(t_loop, 3), "seconds_per_image": per_loop, "same_labels_as_batched": same},
        "speedup": per_loop / per_batch,
        "interactive_query": {"restarts": 5, "steps": 200, "median_seconds": float(np.median(times)), "runs": len(times)},
    }
    print(f"Speed, `{_command(args)}` ({torch.get_num_threads()} threads, {config.precision})\n")
    print("| what | images | seconds | s/image |\n|---|---|---|---|")
    print(f"| batched search ({model.num_classes} classes x {config.restarts} restarts x {config.steps} steps) | {len(x)} | {t_batch:.2f} | {per_batch:.5f} |")
    print(f"| one image at a time (same settings) | {n_loop} | {t_loop:.2f} | {per_loop:.5f} |")
    print(f"\nbatched is {per_loop / per_batch:.1f}x faster per image; {same}/{n_loop} loop labels equal the batched ones")
    print(f"interactive query (1 image, 10 classes x 5 restarts x 200 steps, snapshots every step): "
          f"median {np.median(times):.3f} s over {len(times)} runs")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


def add_commands(sub, add_search_options) -> None:
    from .cli import _floats, _ints

    p = sub.add_parser("evaluate", help="accuracy under noise (the paper's protocol), or out-of-class detection with --ood")
    p.add_argument("--data", default=None, help="MNIST folder (default: $IGC_DATA, else the cache folder)")
    p.add_argument("--model", default=None, help="generator checkpoint (default: the shipped one)")
    p.add_argument("--limit", type=int, default=0, help="first N test images only (default: all 10,000)")
    p.add_argument("--sigmas", type=_floats, default=[0.0, 0.2, 0.4])
    p.add_argument("--restarts", type=_ints, default=[1, 5], help="latents per class to measure, e.g. 1,5")
    p.add_argument("--cnn", default=None, help="CNN baseline checkpoint (default: assets/cnn.safetensors if present; 'none' to skip)")
    p.add_argument("--ood", default=None, help="a folder with another IDX data set (e.g. Fashion-MNIST): measure OOC separation")
    p.add_argument("--save-threshold", action="store_true", help="with --ood: store the 95%%-TPR threshold in the model's sidecar")
    p.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quiet", action="store_true")
    add_search_options(p, restarts=False)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("bench", help="time the batched search against a one-image loop, and one interactive query")
    p.add_argument("--data", default=None)
    p.add_argument("--model", default=None)
    p.add_argument("--images", type=int, default=1000, help="images for the batched search")
    p.add_argument("--loop-images", type=int, default=50, dest="loop_images", help="images for the one-at-a-time loop")
    p.add_argument("--repeats", type=int, default=5, help="interactive queries to time")
    p.add_argument("--json", default=None)
    p.add_argument("--threads", type=int, default=None)
    add_search_options(p)
    p.set_defaults(func=cmd_bench)
