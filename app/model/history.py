"""The recorded iterations of one search, for the timeline: pure Python + numpy, no Qt.

The worker turns each engine `Snapshot` of a single image into a `Frame` (the arrays of image 0) and the
window appends them here. Every step is kept while the history fits its memory budget; past that, every
other frame is dropped and only every 2nd, 4th, ... step is recorded from then on (the first and the
latest frames always stay), so a million-step search cannot exhaust memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_BUDGET_BYTES = 256 * 1024 * 1024


class Ranked:
    """Ranking for a recorded step whose `difs` and `losses` are (rows, restarts): one row per class (or per
    candidate of a label, in two-digit frames)."""

    def scores(self, score: str = "dif") -> np.ndarray:
        """(rows, R) what the rows are ranked by (L_DD or the whole loss); NaN (frozen/unknown) -> inf."""
        values = self.difs if score == "dif" else self.losses
        return np.where(np.isfinite(values), values, np.inf)

    def per_class(self, score: str = "dif") -> tuple[np.ndarray, np.ndarray]:
        """(rows,) best score per row and (rows,) which restart gave it."""
        s = self.scores(score)
        return s.min(axis=1), s.argmin(axis=1)


@dataclass(frozen=True)
class Frame(Ranked):
    """One recorded iteration of the search of a single image."""

    step: int  # Adam steps done (0 = the starting points)
    steps: int  # the run's total steps
    losses: np.ndarray  # (C, R) total loss L per latent
    difs: np.ndarray  # (C, R) image distance L_DD per latent
    active: np.ndarray  # (C,) classes still searching
    reconstructions: np.ndarray | None  # (C, R, H, W) float16 in [-0.5, 0.5]
    latents: np.ndarray | None = None  # (C, R, L) float32: every latent at this step (the latent map)

    @classmethod
    def from_snapshot(cls, snap, image: int = 0) -> "Frame":
        """Take image `image` of an engine Snapshot (whose arrays are already copies)."""
        i = image - snap.first_image
        recon = snap.reconstructions
        return cls(
            step=int(snap.step),
            steps=int(snap.steps),
            losses=np.asarray(snap.losses[i], dtype=np.float32),
            difs=np.asarray(snap.difs[i], dtype=np.float32),
            active=np.asarray(snap.active[i], dtype=bool),
            reconstructions=None if recon is None else np.asarray(recon[i], dtype=np.float16),
            latents=None if getattr(snap, "latents", None) is None else np.asarray(snap.latents[i], dtype=np.float32),
        )

    @property
    def nbytes(self) -> int:
        n = self.losses.nbytes + self.difs.nbytes + self.active.nbytes
        n += self.latents.nbytes if self.latents is not None else 0
        return n + (self.reconstructions.nbytes if self.reconstructions is not None else 0)

    def best_class(self, score: str = "dif") -> int:
        return int(np.argmin(self.per_class(score)[0]))


class History:
    """The frames of one run in step order, thinned to fit `budget_bytes`."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES):
        if budget_bytes <= 0:
            raise ValueError("the history budget must be positive")
        self.budget_bytes = budget_bytes
        self.stride = 1  # only steps that are multiples of this are recorded (the latest always shows)
        self._frames: list[Frame] = []
        self._bytes = 0
        # the loss curves, kept in step with the frames in growing buffers (no O(steps) work per frame)
        self._curve_steps = np.zeros(0)
        self._curve_loss = np.zeros((0, 0))
        self._curve_dif = np.zeros((0, 0))
        self._latents: np.ndarray | None = None  # (size, C, R, L) every frame's latents, when frames carry them

    def __len__(self) -> int:
        return len(self._frames)

    def __getitem__(self, index: int) -> Frame:
        return self._frames[index]

    def __iter__(self):
        return iter(self._frames)

    @property
    def nbytes(self) -> int:
        return self._bytes

    @property
    def latest(self) -> Frame | None:
        return self._frames[-1] if self._frames else None

    def clear(self) -> None:
        self._frames.clear()
        self._bytes = 0
        self.stride = 1
        self._curve_steps = np.zeros(0)
        self._curve_loss = np.zeros((0, 0))
        self._curve_dif = np.zeros((0, 0))
        self._latents = None

    def append(self, frame: Frame) -> None:
        """Record a frame. A frame off the stride replaces the previous off-stride latest one."""
        if self._frames and frame.step <= self._frames[-1].step:
            # a repeated step (e.g. the final snapshot after a stop): the newer one wins
            while self._frames and self._frames[-1].step >= frame.step:
                self._bytes -= self._frames.pop().nbytes
        if len(self._frames) >= 2 and self._frames[-1].step % self.stride != 0:
            self._bytes -= self._frames.pop().nbytes  # keep only the on-stride frames plus the newest
        self._frames.append(frame)
        self._bytes += frame.nbytes
        thinned = False
        while self._bytes > self.budget_bytes and len(self._frames) > 2:
            self._thin()
            thinned = True
        self._add_curve_point(frame, rebuild=thinned)

    def _add_curve_point(self, frame: Frame, rebuild: bool) -> None:
        n = len(self._frames)
        C = frame.losses.shape[0]
        if rebuild or self._curve_loss.shape[1:] != (C,) or n - 1 > len(self._curve_steps):
            size = max(64, 2 * n)
            self._curve_steps = np.zeros(size)
            self._curve_loss = np.zeros((size, C))
            self._curve_dif = np.zeros((size, C))
            lat = getattr(frame, "latents", None)  # frames of the two-digit mode carry none
            self._latents = None if lat is None else np.zeros((size, *lat.shape), np.float32)
            for i, f in enumerate(self._frames):
                self._set_point(i, f)
            return
        if n > len(self._curve_steps):
            grow = len(self._curve_steps)
            self._curve_steps = np.concatenate([self._curve_steps, np.zeros(grow)])
            self._curve_loss = np.concatenate([self._curve_loss, np.zeros((grow, C))])
            self._curve_dif = np.concatenate([self._curve_dif, np.zeros((grow, C))])
            if self._latents is not None:
                self._latents = np.concatenate([self._latents, np.zeros((grow, *self._latents.shape[1:]), np.float32)])
        self._set_point(n - 1, frame)

    def _set_point(self, i: int, frame: Frame) -> None:
        self._curve_steps[i] = frame.step
        with np.errstate(invalid="ignore"):
            self._curve_loss[i] = frame.losses.min(axis=1)
            self._curve_dif[i] = frame.difs.min(axis=1)
        if self._latents is not None:
            lat = getattr(frame, "latents", None)
            if lat is None or lat.shape != self._latents.shape[1:]:
                self._latents = None  # frames without latents (or of another shape): no map
            else:
                self._latents[i] = lat

    def _thin(self) -> None:
        """Double the stride and drop the frames that are now off it (keeping the first and the last)."""
        self.stride *= 2
        first, last = self._frames[0], self._frames[-1]
        kept = [f for f in self._frames[1:-1] if f.step % self.stride == 0]
        self._frames = [first, *kept, last]
        self._bytes = sum(f.nbytes for f in self._frames)

    def index_of_step(self, step: int) -> int:
        """The index of the last frame at or before `step` (0 when none)."""
        steps = [f.step for f in self._frames]
        i = int(np.searchsorted(steps, step, side="right")) - 1
        return max(i, 0)

    def latents(self) -> np.ndarray | None:
        """(K, C, R, L) every recorded frame's latents (a view, not a copy), or None when frames carry none."""
        n = len(self._frames)
        if not n or self._latents is None:
            return None
        return self._latents[:n]

    def curves(self, score: str = "loss") -> tuple[np.ndarray, np.ndarray]:
        """steps (K,) and the best restart's value per class (K, C): the loss (or L_DD) curves to plot."""
        n = len(self._frames)
        if not n:
            return np.zeros(0), np.zeros((0, 0))
        values = self._curve_loss if score == "loss" else self._curve_dif
        return self._curve_steps[:n], values[:n]
