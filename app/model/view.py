"""What the screen shows at the current step: one immutable `View`, made by a pure function (no Qt).

The session (`app.session`) owns the run, its history, the cursor and the threshold; every time one of
them changes it calls `make_view(state)` and the panels draw the result. Because the verdict, the bars,
the curves, the grid's frame and the gauge are all read from the same `View`, they cannot disagree, and
all of it is tested without a window (as napari tests its `Dims` model apart from `QtDims`).

Truthful display rules, each a bug once:
- the classes are ranked by the quantity the engine decides with (`SearchConfig.score`, L_DD by default,
  IGC paper Sec. 3.1), and the curves plot that same quantity unless the whole loss is asked for;
- the final verdict has three states: in class, uncertain (the best two classes closer than a margin),
  out of class (OOC above the threshold, paper Sec. 3.2: shown as "?" with the closest class);
- the threshold is the one measured for the noise the run added (`checkpoints.recommended_threshold`);
- both sides of every comparison are printed with the same number of decimals, enough to tell them apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from igc_core.search import SearchConfig, SearchResult

from .compare import RunSummary, Sweep, ghost_label, ghost_of, image_key
from .explain import differences
from .history import Frame, History
from .latent_map import LatentMap, latent_map
from .threshold import FALLBACK_THRESHOLD, UNCERTAIN_MARGIN, Threshold, margin_applies

QUANTITY_NAMES = {"dif": "L_DD", "loss": "L"}


# ----------------------------------------------------------------------------------------- numbers


def format_pair(a: float, b: float, decimals: int = 4, most: int = 7) -> tuple[str, str]:
    """Both numbers with the same decimals: at least `decimals`, two significant digits of the smaller,
    and as many more as it takes to show that they differ."""
    small = min((abs(x) for x in (a, b) if x), default=0.0)
    d = decimals if not small else min(most, max(decimals, 1 - math.floor(math.log10(small))))
    while d < most and a != b and f"{a:.{d}f}" == f"{b:.{d}f}":
        d += 1
    return f"{a:.{d}f}", f"{b:.{d}f}"


# --------------------------------------------------------------------------------------- the state


@dataclass(frozen=True)
class RunInfo:
    """What a run was started with (fixed for its life)."""

    config: SearchConfig
    image: np.ndarray  # (H, W) the model's input in [-0.5, 0.5], noise included
    sigma: float
    name: str = "canvas"
    true_label: int | None = None
    number: int = 0  # the session's run counter (runs are compared by it)
    target: np.ndarray | None = None  # (H, W) what the search compared against (binarised if asked); None: image
    key: str = ""  # the input's fingerprint (compare.image_key): runs of the same input compare

    @property
    def searched(self) -> np.ndarray:
        return self.image if self.target is None else self.target


@dataclass(frozen=True)
class SessionState:
    """Everything the screen depends on; `make_view` turns it into a `View`."""

    status: str = "idle"  # the runner: "idle", "running", "paused"
    run: RunInfo | None = None
    history: History | None = None
    cursor: int | None = None  # index into the history; None = follow the latest frame
    result: SearchResult | None = None
    seconds: float | None = None
    error: str | None = None
    threshold: Threshold = Threshold(FALLBACK_THRESHOLD, 0.0, "fallback")
    gauge_max: float = 2 * FALLBACK_THRESHOLD
    curves: str = "dif"  # what the curves plot: "dif" (L_DD) or "loss" (the whole loss)
    margin: float | None = None  # the uncertain lead set by hand; None: the one measured with the threshold
    model_name: str | None = None  # None: no model loaded
    # the teaching mode
    runs: tuple[RunSummary, ...] = ()  # the last finished runs, oldest first
    selected: int | None = None  # a class the user picked to compare with the leader (None: the runner-up)
    grid_mode: str = "images"  # the grid shows "images" or "differences" (G(c, z) - d)
    start_grid: np.ndarray | None = None  # (C, R, H, W) what each class draws before the first step
    replay: str = "off"  # a replay of the recorded run: "off", "playing", "paused"
    speed: str = "1x"  # replay speed: "0.25x" ... "8x", or "key" (one step per keypress)
    sweep: Sweep | None = None
    latent_axes: str | tuple[int, int] | None = None  # the latent map's axes; None: the map is not shown


@dataclass(frozen=True)
class Verdict:
    kind: str  # "none", "provisional", "in", "uncertain", "out", "ranked" (no threshold applies), "diverged", "failed"
    big: str  # the large label: "3", "3?", "?" or "–"
    headline: str
    detail: str


@dataclass(frozen=True)
class View:
    """One screen's worth of facts at the cursor's step. Arrays are read-only."""

    status: str
    verdict: Verdict
    has_run: bool
    index: int  # the frame shown (0 when there is none)
    frames: int  # frames recorded
    step: int
    steps: int
    final: bool  # the frame shown is the run's last and the run has finished
    # ranking at this step, by the quantity that decides
    score_name: str  # "L_DD" or "L"
    distances: np.ndarray  # (C,) best restart's score per class (inf: unknown)
    order: tuple[int, ...]  # classes, closest first
    leader: int | None  # the closest class (the prediction at the final step)
    runner_up: int | None
    margin: float | None  # runner-up's score minus the leader's
    ooc: float | None  # the leader's score: the OOC degree at this step
    threshold: Threshold
    shown_ooc: str  # the OOC and the threshold as printed: same decimals, enough to tell them apart
    shown_threshold: str
    gauge_max: float
    bars_max: float
    # reconstructions
    grid: np.ndarray | None  # (C, R, H, W) float16 in [-0.5, 0.5]
    best_restart: np.ndarray | None  # (C,)
    # curves
    curve_name: str  # "L_DD" or "L"
    curve_decides: bool
    curve_steps: np.ndarray  # (K,)
    curve_values: np.ndarray  # (K, C)
    # the run
    run: RunInfo | None
    status_text: str
    seconds: float | None
    precision: str | None  # what the search ran in ("auto" resolved), once known
    precision_reason: str
    # the teaching mode
    grid_title: str  # what the grid shows ("Reconstructions", "Starting points", ...)
    grid_mode: str
    differences: np.ndarray | None  # (C, R, H, W) signed G(c, z) - d, when the grid shows differences
    compare: int | None  # the class set against the leader in "why this class": the picked one, else the runner-up
    selected: int | None
    score_steps: np.ndarray  # (K,) the deciding quantity's curves (whatever the curves show)
    score_values: np.ndarray  # (K, C)
    ghost: RunSummary | None  # the previous run of the same input (faint curves)
    ghost_label: str
    runs: tuple[RunSummary, ...]
    sweep: Sweep | None
    replay: str
    speed: str
    latent: LatentMap | None


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


EMPTY = np.zeros(0)
EMPTY.setflags(write=False)


def make_view(state: SessionState) -> View:
    """The screen for `state`: a pure function of it."""
    history = state.history
    n = len(history) if history is not None else 0
    run, result = state.run, state.result
    score = run.config.score if run is not None else "dif"
    score_name = QUANTITY_NAMES[score]
    curve = state.curves if state.curves in QUANTITY_NAMES else score
    empty_distances = _readonly(np.full(10, np.inf))
    if n == 0:
        verdict = idle_verdict(state)
        return View(
            status=state.status, verdict=verdict, has_run=False, index=0, frames=0, step=0,
            steps=run.config.steps if run else 0, final=False, score_name=score_name, distances=empty_distances,
            order=(), leader=None, runner_up=None, margin=None, ooc=None, threshold=state.threshold,
            shown_ooc="–", shown_threshold=f"{state.threshold.value:.4f}", gauge_max=state.gauge_max, bars_max=state.gauge_max,
            grid=state.start_grid if run is None else None, best_restart=None,
            curve_name=QUANTITY_NAMES[curve], curve_decides=curve == score, curve_steps=EMPTY,
            curve_values=_readonly(np.zeros((0, 10))), run=run, status_text=_status_text(state, None, False),
            seconds=state.seconds, precision=None, precision_reason="", **_teaching(state, None, None, None),
        )

    index = n - 1 if state.cursor is None else int(np.clip(state.cursor, 0, n - 1))
    frame: Frame = history[index]
    finished = result is not None and state.status == "idle"
    final = finished and index == n - 1
    diverged = final and bool(result.diverged[0])
    per_class, best_restart = frame.per_class(score)
    finite = np.isfinite(per_class)
    order = [int(c) for c in np.argsort(np.where(finite, per_class, np.inf), kind="stable")]
    if final and not diverged and int(result.labels[0]) >= 0 and order[0] != int(result.labels[0]):
        label = int(result.labels[0])  # a tie broken differently: the engine's answer is the answer
        order.remove(label)
        order.insert(0, label)
    ranked = [c for c in order if finite[c]]
    leader = ranked[0] if ranked else None
    runner_up = ranked[1] if len(ranked) > 1 else None
    margin = float(per_class[runner_up] - per_class[leader]) if runner_up is not None else None
    # the OOC score the threshold was measured on (igc_core.verdict: the winner's distance over the ink's root)
    ooc = state.threshold.of(float(per_class[leader]), run.image) if leader is not None else None
    first = history[0].per_class(score)[0]
    start_max = float(np.max(first[np.isfinite(first)])) if np.isfinite(first).any() else 0.0
    steps_k, values = history.curves(curve)
    if state.replay != "off":  # a replay unfolds as the search did: the curves end at the step shown
        steps_k, values = steps_k[: index + 1], values[: index + 1]

    verdict = _verdict(state, frame, final, diverged, leader, runner_up, margin, ooc, per_class)
    shown_ooc, shown_t = format_pair(ooc, state.threshold.value) if ooc is not None else ("–", f"{state.threshold.value:.4f}")
    return View(
        status=state.status, verdict=verdict, has_run=True, index=index, frames=n, step=frame.step,
        steps=frame.steps, final=final, score_name=score_name, distances=_readonly(np.where(finite, per_class, np.inf)),
        order=tuple(order), leader=leader, runner_up=runner_up, margin=margin, ooc=ooc,
        threshold=state.threshold, shown_ooc=shown_ooc, shown_threshold=shown_t, gauge_max=state.gauge_max, bars_max=max(start_max, state.gauge_max) * 1.05,
        grid=frame.reconstructions, best_restart=_readonly(best_restart),
        curve_name=QUANTITY_NAMES[curve], curve_decides=curve == score,
        curve_steps=_readonly(steps_k), curve_values=_readonly(values), run=run,
        status_text=_status_text(state, frame, final), seconds=state.seconds,
        precision=result.precision if result is not None else None,
        precision_reason=result.precision_reason if result is not None else "",
        **_teaching(state, frame, leader, runner_up, index),
    )


def _teaching(state: SessionState, frame: Frame | None, leader: int | None, runner_up: int | None,
              index: int = 0) -> dict:
    """The teaching mode's facts: what the grid shows, the class compared, ghosts, runs, the sweep, the map."""
    run, history = state.run, state.history
    score = run.config.score if run is not None else "dif"
    n = len(history) if history is not None else 0
    if frame is not None:
        grid, title = frame.reconstructions, "Reconstructions"
    elif run is None and state.start_grid is not None:
        grid, title = state.start_grid, "Starting points"
    else:
        grid, title = None, "Reconstructions"
    diffs = None
    if state.grid_mode == "differences" and grid is not None:
        target = run.searched if run is not None else None
        if target is not None:
            diffs, title = _readonly(differences(grid, target)), "Differences"
    selected = state.selected
    compare = selected if selected is not None and selected != leader else runner_up
    ghost = ghost_of(state.runs, run.number if run is not None else None, (run.key or image_key(run.image)) if run else None)
    steps_k, values = history.curves(score) if n else (EMPTY, np.zeros((0, 10)))
    if state.replay != "off":
        steps_k, values = steps_k[: index + 1], values[: index + 1]
    latent = None
    if state.latent_axes is not None and n:
        latent = latent_map(history.latents(), steps_k, index, state.latent_axes)
    return dict(
        grid_title=title, grid_mode=state.grid_mode, differences=diffs, compare=compare, selected=selected,
        score_steps=_readonly(steps_k), score_values=_readonly(values), ghost=ghost,
        ghost_label=ghost_label(ghost, run.config if run else None) if ghost is not None else "",
        runs=state.runs, sweep=state.sweep, replay=state.replay, speed=state.speed, latent=latent,
    )


def idle_verdict(state: SessionState, prompt: str = "draw a digit, open an image or pick a sample") -> Verdict:
    """The verdict before the first recorded step (also the two-digit screen's, with its own `prompt`)."""
    if state.error:
        return Verdict("failed", "–", "the search failed", state.error)
    if state.model_name is None:
        return Verdict("none", "–", "no model loaded", "load a generator: File ▸ Load model…")
    if state.status == "paused":
        return Verdict("provisional", "–", "paused before the first step", "press Space to go on")
    if state.status != "idle":
        return Verdict("provisional", "–", "starting the search…", "")
    if state.run is not None:
        return Verdict("provisional", "–", "stopped before the first step", "press Space to search")
    return Verdict("none", "–", "no search yet", f"{prompt}, then press Space")


def diverged_verdict(lr: float) -> Verdict:
    return Verdict("diverged", "?", "the search diverged", f"learning rate {lr:g} is too large: try {lr / 10:g}")


def progress_head(state: SessionState, frame, answer: str) -> str:
    """The headline at a step that is not the finished run's last: searching, paused, stopped, or a step of a
    finished run looked at again (`answer`: its final answer as shown)."""
    result = state.result
    latest = state.history.latest if state.history is not None else None
    if state.status == "running":
        return f"searching: step {frame.step} of {frame.steps}"
    if state.status == "paused":
        return f"paused at step {frame.step} of {frame.steps}"
    if state.replay != "off":  # a replay does not give the ending away
        return f"replaying: step {frame.step} of {frame.steps}"
    if result is None or result.stopped:
        last = latest.step if latest is not None else frame.step
        if frame is not latest:
            return f"step {frame.step} of {frame.steps} (stopped at step {last})"
        return f"stopped at step {last} of {frame.steps}: no verdict"
    if bool(result.diverged[0]):
        return f"step {frame.step} of {frame.steps} (the search diverged)"
    return f"step {frame.step} of {frame.steps} (final answer: {answer})"


def _lead_text(leader: int, runner_up: int | None, margin: float | None) -> str:
    if runner_up is None or margin is None:
        return f"{leader} is the only class left"
    return f"{leader} ahead of {runner_up} by {format_pair(margin, margin)[0]}"


def _verdict(state, frame, final, diverged, leader, runner_up, margin, ooc, per_class) -> Verdict:
    run, result = state.run, state.result
    if state.error:
        return Verdict("failed", "–", "the search failed", state.error)
    truth = ""
    if run is not None and run.true_label is not None and leader is not None:
        truth = f" · true label {run.true_label} {'✓' if leader == run.true_label else '✗'}"
    if diverged:
        return diverged_verdict(run.config.lr)
    if leader is None:
        return Verdict("provisional", "–", f"step {frame.step} of {frame.steps}", "no class has a finite distance")
    lead = _lead_text(leader, runner_up, margin)
    if not final:
        head = progress_head(state, frame, str(int(result.labels[0])) if result is not None else "")
        return Verdict("provisional", str(leader), head, f"closest so far: {lead}")
    if result.stopped:
        return Verdict("provisional", str(leader), f"stopped at step {frame.step} of {frame.steps}: no verdict",
                       f"closest so far: {lead}")
    t = state.threshold.value
    shown_ooc, shown_t = format_pair(ooc, t)
    if not state.threshold.comparable:  # nothing measured for this search's distances: no out-of-class verdict
        return Verdict("ranked", str(leader), f"closest: {leader} (no OOC verdict)",
                       f"{lead} · OOC {ooc:.4f}, no threshold measured for these settings{truth}")
    if ooc > t:  # a rejection is neither right nor wrong: no tick beside it
        plain = f" · true label {run.true_label}" if run.true_label is not None else ""
        return Verdict("out", "?", "not a digit this model knows",
                       f"closest: {leader} · OOC {shown_ooc} > threshold {shown_t}{plain}")
    need = next(m for m in (state.margin, state.threshold.margin, UNCERTAIN_MARGIN) if m is not None)
    applies = state.margin is not None or state.threshold.margin is not None or margin_applies(run.config)
    if margin is not None and margin < need and applies:
        shown_m, shown_need = format_pair(margin, need)
        return Verdict("uncertain", f"{leader}?", f"uncertain: {leader} or {runner_up}",
                       f"{leader} leads {runner_up} by only {shown_m} (< {shown_need}) · OOC {shown_ooc} ≤ {shown_t}{truth}")
    return Verdict("in", str(leader), f"in class: it looks like {article(leader)} {leader}",
                   f"{lead} · OOC {shown_ooc} ≤ threshold {shown_t}{truth}")


def article(number: int) -> str:
    """'an' before a number said with a vowel sound (8, 11, 18, 80...), else 'a'."""
    said = str(int(number))
    return "an" if said.startswith("8") or said in ("11", "18") else "a"


def _status_text(state: SessionState, frame: Frame | None, final: bool) -> str:
    run, result = state.run, state.result
    if run is None:
        return "Draw a digit, open an image or pick a sample, then press Space."
    c = run.config
    if state.status in ("running", "paused") or result is None:
        what = f"{c.steps} steps × {c.restarts} restart{'s' if c.restarts != 1 else ''} × 10 classes"
        verb = "Searching" if state.status == "running" else "Paused:" if state.status == "paused" else "Stopped:"
        return f"{verb} {what} on {c.device}, precision {c.precision}."
    if bool(result.diverged[0]):
        return f"The search diverged at learning rate {c.lr:g}: lower it and search again."
    rate = f" ({result.steps_done / state.seconds:.0f} steps/s)" if state.seconds else ""
    took = f" in {state.seconds:.2f} s{rate}" if state.seconds is not None else ""
    why = f" ({result.precision_reason})" if result.precision_reason else ""
    return f"Done: {result.steps_done} steps{took} on {c.device}, precision {result.precision}{why}."
