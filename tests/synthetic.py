"""Tiny synthetic data in the MNIST file format, for tests (imported as `synthetic`: tests/ is on sys.path)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    """Write an IDX file (the MNIST format) for uint8 arrays."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


def synthetic_digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n 28x28 uint8 'digits': class k draws a bar at a class-dependent place, so classes differ."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    images = np.zeros((n, 28, 28), np.uint8)
    for i, k in enumerate(labels):
        r = 4 + 2 * k
        images[i, r : r + 3, 6:22] = 255
        images[i, 6:22, 4 + int(rng.integers(0, 3))] = 200
    return images, labels.astype(np.uint8)
