"""The out-of-class verdict: a score that means "not a digit", calibrated per search configuration.

IGC paper Sec. 3.2: the out-of-class degree OOC is the winning class's distance L_DD, and above a threshold the
input belongs to no class. Raw L_DD grows with the amount of ink (a '1' is drawn back at about 0.01, an '8' at
0.07), so one threshold rejects thick digits and lets small marks through. The score here divides the winning
distance by the square root of the input's ink (`ink` score; `distance` is the paper's raw OOC), which measured
best among the candidates in BENCHMARKS.md ("One verdict users can believe").

A threshold means something only for the distances it was measured on: every setting that changes distances
(`igc_core.search.DISTANCE_SETTINGS`) is part of a calibration's identity, and a search whose settings match no
calibration gets no out-of-class verdict (the app and `igc classify` say so) instead of borrowing one.
`igc calibrate` measures a calibration and stores it in the model's sidecar ("calibrations"): per noise level,
the score that keeps `keep` (99 %) of MNIST test digits in class, on digits apart from those the benchmarks
report on, and the runner-up lead below which a verdict is "uncertain".
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

SCORES = ("ink", "distance")
DEFAULT_SCORE = "ink"
KEEP = 0.99  # share of calibration digits a threshold keeps in class
UNCERTAIN_SHARE = 0.02  # share of right answers whose lead over the runner-up is called uncertain
SIGMAS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
INK_FLOOR = 0.01  # keeps the score finite on an empty or almost empty image


def ooc_score(best: np.ndarray, images: np.ndarray, score: str = DEFAULT_SCORE) -> np.ndarray:
    """The OOC score per image from the winning distance `best` (N,) and the images (N, H, W) in [-0.5, 0.5]."""
    best = np.asarray(best, dtype=np.float64)
    if score == "distance":
        return best
    if score != "ink":
        raise ValueError(f"unknown OOC score {score!r}: choose one of {', '.join(SCORES)}")
    ink = (np.asarray(images, dtype=np.float64) + 0.5).reshape(len(best), -1).mean(1)
    return best / np.sqrt(ink + INK_FLOOR)


def settings_of(config) -> dict:
    """The settings of a SearchConfig that change distances: what a calibration is valid for."""
    from .search import DISTANCE_SETTINGS

    return {name: getattr(config, name) for name in DISTANCE_SETTINGS}


@dataclass(frozen=True)
class Calibration:
    """Thresholds per noise level and the uncertain lead, measured for one search configuration."""

    score: str
    settings: dict  # settings_of(config) it was measured with
    thresholds: dict  # {sigma (float): threshold on the score}
    margin: float  # lead of the winner over the runner-up (raw L_DD) below which a verdict is uncertain
    keep: float = KEEP
    digits: int = 0
    measured_by: str = ""
    report: dict = field(default_factory=dict)  # what it measured besides (shares rejected per set)

    def threshold(self, sigma: float = 0.0) -> float:
        """The threshold for input noise `sigma`: linear between measured levels, the nearest end outside."""
        levels = sorted(self.thresholds)
        return float(np.interp(float(sigma), levels, [self.thresholds[s] for s in levels]))

    def exact(self, sigma: float) -> bool:
        return any(abs(s - sigma) < 1e-9 for s in self.thresholds)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["thresholds"] = {f"{s:g}": round(float(t), 6) for s, t in sorted(self.thresholds.items())}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Calibration":
        """A calibration read from a sidecar; ValueError saying what is wrong."""
        if not isinstance(d, dict):
            raise ValueError("a calibration must be a set of named entries")
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"a calibration has unknown entries: {', '.join(sorted(map(str, unknown)))}")
        if d.get("score") not in SCORES:
            raise ValueError(f"a calibration's score must be one of {', '.join(SCORES)} (got {d.get('score')!r})")
        if not isinstance(d.get("settings"), dict):
            raise ValueError("a calibration must name the search settings it was measured with")
        raw = d.get("thresholds")
        if not isinstance(raw, dict) or not raw or len(raw) > 100:
            raise ValueError("a calibration needs thresholds per noise level")
        thresholds = {}
        for key, value in raw.items():
            try:
                sigma = float(key)
            except (TypeError, ValueError):
                raise ValueError(f"a calibration's noise level {key!r} is not a number") from None
            if not (math.isfinite(sigma) and 0 <= sigma <= 1 and _positive(value)):
                raise ValueError(f"a calibration's threshold for noise {key!r} must be a positive number")
            thresholds[sigma] = float(value)
        if not (_positive(d.get("margin")) or d.get("margin") == 0):
            raise ValueError("a calibration's uncertain margin must be zero or a positive number")
        keep = d.get("keep", KEEP)
        if not (_positive(keep) and keep < 1):
            raise ValueError("a calibration's kept share must be between 0 and 1")
        return cls(score=d["score"], settings=dict(d["settings"]), thresholds=thresholds, margin=float(d["margin"]),
                   keep=float(keep), digits=int(d.get("digits", 0)) if isinstance(d.get("digits", 0), int) else 0,
                   measured_by=str(d.get("measured_by", "")),
                   report=d.get("report") if isinstance(d.get("report"), dict) else {})


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def calibrations(meta: dict) -> list[Calibration]:
    """Every calibration a sidecar holds (an unreadable one is left out: it is checked when the sidecar loads)."""
    out = []
    for entry in meta.get("calibrations", []) if isinstance(meta.get("calibrations"), list) else []:
        try:
            out.append(Calibration.from_dict(entry))
        except ValueError:
            continue
    return out


def find(meta: dict | list[Calibration], config) -> Calibration | None:
    """The calibration measured for this search configuration's distance settings, or None; from a sidecar, or
    from its calibrations already read."""
    wanted = _normal(settings_of(config))
    found = calibrations(meta) if isinstance(meta, dict) else meta
    return next((c for c in found if _normal(c.settings) == wanted), None)


def _normal(settings: dict) -> dict:
    """Settings compared as values (1 == 1.0), so a sidecar's JSON matches a config."""
    return {k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v) for k, v in settings.items()}


def with_calibration(meta: dict, calibration: Calibration) -> dict:
    """The sidecar with `calibration` added, replacing one measured for the same settings."""
    kept = [c for c in meta.get("calibrations", []) if not (isinstance(c, dict) and isinstance(c.get("settings"), dict)
                                                           and _normal(c["settings"]) == _normal(calibration.settings))]
    return {**meta, "calibrations": kept + [calibration.to_dict()]}


@dataclass(frozen=True)
class Judgement:
    """One input's verdict: 'in class', 'uncertain' (two classes close) or 'out of class'; None: no calibration."""

    kind: str | None
    score: float
    threshold: float | None
    lead: float


def judge(distances: np.ndarray, image: np.ndarray, calibration: Calibration | None, sigma: float = 0.0,
          best: float | None = None) -> Judgement:
    """The verdict for one input from its per-class distances (C,) (or, for several labels, `best`: the OOC of
    the multi-label search) and its image (H, W) in [-0.5, 0.5]."""
    d = np.sort(np.asarray(distances, dtype=np.float64).ravel())
    top = float(d[0]) if best is None else float(best)
    lead = float(d[1] - d[0]) if len(d) > 1 and np.isfinite(d[0]) else math.inf  # no finite winner: no close call
    if calibration is None:
        return Judgement(None, top, None, lead)
    score = float(ooc_score(np.array([top]), np.asarray(image)[None], calibration.score)[0])
    threshold = calibration.threshold(sigma)
    if not math.isfinite(score) or score > threshold:
        return Judgement("out of class", score, threshold, lead)
    if lead < calibration.margin:
        return Judgement("uncertain", score, threshold, lead)
    return Judgement("in class", score, threshold, lead)


def measure(model, config, images: np.ndarray, labels: np.ndarray, sigmas=SIGMAS, keep: float = KEEP,
            score: str = DEFAULT_SCORE, seed: int = 0, progress=None, multilabel_config=None) -> Calibration:
    """Calibrate: search `images` (N, H, W) in [-0.5, 0.5] (digits; labels (N,) or (N, K)) at each noise level,
    take the score that keeps `keep` of them in class, and the uncertain lead (clean digits read right)."""
    from .data import add_noise

    if not 0 < keep < 1:
        raise ValueError(f"keep is a share between 0 and 1 (got {keep})")
    if not len(images):
        raise ValueError("calibration needs digits")
    thresholds, margin, report = {}, 0.0, {}
    for sigma in sigmas:
        noisy = add_noise(images, float(sigma), np.random.default_rng(seed)) if sigma > 0 else images
        best, right, leads = _search(model, config, noisy, labels, multilabel_config)
        scores = ooc_score(best, noisy, score)
        ok = np.isfinite(scores)
        thresholds[float(sigma)] = float(np.quantile(scores[ok], keep))
        report[f"{sigma:g}"] = {"accuracy": round(float(np.mean(right)), 5)}
        if sigma == 0:
            margin = float(np.quantile(leads[right], UNCERTAIN_SHARE)) if right.any() else 0.0
        if progress is not None:
            progress(sigma)
    run_config = config if multilabel_config is None else multilabel_config.search
    return Calibration(score=score, settings=settings_of(run_config), thresholds=thresholds, margin=max(margin, 0.0),
                       keep=keep, digits=len(images), report=report)


def _search(model, config, images, labels, multilabel_config):
    """(best distance, read right, runner-up lead) per image, for one or several labels."""
    labels = np.asarray(labels)
    if multilabel_config is not None:
        from . import multilabel

        r = multilabel.search(model, images, multilabel_config)
        right = (r.labels == labels).all(1)
        leads = np.min([np.diff(np.sort(d, 1)[:, :2], axis=1)[:, 0] for d in r.distances], axis=0)
        return r.ooc, right, leads
    from .search import search

    r = search(model, images, config)
    s = np.sort(r.distances, 1)
    return s[:, 0], r.labels == labels, s[:, 1] - s[:, 0]
