"""The latent search as a 2-D map: every class's (and every restart's) latent projected onto two axes. No Qt.

The search moves one latent per class and restart (IGC paper Sec. 3.1; Parallel IGC, Sec. 3.3, several per
class). Projected onto the two principal axes of all the latents recorded in the run (or onto two latent
dimensions the user picks), each latent's journey is a path from its start to where the search left it:
the classes start together at the prior mean and spread out, and the restarts of one class converge or not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PCA = "pca"


@dataclass(frozen=True)
class LatentMap:
    """Paths on the map: points (C, R, K, 2) for K recorded steps; the frame shown is `index`."""

    points: np.ndarray  # (C, R, K, 2)
    steps: np.ndarray  # (K,)
    index: int
    axes: tuple[str, str]  # the axes' names, e.g. ("PC 1 (61 %)", "PC 2 (17 %)")
    bounds: tuple[float, float, float, float]  # x0, x1, y0, y1 over every point (the map does not move in a replay)
    spread: np.ndarray | None = None  # (C, K) how far a class's restarts are from their mean, in latent space (R > 1)

    @property
    def paths(self) -> int:
        return self.points.shape[0] * self.points.shape[1]


def parse_axes(text: str | tuple, latent_dim: int | None = None) -> str | tuple[int, int]:
    """'pca' or two latent dimensions 'i,j' (ValueError with a readable message)."""
    if isinstance(text, tuple):
        dims = text
    else:
        if text.strip().lower() == PCA:
            return PCA
        try:
            dims = tuple(int(p) for p in text.replace(" ", "").split(","))
        except ValueError:
            raise ValueError(f"axes are 'pca' or two latent dimensions such as '0,1' (got {text!r})") from None
    if len(dims) != 2 or dims[0] == dims[1] or min(dims) < 0:
        raise ValueError(f"axes are two different latent dimensions such as '0,1' (got {text!r})")
    if latent_dim is not None and max(dims) >= latent_dim:
        raise ValueError(f"the latent has dimensions 0 to {latent_dim - 1}")
    return int(dims[0]), int(dims[1])


def project(latents: np.ndarray, axes: str | tuple[int, int] = PCA) -> tuple[np.ndarray, tuple[str, str]]:
    """latents (K, C, R, L) -> points (C, R, K, 2) and the axes' names.

    PCA: the two directions in which all recorded latents of the run vary most (centred on their mean; signs
    fixed so that the largest component of each axis is positive, so the same run always draws the same map).
    """
    K, C, R, L = latents.shape
    x = latents.reshape(-1, L).astype(np.float64)
    if axes == PCA:
        centred = x - x.mean(0)
        if L == 1:
            basis, names = np.array([[1.0], [0.0]]).T, ("z 0", "–")
        else:
            cov = centred.T @ centred / max(len(x) - 1, 1)
            values, vectors = np.linalg.eigh(cov)  # ascending
            order = np.argsort(values)[::-1][:2]
            basis = vectors[:, order]  # (L, 2)
            flip = np.sign(basis[np.argmax(np.abs(basis), axis=0), [0, 1]])
            basis = basis * np.where(flip == 0, 1.0, flip)
            total = float(values.sum())
            share = [float(values[i]) / total if total > 0 else 0.0 for i in order]
            names = (f"PC 1 ({100 * share[0]:.0f} %)", f"PC 2 ({100 * share[1]:.0f} %)")
        xy = centred @ basis  # (K*C*R, 2)
    else:
        i, j = parse_axes(tuple(axes), L)
        xy = x[:, [i, j]]
        names = (f"z {i}", f"z {j}")
    points = xy.reshape(K, C, R, 2).transpose(1, 2, 0, 3)  # (C, R, K, 2)
    return np.ascontiguousarray(points, dtype=np.float32), names


def latent_map(latents: np.ndarray | None, steps: np.ndarray, index: int, axes: str | tuple[int, int] = PCA) -> LatentMap | None:
    """The map for a run's recorded latents (K, C, R, L), or None when the frames carry none."""
    if latents is None or not len(latents):
        return None
    points, names = project(latents, axes)
    flat = points.reshape(-1, 2)
    x0, y0 = flat.min(0)
    x1, y1 = flat.max(0)
    points.setflags(write=False)
    return LatentMap(points, np.array(steps, copy=True), int(index), names, (float(x0), float(x1), float(y0), float(y1)),
                     restart_spread(latents))


def restart_spread(latents: np.ndarray) -> np.ndarray | None:
    """(K, C, R, L) -> (C, K): the mean distance of each class's restarts from their centre at each recorded step, in
    the latent space itself (not the map): falling when the restarts converge on one latent. None with one restart."""
    if latents.shape[2] < 2:
        return None
    x = latents.astype(np.float64)
    centre = x.mean(axis=2, keepdims=True)  # (K, C, 1, L)
    spread = np.linalg.norm(x - centre, axis=-1).mean(axis=2)  # (K, C)
    out = np.ascontiguousarray(spread.T, dtype=np.float32)
    out.setflags(write=False)
    return out
