"""Measuring IGC: accuracy under the paper's noise protocol, out-of-class detection, and speed.

Pure measurement: these functions compute and return; the `igc evaluate` and `igc bench` commands
(`igc_core/commands/`) print. The paper's table (Sec. 4.2, Table 1: MNIST test images, Gaussian noise sigma
added in the [-0.5, 0.5] scale and clipped) is reproduced with 95% confidence intervals; OOC (Sec. 3.2) is
measured as a detector of non-digits; the batched search is timed against the paper's one-image loop.
"""

from __future__ import annotations

import contextlib
import math
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .data import Dataset, add_noise, to_model_range

Progress = Callable[[str, int], None]  # (what is being measured, images just finished)

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
    diverged: int = 0  # searches that ended in non-finite distances (their labels are meaningless)

    @property
    def accuracy(self) -> float:
        return 100.0 * self.correct / self.total

    def to_dict(self) -> dict:
        lo, hi = wilson_interval(self.correct, self.total)
        paper = PAPER.get((self.method, self.restarts), {}).get(self.sigma)
        return {
            "method": self.method, "restarts": self.restarts, "sigma": self.sigma, "accuracy": round(self.accuracy, 3),
            "ci95": [max(0.0, round(lo, 2)), min(100.0, round(hi, 2))], "correct": self.correct, "images": self.total,
            "diverged": self.diverged,
            "seconds_per_image": round(self.seconds / self.total, 5), "paper_accuracy": paper,
        }


def run_search(model, images: np.ndarray, config, progress: Progress | None = None, desc: str = "IGC"):
    """The search over `images`, reporting each finished chunk to `progress`."""
    from .search import search

    def on_snapshot(snap) -> None:
        if snap.step == snap.steps and progress:
            progress(desc, len(snap.losses))

    return search(model, images, config, on_snapshot=on_snapshot, snapshot_every=max(config.steps, 1))


def accuracy_table(model, data: Dataset, sigmas, restarts_list, config, cnn=None, progress: Progress | None = None,
                   inputs: Callable[[np.ndarray, float], np.ndarray] | None = None) -> list[Row]:
    """IGC (and the CNN baseline) on `data` under each noise level.

    `inputs(images, sigma)` makes the model-range inputs from the data set's images (default: the paper's
    noise, `noisy_images`); `INPUTS["png"]` and `INPUTS["scan"]` measure what a user who classifies files gets.
    """
    inputs = inputs or noisy_images
    rows = []
    for sigma in sigmas:
        x = inputs(data.images, sigma)
        for restarts in restarts_list:
            cfg = config.with_(restarts=restarts)
            started = time.perf_counter()
            result = run_search(model, x, cfg, progress, f"IGC R={restarts} sigma={sigma}")
            rows.append(Row("IGC", restarts, sigma, int(np.sum(result.labels == data.labels)), len(data), time.perf_counter() - started,
                            int(np.sum(result.diverged))))
        if cnn is not None:
            started = time.perf_counter()
            predicted = cnn.predict(x)
            rows.append(Row("CNN", None, sigma, int(np.sum(predicted == data.labels)), len(data), time.perf_counter() - started))
    return rows


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




def ooc_thresholds(model, images: np.ndarray, config, sigmas, tpr: float = 0.95,
                   progress: Progress | None = None) -> dict[float, float]:
    """Per noise level, the OOC threshold that keeps `tpr` of these digits in class (paper Sec. 3.2's OOC).

    Noise raises every distance, so a threshold measured on clean digits calls noisy digits out of class;
    the app uses the threshold of the noise it added. `images` are uint8 or [0, 1] digits.
    """
    out = {}
    for sigma in sigmas:
        ooc = run_search(model, noisy_images(images, sigma), config, progress, f"digits sigma={sigma}").ooc
        out[float(sigma)] = float(np.quantile(ooc, tpr))
    return out


# ------------------------------------------------------------------------------------ through files


def via_files(images: np.ndarray) -> np.ndarray:
    """Model-range images (N, 28, 28) saved as 8-bit PNG files and read back the way `igc classify` reads files.

    What a user meets: the loader frames every file it is given. Measuring through it catches a loader
    that distorts inputs (noise taken for ink, garments reshaped into digit-sized blobs).
    """
    import tempfile
    from pathlib import Path

    from .framing import load_image, save_digit_png

    with tempfile.TemporaryDirectory() as tmp:
        out = np.empty(images.shape, dtype=np.float32)
        for i, image in enumerate(images):
            path = Path(tmp) / f"{i}.png"
            save_digit_png(np.asarray(image) + 0.5, path)
            out[i] = load_image(path) - 0.5
    return out


def scanned(images: np.ndarray, sigma: float, seed: int = NOISE_SEED, scale: int = 4) -> np.ndarray:
    """The digits as a noisy scan would bring them: enlarged `scale` times, placed off-centre on a page of
    40x40 digit pixels, dark ink on light paper, Gaussian noise of `sigma` per scanned pixel, saved as PNG
    files and read back through the file loader (which must find, crop and centre the digit itself)."""
    import tempfile
    from pathlib import Path

    from PIL import Image

    from .framing import load_image

    rng = np.random.default_rng(seed)
    side, page = 28 * scale, 40 * scale
    out = np.empty((len(images), 28, 28), dtype=np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        for i, image in enumerate(np.asarray(images)):
            ink = to_model_range(image[None])[0] + 0.5
            big = np.asarray(Image.fromarray(ink, mode="F").resize((side, side), Image.Resampling.BILINEAR))
            sheet = np.zeros((page, page), np.float32)
            top, left = rng.integers(0, page - side + 1, 2)
            sheet[top : top + side, left : left + side] = big
            if sigma > 0:
                sheet = np.clip(sheet + sigma * rng.standard_normal(sheet.shape).astype(np.float32), 0.0, 1.0)
            path = Path(tmp) / f"{i}.png"
            Image.fromarray((255 * (1.0 - sheet)).round().astype(np.uint8), mode="L").save(path)
            out[i] = load_image(path) - 0.5
    return out


INPUTS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "arrays": noisy_images,  # the paper's protocol on the arrays
    "png": lambda images, sigma: via_files(noisy_images(images, sigma)),  # the same images as PNG files
    "scan": scanned,  # noisy, enlarged, off-centre scans of the digits
}


# -------------------------------------------------------------------------------------------- speed


# spins one core; every 100,000 rounds (a few ms) it checks that the process that started it still runs
BUSY_LOOP = ("import os\nparent = os.getppid()\nwhile os.getppid() == parent:\n"
             "    for _ in range(100_000):\n        pass\n")


@contextlib.contextmanager
def busy_neighbour(processes: int = 1):
    """Other work on the machine while measuring: `processes` Python loops at normal priority, as a user's
    browser or build would be. Stopped on exit; and each loop ends itself once its parent is gone, so that even
    a benchmark killed outright (SIGKILL, where no clean-up runs) leaves nothing spinning."""
    procs = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(processes)]
    try:
        time.sleep(0.2)  # let them start spinning
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def time_search(model, images: np.ndarray, config, repeats: int = 1) -> tuple[float, object]:
    """The fastest of `repeats` searches (seconds) and the last result."""
    from .search import search

    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = search(model, images, config)
        best = min(best, time.perf_counter() - started)
    return best, result


def loop_vs_batched(model, images: np.ndarray, labels: np.ndarray, config, loop_images: int) -> dict:
    """The batched search against the paper's one-image-at-a-time loop, on the same images and settings."""
    from .search import search

    t_batch, batched = time_search(model, images, config)
    n_loop = min(loop_images, len(images))
    started = time.perf_counter()
    loop_labels = [int(search(model, images[i : i + 1], config).labels[0]) for i in range(n_loop)]
    t_loop = time.perf_counter() - started
    per_batch, per_loop = t_batch / len(images), t_loop / max(n_loop, 1)
    return {
        "batched": {"images": len(images), "seconds": round(t_batch, 3), "seconds_per_image": per_batch,
                    "accuracy": float(np.mean(batched.labels == labels)), "precision": batched.precision,
                    "precision_reason": batched.precision_reason},
        "loop": {"images": n_loop, "seconds": round(t_loop, 3), "seconds_per_image": per_loop,
                 "same_labels_as_batched": int(np.sum(np.asarray(loop_labels) == batched.labels[:n_loop]))},
        "speedup": per_loop / per_batch,
    }


def compare_models(models: dict, images: np.ndarray, labels: np.ndarray, config, rounds: int) -> list[dict]:
    """Time the same search over several models side by side: each round runs every model once, in turn, on
    the same images, so a busy moment of the machine falls on all of them alike; the fastest round counts.

    Returns one row per model: seconds per image (fastest and median round), its ratio to the first model's
    fastest, and accuracy on these images. Costs differ from CPU to CPU; the ratios are what carries over."""
    from .search import search

    times: dict[str, list[float]] = {name: [] for name in models}
    labels_of: dict[str, np.ndarray] = {}
    for model in models.values():
        search(model, images[:8], config.with_(steps=3))  # warm-up (and the precision calibration, if due)
    for _ in range(rounds):
        for name, model in models.items():
            started = time.perf_counter()
            result = search(model, images, config)
            times[name].append((time.perf_counter() - started) / len(images))
            labels_of[name] = result.labels
    base = min(next(iter(times.values())))
    return [{"model": name, "images": len(images), "seconds_per_image": min(t), "median_seconds_per_image": float(np.median(t)),
             "ratio_to_first": min(t) / base, "accuracy": float(np.mean(labels_of[name] == labels)), "rounds": rounds}
            for name, t in times.items()]


def interactive_query(model, image: np.ndarray, config, repeats: int) -> list[float]:
    """Seconds for one image searched the way the app does (snapshots with images every step)."""
    from .search import search

    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        search(model, image[None], config, snapshot_every=1, snapshot_images=True, on_snapshot=lambda s: None)
        times.append(time.perf_counter() - started)
    return times


def speed_matrix(model, images: np.ndarray, config, precisions, threads, neighbours,
                 progress: Callable[[dict], None] | None = None) -> list[dict]:
    """Seconds for one search of `images` for every precision x thread count x neighbour ("idle"/"busy").

    The automatic choices ("auto", threads 0) are measured beside the explicit ones in the same run, so the
    default can be compared with the best explicit choice on this machine.
    """
    rows = []
    for neighbour in neighbours:
        with busy_neighbour() if neighbour == "busy" else contextlib.nullcontext():
            for precision in precisions:
                for n in threads:
                    cfg = config.with_(precision=precision, threads=n)
                    seconds, result = time_search(model, images, cfg)
                    row = {"neighbour": neighbour, "precision": precision, "ran_in": result.precision,
                           "threads": n or "auto", "images": len(images), "seconds": round(seconds, 3)}
                    rows.append(row)
                    if progress:
                        progress(row)
    return rows
