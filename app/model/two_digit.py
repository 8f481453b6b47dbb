"""The two-digit mode's model (issue 11): frames of a multi-label search and the screen they make. No Qt.

A checkpoint with two labels (tens, units; `igc train --task two-digit`) opens this mode. The engine process
runs `igc_core.multilabel.search` (IGC paper Sec. 1.4) instead of the single-label search, and every step
becomes a `TwoDigitFrame` of 20 rows: the tens search (tens fixed to 0..9) then the units search (units fixed
to 0..9). Per row it carries the other label's condition, the relaxed softmax the search is moving (it sums
to 1), which the panel draws as a strip of 10 bars. In the exhaustive mode (every one of the 100 combinations
fixed) row "tens = k" shows, per restart, the best of the ten combinations holding k, and its strip is the
one-hot of the units that combination fixed: the same screen, so a teacher can show what the saving costs.

`make_view(state)` is the two-digit counterpart of `app.view.make_view`: a pure function of the session's
state, tested without a window. The frames go into the same `History` (it only needs step, losses, difs,
reconstructions and nbytes), so the timeline, pause, step and scrub work unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from igc_core.multilabel import MODES, MultiLabelConfig, MultiLabelResult
from igc_core.pairs import number_label
from igc_core.search import SearchConfig, fit_values

from . import settings
from .history import Ranked
from .view import (
    QUANTITY_NAMES, SessionState, Threshold, Verdict, diverged_verdict, format_pair, idle_verdict, progress_head,
)

LABELS = ("tens", "units")
CLASSES = 10
ROWS = 2 * CLASSES  # the tens search's 10 rows, then the units search's 10
PROMPT = "draw a two-digit number, open an image or pick a random pair"  # what to do before a first search


def is_two_digit(model) -> bool:
    """A generator of two labels of ten classes each (the two-digit task) opens this mode."""
    return tuple(getattr(model, "label_classes", ()) or ()) == (CLASSES, CLASSES)


def inner_config(config):
    """The latent search's settings of a run (SearchConfig), whatever mode it ran in; None stays None."""
    return config.search if isinstance(config, MultiLabelConfig) else config


def make_config(search: SearchConfig, mode: str) -> MultiLabelConfig:
    """The multi-label search the app runs: the settings panel's latent search, per-label or exhaustive."""
    if mode not in MODES:
        raise ValueError(f"the two-digit search is one of {', '.join(MODES)}, not {mode!r}")
    return MultiLabelConfig(mode=mode, search=search)


def recommended_values(meta: dict, values: dict, problems: list[str] | None = None) -> dict:
    """The settings-panel values the model's sidecar recommends (its "search" entry, e.g. dif bce for the
    two-digit CVAE), limited to fields the panel has, values its fields accept (`settings.recommended`: never
    clamped) and values that differ from `values`; what was not applied is added to `problems`."""
    wanted, refused = settings.recommended(meta.get("search"))
    if problems is not None:
        problems.extend(refused)
    wanted = {k: v for k, v in wanted.items() if k in values}
    return {k: v for k, v in {**wanted, **needed_besides(values, wanted)}.items() if k in values and values[k] != v}


def needed_besides(values: dict, wanted: dict) -> dict:
    """The one other setting a recommendation needs changed for the engine to accept the search, back to the plain
    search's value (`igc_core.search.fit_values`), e.g. the intensity fit off for an older sidecar's dif bce under the
    default preset (robust fits the intensity, which BCE cannot); {} when it fits as it is or no one change does."""
    merged = {**settings.defaults(), **values, **wanted}
    full = {**SearchConfig.from_preset(None).to_dict(), **{name: merged[name] for name in settings.CONFIG_FIELDS}}
    try:
        fitted = fit_values(full, keep=set(wanted) | (set(full) - set(settings.CONFIG_FIELDS)))  # panel fields only
    except ValueError:
        return {}
    return {name: value for name, value in fitted.items() if full[name] != value}


def describe_recommended(meta: dict, changed: dict) -> str:
    """What loading the model changed in the settings panel, in words: the sidecar's recommendation, and apart
    from it what the recommendation needed: 'dif bce as its sidecar recommends (and intensity none, which it needs)'."""
    named = meta.get("search") if isinstance(meta.get("search"), dict) else {}
    own = ", ".join(f"{k} {v}" for k, v in changed.items() if k in named)
    extra = ", ".join(f"{k} {v}" for k, v in changed.items() if k not in named)
    return (f"{own} as its sidecar recommends" if own else "") + (f" (and {extra}, which it needs)" if extra else "")


# ------------------------------------------------------------------------------------------ frames


@dataclass(frozen=True)
class TwoDigitFrame(Ranked):
    """One recorded step of a two-digit search, as 20 rows (tens 0..9, units 0..9) x R restarts."""

    step: int
    steps: int
    mode: str
    losses: np.ndarray  # (20, R) total loss L
    difs: np.ndarray  # (20, R) image distance L_DD
    others: np.ndarray  # (20, R, 10) the other label's condition (relaxed: a softmax; exhaustive: one-hot)
    reconstructions: np.ndarray | None  # (20, R, 28, 56) float16 in [-0.5, 0.5]
    temperature: float = 1.0

    @property
    def active(self) -> np.ndarray:
        return np.ones(len(self.losses), dtype=bool)

    @classmethod
    def from_snapshot(cls, snap, image: int = 0, mode: str = "per-label") -> "TwoDigitFrame":
        """Image `image` of an engine `MultiLabelSnapshot` (arrays already copies), reduced to 20 rows."""
        i = image - snap.first_image
        searches = np.asarray(snap.searches)  # (S, 2), -1 = relaxed
        losses, difs, cond = snap.losses[i], snap.difs[i], snap.conditions[i]  # (S, R), (S, R), (S, R, 20)
        recon = None if snap.reconstructions is None else snap.reconstructions[i]  # (S, R, 28, 56)
        R = losses.shape[1]
        rows, others = [], []  # per row: (R,) search index; (R, 10) the other label's condition
        for k in range(2):
            other = snap.blocks[1 - k]
            for c in range(CLASSES):
                holding = np.flatnonzero(searches[:, k] == c)
                # per restart, the search holding class c that fits best (per-label: the one search)
                scores = np.where(np.isfinite(difs[holding]), difs[holding], np.inf)  # (h, R)
                pick = holding[scores.argmin(0)] if len(holding) > 1 else np.repeat(holding, R)
                rows.append(pick)
                others.append(cond[pick, np.arange(R), other])
        rows = np.stack(rows)  # (20, R)
        r = np.arange(R)[None, :]
        return cls(
            step=int(snap.step), steps=int(snap.steps), mode=mode,
            losses=np.asarray(losses[rows, r], dtype=np.float32),
            difs=np.asarray(difs[rows, r], dtype=np.float32),
            others=np.asarray(np.stack(others), dtype=np.float32),
            reconstructions=None if recon is None else np.asarray(recon[rows, r], dtype=np.float16),
            temperature=float(snap.temperature),
        )

    @property
    def nbytes(self) -> int:
        n = self.losses.nbytes + self.difs.nbytes + self.others.nbytes
        return n + (self.reconstructions.nbytes if self.reconstructions is not None else 0)


def engine_search(model, image: np.ndarray, config: MultiLabelConfig, on_frame, should_stop, max_threads):
    """Run the multi-label search of one (28, 56) image for the engine process, a frame per step."""
    from igc_core import multilabel

    def on_snapshot(snap) -> None:
        on_frame(TwoDigitFrame.from_snapshot(snap, mode=config.mode), snap.step >= snap.steps)

    return multilabel.search(model, np.asarray(image, dtype=np.float32)[None], config, on_snapshot=on_snapshot,
                             snapshot_every=1, snapshot_images=True, should_stop=should_stop,
                             return_conditions=True, max_threads=max_threads)


# ------------------------------------------------------------------------------------------ the view


@dataclass(frozen=True)
class LabelRank:
    """One label's ranking at the shown step: its 10 rows' scores, leader and runner-up."""

    name: str  # "tens" or "units"
    distances: np.ndarray  # (10,)
    leader: int | None
    runner_up: int | None
    margin: float | None


@dataclass(frozen=True)
class TwoDigitView:
    """The two-digit screen at the cursor's step. Fields shared with `app.view.View` keep the same meaning
    (the transport, the status line and the window read them)."""

    status: str
    verdict: Verdict
    has_run: bool
    index: int
    frames: int
    step: int
    steps: int
    final: bool
    mode: str  # "per-label" or "exhaustive"
    searches: int  # latent searches per image: 20 (per-label) or 100 (exhaustive)
    score_name: str
    labels: tuple[LabelRank, LabelRank]
    number: str  # what the leaders read now, e.g. "47" ("–" before any step)
    distances: np.ndarray  # (20,) best restart's score per row
    best_restart: np.ndarray | None  # (20,)
    grid: np.ndarray | None  # (20, R, 28, 56) float16 in [-0.5, 0.5]
    others: np.ndarray | None  # (20, 10) the other label's condition at the best restart (sums to 1)
    ooc: float | None
    threshold: Threshold
    run: object  # RunInfo | None
    status_text: str
    seconds: float | None
    precision: str | None
    precision_reason: str
    margin: float | None = None  # the smaller of the two labels' margins (what "how sure" means here)


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


def _rank(name: str, d: np.ndarray) -> LabelRank:
    finite = np.isfinite(d)
    order = [int(c) for c in np.argsort(np.where(finite, d, np.inf), kind="stable") if finite[c]]
    leader = order[0] if order else None
    runner = order[1] if len(order) > 1 else None
    margin = float(d[runner] - d[leader]) if runner is not None else None
    return LabelRank(name, _ro(d), leader, runner, margin)


def make_view(state: SessionState) -> TwoDigitView:
    """The two-digit screen for `state` (a session whose run, if any, has a MultiLabelConfig)."""
    history, run, result = state.history, state.run, state.result
    n = len(history) if history is not None else 0
    config = run.config if run is not None and isinstance(run.config, MultiLabelConfig) else None
    mode = config.mode if config is not None else "per-label"
    score = config.search.score if config is not None else "dif"
    searches = ROWS if mode == "per-label" else CLASSES * CLASSES
    empty = _ro(np.full(CLASSES, np.inf))
    if n == 0:
        return TwoDigitView(
            status=state.status, verdict=idle_verdict(state, PROMPT), has_run=False, index=0, frames=0, step=0,
            steps=config.search.steps if config else 0, final=False, mode=mode, searches=searches,
            score_name=QUANTITY_NAMES[score], labels=(_rank("tens", empty), _rank("units", empty)), number="–",
            distances=_ro(np.full(ROWS, np.inf)), best_restart=None, grid=None, others=None, ooc=None,
            threshold=state.threshold, run=run, status_text=_status_text(state, mode, searches), seconds=state.seconds,
            precision=None, precision_reason="")
    index = n - 1 if state.cursor is None else int(np.clip(state.cursor, 0, n - 1))
    frame: TwoDigitFrame = history[index]
    finished = isinstance(result, MultiLabelResult) and state.status == "idle"
    final = finished and index == n - 1
    per_row, best = frame.per_class(score)
    labels = (_rank("tens", per_row[:CLASSES]), _rank("units", per_row[CLASSES:]))
    if final and not bool(result.diverged[0]):  # the engine's answer is the answer (ties broken its way)
        labels = tuple(_prefer(r, int(k)) for r, k in zip(labels, result.labels[0]))
    leaders = [r.leader for r in labels]
    number = "".join("?" if k is None else str(k) for k in leaders)
    ooc = max(float(r.distances[r.leader]) for r in labels) if None not in leaders else None  # Sec. 3.2
    ooc = state.threshold.of(ooc, run.image)  # the score the threshold was measured on (igc_core.verdict)
    margins = [r.margin for r in labels if r.margin is not None]
    others = frame.others[np.arange(ROWS), best]  # (20, 10)
    return TwoDigitView(
        status=state.status, verdict=_verdict(state, frame, final, labels, number, ooc), has_run=True, index=index,
        frames=n, step=frame.step, steps=frame.steps, final=final, mode=frame.mode, searches=searches,
        score_name=QUANTITY_NAMES[score], labels=labels, number=number, distances=_ro(per_row),
        best_restart=_ro(best), grid=frame.reconstructions, others=_ro(others), ooc=ooc, threshold=state.threshold,
        run=run, status_text=_status_text(state, frame.mode, searches), seconds=state.seconds,
        precision=result.precision if isinstance(result, MultiLabelResult) else None,
        precision_reason=result.precision_reason if isinstance(result, MultiLabelResult) else "",
        margin=min(margins) if margins else None)


def _prefer(rank: LabelRank, label: int) -> LabelRank:
    if rank.leader == label or not 0 <= label < len(rank.distances):
        return rank
    d = rank.distances
    margin = float(d[rank.leader] - d[label]) if rank.leader is not None else None
    return LabelRank(rank.name, d, label, rank.leader, margin)


def _lead(rank: LabelRank) -> str:
    if rank.leader is None:
        return f"{rank.name} –"
    if rank.runner_up is None:
        return f"{rank.name} {rank.leader}"
    return f"{rank.name} {rank.leader} ahead of {rank.runner_up} by {format_pair(rank.margin, rank.margin)[0]}"


def _verdict(state: SessionState, frame: TwoDigitFrame, final: bool, labels, number: str, ooc) -> Verdict:
    run, result = state.run, state.result
    if state.error:
        return Verdict("failed", "–", "the search failed", state.error)
    leads = " · ".join(_lead(r) for r in labels)
    truth = ""
    if run is not None and run.true_label is not None and "?" not in number:
        truth = f" · true number {run.true_label:02d} {'✓' if number == f'{run.true_label:02d}' else '✗'}"
    if final and bool(result.diverged[0]):
        return diverged_verdict(run.config.search.lr)
    if not final:
        head = progress_head(state, frame, number_label(result.labels[0]) if result is not None else "")
        return Verdict("provisional", number, head, f"closest so far: {leads}")
    if result.stopped:
        return Verdict("provisional", number, f"stopped at step {frame.step} of {frame.steps}: no verdict",
                       f"closest so far: {leads}")
    t = state.threshold
    if not t.comparable:
        return Verdict("ranked", number, f"it reads {number} (no OOC verdict)",
                       f"{leads} · OOC {ooc:.4f}, no threshold measured for these settings{truth}")
    shown_ooc, shown_t = format_pair(ooc, t.value)
    if ooc > t.value:
        return Verdict("out", "?", "not a number this model knows",
                       f"closest: {number} · OOC {shown_ooc} > threshold {shown_t}{truth}")
    return Verdict("in", number, f"it reads {number}", f"{leads} · OOC {shown_ooc} ≤ threshold {shown_t}{truth}")


def _status_text(state: SessionState, mode: str, searches: int) -> str:
    run, result = state.run, state.result
    if run is None:
        return "Two-digit mode: draw a number of two digits, open an image or pick a random pair, then press Space."
    c = run.config.search
    what = (f"{searches} searches ({'per label' if mode == 'per-label' else 'every pair'})"  # short: one status line
            f" × {c.steps} steps × {c.restarts} restart{'s' if c.restarts != 1 else ''}")
    if state.status in ("running", "paused") or not isinstance(result, MultiLabelResult):
        verb = "Searching" if state.status == "running" else "Paused:" if state.status == "paused" else "Stopped:"
        return f"{verb} {what}, L_DD {c.dif}, precision {c.precision}."
    if bool(result.diverged[0]):
        return f"The search diverged at learning rate {c.lr:g}: lower it and search again."
    took = f" in {state.seconds:.2f} s" if state.seconds is not None else ""
    why = f" ({result.precision_reason})" if result.precision_reason else ""
    return f"Done: {what}{took}, L_DD {c.dif}, precision {result.precision}{why}."


def noise_warning(dif: str, sigma: float) -> str | None:
    """A warning when the distance cannot read noisy input: with L_DD bce every noisy background pixel costs
    -t·log p where the decoder draws p ≈ 0, so the background outweighs the digits (measured on 200 test pairs:
    91% both digits clean, about 1% at σ 0.2, where mae reads 86%)."""
    if dif == "bce" and sigma > 0:
        return (f"L_DD bce cannot read noisy numbers (noise σ {sigma:.2f}): the noisy background outweighs the "
                "digits and the answer is close to a guess. Choose the robust preset (the default) or Distance L_DD "
                "mae for noisy input.")
    return None
