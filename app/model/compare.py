"""Comparing runs: the summaries of the last runs, the ghost curves of the previous one, and sweeps. No Qt.

After changing λ_LR, the learning rate, the restarts or the steps, the previous run of the same input stays
on the curves as faint ghosts and the runs table lists the last few runs. A sweep runs one setting over a list
of values on one input and plots each class's final distance and the prediction against the value: the
interactive version of tuning λ_LR (IGC paper Sec. 3.1; the paper chose 0.03).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from igc_core.search import SETTINGS, SearchConfig, describe

# what a sweep can vary: field -> (the name shown, the type of its values), from the settings' declarations
SWEEPABLE: dict[str, tuple[str, type]] = {
    name: (SETTINGS[name].label, SETTINGS[name].type) for name in ("lambda_lr", "lr", "restarts", "steps")}
SWEEP_EXAMPLES = {"lambda_lr": "0, 0.01, 0.03, 0.1, 0.3", "lr": "0.0003, 0.001, 0.003, 0.01", "restarts": "1, 2, 5, 10",
                  "steps": "10, 30, 100, 300"}
MAX_SWEEP = 12


def image_key(image: np.ndarray) -> str:
    """A short fingerprint of an input: runs of the same input (noise included) compare."""
    return hashlib.sha1(np.ascontiguousarray(image, dtype=np.float32).tobytes()).hexdigest()[:16]


@dataclass(frozen=True)
class RunSummary:
    """A finished run in a few numbers and its L_DD curves (for comparing runs; small to keep)."""

    number: int  # the session's run counter
    config: SearchConfig
    name: str
    image_key: str
    sigma: float
    label: int  # -1: diverged
    ooc: float
    margin: float | None
    seconds: float
    precision: str
    distances: np.ndarray  # (C,) final score per class
    curve_steps: np.ndarray  # (K,)
    curve_values: np.ndarray  # (K, C) the deciding quantity per class (best restart)
    verdict: str = ""  # the verdict's big label ("7", "7?", "?")


def settings_text(config: SearchConfig) -> str:
    """The settings a teacher changes, in a few words: '100 steps · lr 0.001 · λ_LR 0.03 · 1 restart'."""
    return " · ".join(describe(config, ("steps", "lr", "lambda_lr", "restarts")))


def differences(old: SearchConfig, new: SearchConfig) -> list[str]:
    """What changed from `old` to `new`, in words and in field order: ['λ_LR 0.03 → 0.1']."""
    return [f"{s.label} {s.value_text(getattr(old, name))} → {s.value_text(getattr(new, name))}"
            for name, s in SETTINGS.items() if getattr(old, name) != getattr(new, name)]


def ghost_of(runs: tuple[RunSummary, ...], current_number: int | None, key: str | None) -> RunSummary | None:
    """The previous run of the same input (the newest one before the current run), whose curves stay as ghosts."""
    if key is None:
        return None
    for s in reversed(runs):
        if s.image_key == key and (current_number is None or s.number < current_number):
            return s
    return None


def ghost_label(ghost: RunSummary, config: SearchConfig | None) -> str:
    changed = differences(ghost.config, config) if config is not None else []
    what = ", ".join(changed) if changed else "same settings"
    return f"faint: run {ghost.number} ({what})"


# ------------------------------------------------------------------------------------------ sweeps


def parse_values(field: str, text: str) -> tuple:
    """The values of a sweep typed as '0, 0.01, 0.03': checked against the search's own rules (ValueError)."""
    if field not in SWEEPABLE:
        raise ValueError(f"a sweep varies one of {', '.join(n for n, _ in SWEEPABLE.values())}")
    shown, kind = SWEEPABLE[field]
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    if len(parts) < 2:
        raise ValueError(f"give at least two values of {shown}, separated by commas (e.g. {SWEEP_EXAMPLES[field]})")
    if len(parts) > MAX_SWEEP:
        raise ValueError(f"a sweep runs at most {MAX_SWEEP} values (got {len(parts)})")
    values = []
    for p in parts:
        try:
            v = kind(p) if kind is int else float(p)
        except ValueError:
            raise ValueError(f"{p!r} is not a {'whole number' if kind is int else 'number'} ({shown})") from None
        if kind is float and not math.isfinite(v):
            raise ValueError(f"{p!r} is not a finite number ({shown})")
        try:
            SearchConfig().with_(**{field: v})
        except ValueError as exc:
            raise ValueError(f"{shown} {p}: {exc}") from None
        values.append(v)
    if len(set(values)) != len(values):
        raise ValueError(f"the values of {shown} repeat")
    return tuple(values)


@dataclass(frozen=True)
class SweepPoint:
    value: float
    label: int  # -1: diverged
    ooc: float
    margin: float | None
    distances: np.ndarray  # (C,) final score per class


@dataclass(frozen=True)
class Sweep:
    """One setting over a list of values on one input: the points done so far."""

    field: str
    values: tuple
    points: tuple[SweepPoint, ...] = ()
    input_name: str = ""
    stopped: bool = False

    @property
    def shown(self) -> str:
        return SWEEPABLE[self.field][0]

    @property
    def done(self) -> bool:
        return self.stopped or len(self.points) >= len(self.values)

    @property
    def next_value(self):
        return None if self.done else self.values[len(self.points)]

    def with_point(self, point: SweepPoint) -> "Sweep":
        return Sweep(self.field, self.values, self.points + (point,), self.input_name, self.stopped)

    def stop(self) -> "Sweep":
        return Sweep(self.field, self.values, self.points, self.input_name, True)

    def summary(self) -> str:
        """One line: which value gave which prediction."""
        if not self.points:
            return f"sweeping {self.shown} over {', '.join(f'{v:g}' for v in self.values)} on {self.input_name}…"
        said = ", ".join(f"{p.value:g} → {p.label if p.label >= 0 else 'diverged'}" for p in self.points)
        tail = "" if self.done else " …"
        return f"{self.shown}: {said}{tail}" + (" (stopped)" if self.stopped and len(self.points) < len(self.values) else "")
