"""The out-of-class threshold in force for a run, where it comes from, and the 'uncertain' margin. No Qt.

OOC (paper Sec. 3.2) is the winning class's distance; above a threshold the input is called out of class. The
engine's verdict (`igc_core.verdict`) scores it independently of the amount of ink and stores, per search
configuration, thresholds measured per noise level and the runner-up lead below which a verdict is uncertain
(`igc calibrate`). A run gets an out-of-class verdict only from a calibration measured for its own distance
settings; a run without one is ranked, not judged, and the display says why (no borrowed threshold). Sidecars
from before calibrations (a threshold per noise level measured with one search, `igc evaluate
--save-threshold`) are read as a calibration of the raw distance for that search's settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from igc_core import checkpoints, search, verdict

FALLBACK_THRESHOLD = 0.12  # the gauge's scale (MAE) where nothing was measured; never a verdict
# "Uncertain" when the winner leads the runner-up by less than this (L_DD, MAE scale), for sidecars from before
# calibrations. Measured by scripts/margin_study.py on 1,000 MNIST test digits with the default model
# (BENCHMARKS.md, "Uncertain verdicts"): at 0.004 it flags 55 / 67 / 79 % of the wrong predictions at noise sigma
# 0 / 0.2 / 0.4 and 2 / 4 / 10 % of the right ones. A calibration measures its own.
UNCERTAIN_MARGIN = 0.004
MARGIN_DIF = "mae"  # the image distance that legacy margin was measured with
# settings that change the distances the threshold was measured on (declared on SearchConfig's fields)
COMPARED = search.DISTANCE_SETTINGS


@dataclass(frozen=True)
class Threshold:
    """The OOC threshold in force, for which noise level, on which score, and where it comes from."""

    value: float
    sigma: float  # the noise level it is for
    source: str  # "measured", "interpolated", "clean", "fallback" (nothing measured) or "manual"
    comparable: bool = True  # False: not measured for this run's distance settings, so no out-of-class verdict
    differs: tuple[str, ...] = ()  # the run's settings that differ from those it was measured with
    measured_dif: str = "mae"
    score: str = "distance"  # what is compared with it: igc_core.verdict's score ("ink" or the raw "distance")
    margin: float | None = None  # the uncertain lead measured with it (None: the session's own)
    measured_by: str = ""
    measured_for: str = ""  # the search it was measured for, in words: "the robust search"

    @property
    def note(self) -> str:
        """How the threshold was found, to follow its value: 'threshold 0.1599 measured for noise σ 0.30'."""
        if self.source == "fallback":
            return "not measured for this model: no out-of-class verdict"
        if not self.comparable:
            other = ", ".join(search.SETTINGS[name].label for name in self.differs)
            return "not measured for these search settings" + (f" (other {other})" if other else "") + \
                ": no out-of-class verdict"
        if self.source == "manual":
            return "set by hand (double-click: measured one)"
        if self.source == "clean":
            return "measured on clean digits only" + (f" (input noise σ {self.sigma:.2f})" if self.sigma > 0 else "")
        where = f", {self.measured_for}" if self.measured_for else ""
        if self.source == "measured":
            return f"measured for noise σ {self.sigma:.2f}{where}"
        return f"interpolated for noise σ {self.sigma:.2f}{where}"

    def of(self, distance: float | None, image: np.ndarray | None) -> float | None:
        """The OOC score of a winning `distance` for the input `image` (H, W) in [-0.5, 0.5]: what is compared."""
        if distance is None or image is None or self.score == "distance":
            return distance
        return float(verdict.ooc_score(np.array([distance]), np.asarray(image)[None], self.score)[0])


def in_distance(threshold: Threshold, image: np.ndarray | None) -> float:
    """The threshold in the distances' own units for this input (where the bars are drawn): the winning distance
    at which the score reaches it (the score divides by the root of the ink, so it is the threshold times that)."""
    if image is None or threshold.score == "distance":
        return threshold.value
    return threshold.value * float(np.sqrt((np.asarray(image, dtype=np.float64) + 0.5).mean() + verdict.INK_FLOOR))


def threshold_for(meta: dict, sigma: float, config=None) -> Threshold:
    """The threshold the model's sidecar gives for noise `sigma` and a run with `config` (None: the default
    search with the model's recommended settings)."""
    sigma = float(sigma)
    if config is None:
        try:
            config = search.SearchConfig.fitting(None, **checkpoints.recommended_search(meta))  # as igc classify
        except (checkpoints.CheckpointError, ValueError):
            config = search.SearchConfig.from_preset(None)
    measured = verdict.calibrations(meta)
    found = verdict.find(measured, config)
    if found is not None:
        return Threshold(found.threshold(sigma), sigma, "measured" if found.exact(sigma) or sigma <= 0 else "interpolated",
                         True, (), str(config.dif), found.score, found.margin, found.measured_by, _search_name(config))
    wanted = verdict.settings_of(config)
    if measured:  # calibrations exist, none for these settings: name what differs from the nearest
        nearest = min(measured, key=lambda c: sum(c.settings.get(k) != v for k, v in wanted.items()))
        differs = tuple(k for k, v in wanted.items() if k in nearest.settings and nearest.settings[k] != v)
        return Threshold(nearest.threshold(sigma), sigma, "measured", False, differs, str(nearest.settings.get("dif")),
                         nearest.score, nearest.margin)
    return _legacy(meta, sigma, config)


def _search_name(config) -> str:
    """The search a calibration holds for, in words: the preset whose distances it shares, else "these settings"."""
    mine = verdict.settings_of(config)
    names = [n for n, p in search.PRESETS.items() if verdict.settings_of(p) == mine]
    return f"{' / '.join(names)} search" if names else "these settings"


def _legacy(meta: dict, sigma: float, config) -> Threshold:
    """A sidecar from before calibrations: thresholds on the raw distance per noise level, for one search."""
    metrics = meta.get("metrics") if isinstance(meta.get("metrics"), dict) else {}
    measured_with = metrics.get("ooc_threshold_search") if isinstance(metrics.get("ooc_threshold_search"), dict) else {}
    measured_dif = measured_with.get("dif", "mae") if isinstance(measured_with.get("dif", "mae"), str) else "mae"
    differs = tuple(f for f in COMPARED if f in measured_with and measured_with[f] != getattr(config, f))
    comparable = not differs and config.dif == measured_dif
    margin = UNCERTAIN_MARGIN if config.dif == MARGIN_DIF else 0.0
    value = checkpoints.recommended_threshold(meta, sigma)
    if value is None:
        return Threshold(FALLBACK_THRESHOLD, sigma, "fallback", False, differs, measured_dif, "distance", margin)
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
    return Threshold(value, sigma, source, comparable, differs, measured_dif, "distance", margin)


def manual(value: float, measured: Threshold) -> Threshold:
    """A threshold set by hand, for the same run as `measured` (on the same score; a verdict even where nothing
    was measured: the user chose the line)."""
    return Threshold(max(0.0, float(value)), measured.sigma, "manual", True, (), measured.measured_dif,
                     measured.score, measured.margin)


def gauge_max(measured: Threshold) -> float:
    """The OOC gauge's range: twice the measured threshold (fixed per model, noise level and search, never per
    run, and not moved by a threshold set by hand)."""
    return 2.0 * measured.value


def margin_applies(config) -> bool:
    """The legacy uncertainty margin was measured for MAE distances."""
    return config is None or config.dif == MARGIN_DIF
