"""Measuring multi-label IGC on two-digit numbers (IGC paper Sec. 1.4): per-label search, exhaustive search and
a naive split baseline, under the paper's noise protocol.

Pure measurement, like `igc_core.evaluate`: these functions compute and return; `igc evaluate --task two-digit`
prints. Noise is the paper's (Sec. 4.2): sigma * N(0, 1) added in the [-0.5, 0.5] scale, clipped, with one
fixed seed for every sigma.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .data import Dataset, IMAGE_SIZE
from .evaluate import noisy_images, wilson_interval

Progress = Callable[[str, int], None]  # (what is being measured, images just finished)
METHODS = ("per-label", "exhaustive", "naive split")


@dataclass
class NumberRow:
    """One method at one noise level: how often both digits, and each digit, were read right, and how fast."""

    method: str
    sigma: float
    both_correct: int
    label_correct: tuple[int, ...]  # per label: tens, units
    total: int
    seconds: float  # wall-clock
    cpu_seconds: float  # this process's CPU time: comparable between methods on a shared or paused machine

    @property
    def accuracy(self) -> float:
        return 100.0 * self.both_correct / self.total

    def to_dict(self) -> dict:
        lo, hi = wilson_interval(self.both_correct, self.total)
        return {
            "method": self.method, "sigma": self.sigma, "both_accuracy": round(self.accuracy, 3),
            "ci95": [round(lo, 2), round(hi, 2)], "both_correct": self.both_correct,
            "label_accuracy": [round(100.0 * c / self.total, 3) for c in self.label_correct],
            "images": self.total, "seconds_per_image": round(self.seconds / self.total, 5),
            "cpu_seconds_per_image": round(self.cpu_seconds / self.total, 5),
        }


def naive_split(digit_model, images: np.ndarray, config, progress: Progress | None = None,
                desc: str = "naive split") -> np.ndarray:
    """The baseline: cut each (N, 28, 56) number at the middle and classify each half with the single-digit
    model's IGC search. Returns (N, 2) labels (-1 where a search diverged)."""
    from .search import search

    images = np.asarray(images, dtype=np.float32)
    n = len(images)
    halves = np.concatenate([images[:, :, :IMAGE_SIZE], images[:, :, IMAGE_SIZE:]])  # (2N, 28, 28): tens, then units

    def on_snapshot(snap) -> None:
        if snap.step == snap.steps and progress:
            progress(desc, len(snap.losses) / 2)

    result = search(digit_model, halves, config, on_snapshot=on_snapshot, snapshot_every=max(config.steps, 1))
    return np.stack([result.labels[:n], result.labels[n:]], 1)


def read_numbers(model, images: np.ndarray, config, progress: Progress | None = None, desc: str = ""):
    """The multi-label search over `images`, reporting each finished chunk to `progress`."""
    from .multilabel import search

    def on_snapshot(snap) -> None:
        if snap.step == snap.steps and progress:
            progress(desc or config.mode, len(snap.losses))

    return search(model, images, config, on_snapshot=on_snapshot, snapshot_every=max(config.search.steps, 1))


def two_digit_table(model, pairs: Dataset, sigmas, config, methods=METHODS, digit_model=None, digit_config=None,
                    progress: Progress | None = None) -> tuple[list[NumberRow], dict]:
    """Every method in `methods` on `pairs` (labels (N, 2)) at every noise level.

    `config` is the multi-label search's (its mode is set per method); the naive split needs the single-digit
    `digit_model` and its search config. Also returns, per sigma, the per-label search's OOC values (for a
    threshold).
    """
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(unknown)}: choose from {', '.join(METHODS)}")
    if "naive split" in methods and (digit_model is None or digit_config is None):
        raise ValueError("the naive split baseline needs the single-digit model and its search settings")
    rows, oocs = [], {}
    # warm-up, untimed: the precision calibration and first-call costs would otherwise land on the first method
    warm = noisy_images(pairs.images[:128], 0.0)  # a whole chunk: the calibration is per chunk size
    for method in methods:
        if method == "naive split":
            naive_split(digit_model, warm, digit_config.with_(steps=1))
        else:
            read_numbers(model, warm, config.with_(mode=method, steps=1))
    for sigma in sigmas:
        x = noisy_images(pairs.images, sigma)
        for method in methods:
            started, cpu = time.perf_counter(), time.process_time()
            if method == "naive split":
                labels = naive_split(digit_model, x, digit_config, progress, f"naive split sigma={sigma:g}")
            else:
                result = read_numbers(model, x, config.with_(mode=method), progress, f"{method} sigma={sigma:g}")
                labels = result.labels
                if method == "per-label":
                    oocs[float(sigma)] = result.ooc
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            right = labels == pairs.labels  # (N, 2)
            rows.append(NumberRow(method, float(sigma), int(right.all(1).sum()), tuple(int(c) for c in right.sum(0)),
                                  len(pairs), seconds, cpu))
    return rows, oocs


def format_two_digit_table(rows: list[NumberRow]) -> str:
    lines = [
        "| method | sigma | both digits % | 95% CI | tens % | units % | s/image | CPU s/image |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        d = row.to_dict()
        tens, units = d["label_accuracy"]
        lines.append(f"| {row.method} | {row.sigma:g} | {row.accuracy:.2f} | {d['ci95'][0]:.2f}-{d['ci95'][1]:.2f} | "
                     f"{tens:.2f} | {units:.2f} | {d['seconds_per_image']:.4f} | {d['cpu_seconds_per_image']:.4f} |")
    return "\n".join(lines)
