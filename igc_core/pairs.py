"""Two-digit numbers from MNIST digits: the multi-label task of IGC paper Sec. 1.4 (two labels, tens and units).

A number is a 28 x 56 image: the tens digit's 28 x 28 box on the left, the units digit's on the right,
composited by pixel-wise maximum. The two boxes overlap by a random 0 to MAX_OVERLAP pixels (the pair centred
in the width), and each digit moves up or down by up to MAX_JITTER pixels, so no fixed split of the image
separates the digits. Labels are (tens, units) pairs.

Training pairs are drawn afresh every epoch (`epoch_pairs`: every training digit once as a tens digit and
once as a units digit, seeded by the epoch); test pairs are a fixed seeded list (`fixed_pairs`), and the first
n pairs of a longer list are the same n pairs.
"""

from __future__ import annotations

import numpy as np

from .data import IMAGE_SIZE, Dataset
from .framing import NUMBER_SIZE

NUMBER_SHAPE = NUMBER_SIZE  # (height, width) of a two-digit number: 28 x 56
LABELS = (10, 10)  # classes per label: tens, units
MAX_OVERLAP = 8  # pixels the two 28 x 28 boxes may overlap
MAX_JITTER = 2  # pixels each digit may move up or down
TEST_SEED = 11  # the fixed list of test pairs


def compose(tens: np.ndarray, units: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, 28, 28) uint8 tens and units digits -> (N, 28, 56) uint8 numbers with random overlap and jitter."""
    tens, units = np.asarray(tens), np.asarray(units)
    if tens.shape != units.shape or tens.ndim != 3 or tens.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"expected two stacks of 28x28 digits of the same length, got {tens.shape} and {units.shape}")
    n = len(tens)
    overlap = rng.integers(0, MAX_OVERLAP + 1, n)  # (N,)
    left = overlap // 2  # the pair is centred in the 56-pixel width
    jitter = rng.integers(-MAX_JITTER, MAX_JITTER + 1, (n, 2))  # (N, 2) rows down (negative: up)
    out = np.zeros((n, *NUMBER_SHAPE), dtype=tens.dtype)
    for i in range(n):
        for digit, x0, dy in ((tens[i], left[i], jitter[i, 0]), (units[i], left[i] + IMAGE_SIZE - overlap[i], jitter[i, 1])):
            shifted = np.zeros_like(digit)
            if dy >= 0:
                shifted[dy:] = digit[: IMAGE_SIZE - dy]
            else:
                shifted[:dy] = digit[-dy:]
            box = out[i, :, x0 : x0 + IMAGE_SIZE]
            np.maximum(box, shifted, out=box)
    return out


def _pairs(data: Dataset, tens_idx: np.ndarray, units_idx: np.ndarray, rng: np.random.Generator, name: str) -> Dataset:
    images = compose(data.images[tens_idx], data.images[units_idx], rng)
    labels = np.stack([data.labels[tens_idx], data.labels[units_idx]], 1).astype(np.int64)  # (N, 2)
    return Dataset(images=images, labels=labels, name=name)


def epoch_pairs(data: Dataset, seed: int, epoch: int, limit: int = 0) -> Dataset:
    """Fresh training pairs for one epoch: every digit (of the first `limit`, if given) once in each place."""
    n = min(limit, len(data)) if limit else len(data)
    rng = np.random.default_rng([seed, epoch])
    return _pairs(data, rng.permutation(n), rng.permutation(n), rng, f"{data.name} pairs")


def fixed_pairs(data: Dataset, n: int, seed: int = TEST_SEED) -> Dataset:
    """A fixed, seeded list of n pairs (at most len(data)); the first k pairs do not depend on n."""
    if not 1 <= n <= len(data):
        raise ValueError(f"can make 1 to {len(data)} pairs from {data.name}, not {n}")
    rng = np.random.default_rng(seed)
    tens_idx, units_idx = rng.permutation(len(data)), rng.permutation(len(data))
    # the layout is drawn for the whole list and then cut, so a prefix is always the same pairs
    whole = _pairs(data, tens_idx, units_idx, np.random.default_rng([seed, 1]), f"{data.name} pairs")
    return Dataset(images=whole.images[:n], labels=whole.labels[:n], name=whole.name)


def number_label(labels) -> str:
    """(tens, units) -> the number as a string, "47"."""
    return "".join(str(int(k)) for k in labels)
