"""Why this class: the per-pixel differences between what each class's generator draws and the input. No Qt.

L_DD (IGC paper Sec. 3.1, MAE there) is the mean of |G(c, z) - d| over the pixels (MSE: of its square), so the
difference image is the distance itself, pixel by pixel: the class whose picture has the least red and blue wins.
The sign says which way the drawing is wrong: red where the generator draws ink the input does not have, blue
where the input has ink the generator did not draw. With the intensity fit (the default search, `robust`) the
search compares a * G(c, z) + b, a contrast a and brightness b fitted to the input; the frames hold that picture,
so its difference from d is still what the distance adds up.
"""

from __future__ import annotations

import numpy as np

# the diverging map's ends (ColorBrewer RdBu): + (extra ink) red, - (missing ink) blue, 0 white
POSITIVE = np.array([178, 24, 43], dtype=np.float32)
NEGATIVE = np.array([33, 102, 172], dtype=np.float32)
WHITE = np.array([255, 255, 255], dtype=np.float32)
FULL_SCALE = 1.0  # |G - d| <= 1 on the [-0.5, 0.5] scale: one fixed scale, so colours compare across cells and steps


def differences(grid: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Signed G(c, z) - d for every cell (a * G + b with the intensity fit: the picture the search compared):
    grid (C, R, H, W), target (H, W) -> (C, R, H, W) float32."""
    return grid.astype(np.float32) - target.astype(np.float32)[None, None]


def difference(grid: np.ndarray, target: np.ndarray, c: int, r: int) -> np.ndarray:
    """Signed G(c, z_r) - d of one cell, (H, W) float32."""
    return grid[c, r].astype(np.float32) - target.astype(np.float32)


def compared_name(c: int, restart: str = "", intensity: str = "none") -> str:
    """What the search compared with the input for class `c`: 'G(7, z)', or 'aG(7, z)+b' with the intensity fit."""
    g = f"G({c}, z{restart})"
    return f"a{g}+b" if intensity == "affine" else g


def distance_formula(dif: str, intensity: str = "none") -> str | None:
    """What L_DD is the mean of, per pixel: '|G−d|' (MAE), '(aG+b−d)²' (MSE with the intensity fit), None for BCE
    (it compares the generator's logits, not a picture)."""
    g = "aG+b" if intensity == "affine" else "G"
    return {"mae": f"|{g}−d|", "mse": f"({g}−d)²"}.get(dif)


def distance_of(diff: np.ndarray, dif: str) -> float | None:
    """The image distance L_DD that a difference image adds up to (MAE: mean |.|; MSE: mean square), or None
    for BCE, which compares the generator's logits instead."""
    if dif == "mae":
        return float(np.abs(diff).mean())
    if dif == "mse":
        return float(np.square(diff).mean())
    return None


def diverging_rgb(diff: np.ndarray, scale: float = FULL_SCALE) -> np.ndarray:
    """Signed differences (..., H, W) -> uint8 (..., H, W, 3): white at 0, red for +, blue for -, full at `scale`."""
    t = np.clip(np.asarray(diff, dtype=np.float32) / scale, -1.0, 1.0)[..., None]
    pos = WHITE + (POSITIVE - WHITE) * np.clip(t, 0, 1)
    neg = WHITE + (NEGATIVE - WHITE) * np.clip(-t, 0, 1)
    rgb = np.where(t >= 0, pos, neg)
    return np.round(rgb).astype(np.uint8)


def rgb_mosaic(cells: np.ndarray, gap: int = 1) -> np.ndarray:
    """(C, R, H, W, 3) uint8 -> one (C*(H+gap)-gap, R*(W+gap)-gap, 3) image with white gaps."""
    C, R, H, W, _ = cells.shape
    out = np.full((C * (H + gap) - gap, R * (W + gap) - gap, 3), 255, dtype=np.uint8)
    for c in range(C):
        for r in range(R):
            out[c * (H + gap): c * (H + gap) + H, r * (W + gap): r * (W + gap) + W] = cells[c, r]
    return out
