"""The out-of-class threshold in force for a run, where it comes from, and the 'uncertain' margin. No Qt.

OOC (paper Sec. 3.2) is the winning class's distance; above the threshold the input is called out of class.
Noise raises every distance, so the model's sidecar stores thresholds measured per noise level on MNIST
test digits (`igc evaluate --ood --save-threshold`: sigma 0, 0.1, ..., 0.5, each keeping 95 % of the digits
in class), and the app uses the one for the noise the input carries. A threshold measured with one image
distance means nothing for another (MSE distances are on another scale than MAE): then no out-of-class
verdict is given at all, and the display says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from igc_core import checkpoints, search

FALLBACK_THRESHOLD = 0.12  # MAE scale; used (and said so) when the model's sidecar has no measured threshold
# "Uncertain" when the winner leads the runner-up by less than this (L_DD, MAE scale). Measured by
# scripts/margin_study.py on 1,000 MNIST test digits with the default model (BENCHMARKS.md, "Uncertain
# verdicts"): at 0.004 it flags 55 / 67 / 79 % of the wrong predictions at noise sigma 0 / 0.2 / 0.4 and
# 2 / 4 / 10 % of the right ones; the verdicts left "in class" are about 99 % right at every noise level.
UNCERTAIN_MARGIN = 0.004
MARGIN_DIF = "mae"  # the image distance the margin was measured with
# settings that change the distances the threshold was measured on (declared on SearchConfig's fields)
COMPARED = search.DISTANCE_SETTINGS


@dataclass(frozen=True)
class Threshold:
    """The OOC threshold in force, for which noise level, and where it comes from."""

    value: float
    sigma: float  # the noise level it is for
    source: str  # "measured", "interpolated", "clean", "fallback" or "manual"
    comparable: bool = True  # False: measured with another image distance, so no out-of-class verdict
    differs: tuple[str, ...] = ()  # the run's settings that differ from those it was measured with
    measured_dif: str = "mae"

    @property
    def note(self) -> str:
        """How the threshold was found, to follow its value: 'threshold 0.1599 measured for noise σ 0.30'."""
        if not self.comparable:
            return f"measured for L_DD {self.measured_dif} only: no out-of-class verdict"
        if self.source == "manual":
            return "set by hand (double-click: measured one)"
        if self.source == "fallback":
            return "(a guess: not measured for this model)"
        if self.source == "clean":
            text = "measured on clean digits only" + (f" (input noise σ {self.sigma:.2f})" if self.sigma > 0 else "")
        elif self.source == "measured":
            text = f"measured for noise σ {self.sigma:.2f}"
        else:
            text = f"interpolated for noise σ {self.sigma:.2f}"
        other = ", ".join(search.SETTINGS[name].label for name in self.differs)
        return text + (f", other {other}" if other else "")


def threshold_for(meta: dict, sigma: float, config=None) -> Threshold:
    """The threshold the model's sidecar gives for noise `sigma` and a run with `config` (None: as measured)."""
    sigma = float(sigma)
    metrics = meta.get("metrics") if isinstance(meta.get("metrics"), dict) else {}
    measured_with = metrics.get("ooc_threshold_search") if isinstance(metrics.get("ooc_threshold_search"), dict) else {}
    measured_dif = measured_with.get("dif", "mae") if isinstance(measured_with.get("dif", "mae"), str) else "mae"
    differs: tuple[str, ...] = ()
    comparable = True
    if config is not None:
        differs = tuple(f for f in COMPARED if f in measured_with and measured_with[f] != getattr(config, f))
        comparable = config.dif == measured_dif and config.score == measured_with.get("score", "dif")
    value = checkpoints.recommended_threshold(meta, sigma)
    if value is None:
        return Threshold(FALLBACK_THRESHOLD, sigma, "fallback", comparable and (config is None or config.dif == "mae"),
                         differs, measured_dif)
    by_sigma = metrics.get("ooc_thresholds_by_sigma")
    source = "clean"
    if isinstance(by_sigma, dict):
        levels = []
        for key in by_sigma:
            try:
                level = float(key)
            except (TypeError, ValueError):
                continue
            if math.isfinite(level):
                levels.append(level)
        if levels:
            exact = any(abs(level - sigma) < 1e-9 for level in levels)
            source = "measured" if exact or sigma <= 0 else "interpolated"
    return Threshold(value, sigma, source, comparable, differs, measured_dif)


def manual(value: float, measured: Threshold) -> Threshold:
    """A threshold set by hand, for the same run as `measured`."""
    return Threshold(max(0.0, float(value)), measured.sigma, "manual", measured.comparable, (), measured.measured_dif)


def gauge_max_for(meta: dict, sigma: float) -> float:
    """The OOC gauge's fixed range for this model and noise level: twice the measured threshold."""
    return 2.0 * threshold_for(meta, sigma).value


def margin_applies(config) -> bool:
    """The uncertainty margin was measured for MAE distances."""
    return config is None or config.dif == MARGIN_DIF
