"""The narration line: what happens at the step shown, in words. A pure function of the `View` (no Qt).

"step 12: 3 leads 5 by 0.012; 8 is still falling fastest". It reads the same facts as the verdict, the bars and
the curves (the leader, the runner-up, the margin, the deciding curves), so it can never tell another story.
"""

from __future__ import annotations

import numpy as np

from .view import View, article, format_pair

TREND_FRAMES = 3  # the slope is taken over this many recorded frames back
SETTLED = 2e-5  # a class whose distance falls by less than this per step has levelled off (MAE scale)


def trend(view: View, frames: int = TREND_FRAMES) -> np.ndarray | None:
    """(C,) change per step of each class's deciding distance over the last few recorded frames up to the step
    shown (negative: falling); None at the first frame."""
    i = view.index
    if not view.has_run or i < 1 or len(view.score_steps) <= i:
        return None
    j = max(0, i - frames)
    span = float(view.score_steps[i] - view.score_steps[j])
    if span <= 0:
        return None
    with np.errstate(invalid="ignore"):
        return (view.score_values[i] - view.score_values[j]) / span


def previous_leader(view: View) -> int | None:
    """The class that led at the recorded frame before the one shown."""
    i = view.index
    if not view.has_run or i < 1 or len(view.score_values) <= i:
        return None
    prev = view.score_values[i - 1]
    ok = np.isfinite(prev)
    return int(np.argmin(np.where(ok, prev, np.inf))) if ok.any() else None


def narrate(view: View) -> str:
    """One or two sentences about the step shown."""
    v = view
    if v.verdict.kind in ("none", "failed") and not v.has_run:
        if v.grid is not None and v.run is None and v.verdict.kind == "none":
            return ("Before the search: each row shows what the generator draws for that class from its starting "
                    "latent (the prior mean" + (", and random points around it for the other restarts" if v.grid.shape[1] > 1 else "")
                    + "). Draw a digit or pick one, then press Space.")
        return v.verdict.headline + (f": {v.verdict.detail}" if v.verdict.detail else "")
    if not v.has_run:
        return v.verdict.headline
    if v.verdict.kind == "diverged":
        return f"step {v.step}: {v.verdict.headline}; {v.verdict.detail}."
    where = f"step {v.step}" + (", the end" if v.final else "")
    leader, other = v.leader, v.runner_up
    if leader is None:
        return f"{where}: no class has a finite distance yet."
    if v.step == 0 and not v.final:
        return (f"{where}: every class starts from its starting latent; {leader} draws closest so far "
                f"({v.score_name} {format_pair(v.ooc, v.ooc)[0]}). Each step moves every latent to draw the input better.")
    if v.final:
        return f"{where}: {_conclusion(v)}"
    text = f"{where}: {_lead(leader, other, v.margin)}"
    before = previous_leader(v)
    if before is not None and before != leader:
        text += f"; {leader} has just overtaken {before}"
    slopes = trend(v)
    if slopes is not None and np.isfinite(slopes).any():
        fastest = int(np.nanargmin(np.where(np.isfinite(slopes), slopes, np.nan)))
        fall = -float(slopes[fastest])
        if fall < SETTLED:
            text += "; the distances have levelled off"
        elif fastest == leader:
            text += f"; {leader} is also falling fastest"
        else:
            text += f"; {fastest} is still falling fastest"
    return text


def _lead(leader: int, other: int | None, margin: float | None) -> str:
    if other is None or margin is None:
        return f"{leader} is the only class left"
    return f"{leader} leads {other} by {format_pair(margin, margin)[0]}"


def _conclusion(v: View) -> str:
    kind, leader, other = v.verdict.kind, v.leader, v.runner_up
    by = f" by {format_pair(v.margin, v.margin)[0]} over {other}" if other is not None and v.margin is not None else ""
    if kind == "in":
        return f"{leader} wins{by}; its OOC score {v.shown_ooc} is under the threshold {v.shown_threshold}: it is {article(leader)} {leader}."
    if kind == "uncertain":
        return f"{leader} leads{by} only: too close to call, uncertain between {leader} and {other}."
    if kind == "out":
        return (f"the closest class is {leader}, but its OOC score {v.shown_ooc} is above the threshold "
                f"{v.shown_threshold}: not a digit this model knows.")
    if kind == "ranked":
        return f"{leader} is closest{by}; no out-of-class verdict for this distance."
    return f"{_lead(leader, other, v.margin)}. {v.verdict.headline}."
