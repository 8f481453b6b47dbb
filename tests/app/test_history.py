"""The timeline's recorded frames: pure Python, no window."""

import numpy as np
import pytest

from app.model.history import Frame, History


def frame(step, C=10, R=2, images=True, value=None):
    losses = np.full((C, R), float(step) if value is None else value, dtype=np.float32)
    recon = np.zeros((C, R, 28, 28), dtype=np.float16) if images else None
    return Frame(step=step, steps=1000, losses=losses, difs=losses.copy(), active=np.ones(C, bool), reconstructions=recon)


def test_records_every_step_within_budget():
    h = History()
    for s in range(50):
        h.append(frame(s))
    assert len(h) == 50 and [f.step for f in h] == list(range(50))
    steps, curves = h.curves("loss")
    assert steps.tolist() == list(range(50)) and curves.shape == (50, 10)


def test_thins_to_fit_budget_keeping_first_and_latest():
    one = frame(0).nbytes
    h = History(budget_bytes=one * 40)
    for s in range(1001):
        h.append(frame(s))
    assert h.nbytes <= one * 40
    assert h[0].step == 0 and h.latest.step == 1000
    steps = [f.step for f in h]
    assert steps == sorted(steps) and len(steps) > 10
    inner = steps[1:-1]
    assert all(s % h.stride == 0 for s in inner), (h.stride, inner)


def test_repeated_step_replaces_and_lookup():
    h = History()
    for s in range(5):
        h.append(frame(s))
    h.append(frame(4, value=-1.0))  # e.g. a final snapshot at the step a stop happened
    assert [f.step for f in h] == [0, 1, 2, 3, 4] and h.latest.losses[0, 0] == -1.0
    assert h.index_of_step(3) == 3 and h.index_of_step(99) == 4 and h.index_of_step(-5) == 0


def test_frame_scores_treat_nan_as_unreachable():
    f = frame(1, R=3)
    difs = np.array([[0.5, 0.2, np.nan]] + [[0.9, 0.9, 0.9]] * 9, dtype=np.float32)
    f = Frame(f.step, f.steps, difs, difs, f.active, f.reconstructions)
    best, restart = f.per_class("dif")
    assert best[0] == pytest.approx(0.2) and restart[0] == 1 and f.best_class() == 0


def test_clear_and_bad_budget():
    h = History()
    h.append(frame(0))
    h.clear()
    assert len(h) == 0 and h.latest is None and h.stride == 1
    with pytest.raises(ValueError):
        History(budget_bytes=0)
