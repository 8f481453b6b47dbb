"""The session (presenter) without Qt: a runner and timers driven by hand, the view read from its events.

The window's wiring (`app.qt_session`) is exercised by every window test; here the decisions alone: what a run,
a sweep and a replay publish, with no event loop and no process.
"""

import numpy as np
import pytest

from app.model.session import Session
from igc_core import checkpoints
from igc_core.search import SearchConfig

from conftest import HandTimer, search_in_process

FAST = dict(steps=6, lr=0.05, precision="fp32")


class HandRunner:
    """Searches in this process at `start`; reports the run's frames and result only on `deliver`."""

    def __init__(self):
        self.session: Session | None = None
        self.state = "idle"
        self.calls: list[SearchConfig] = []
        self._pending = None

    def is_active(self) -> bool:
        return self.state != "idle"

    def start(self, model, image, config, start_paused=False, max_threads=None) -> int:
        self.calls.append(config)
        self._pending = search_in_process(model, image, config)
        self.state = "paused" if start_paused else "running"
        self.session.on_state(self.state)  # as the engine's runner says at once
        return len(self.calls)

    def deliver(self, session: Session) -> None:
        frames, result = self._pending
        session.on_frames(frames)
        self.state = "idle"
        session.on_state("idle")
        session.on_finished(result, 0.01)

    def pause(self) -> None:
        self.state = "paused"

    def resume(self) -> None:
        self.state = "running"

    def step(self) -> None:
        self.state = "paused"

    def stop(self) -> None:
        self.state = "idle"

    def set_interval(self, seconds: float) -> None:
        pass


@pytest.fixture
def hand(tiny_model_path):
    timers: list[HandTimer] = []

    def make_timer(callback, repeating):
        timers.append(HandTimer(callback, repeating))
        return timers[-1]

    runner = HandRunner()
    s = runner.session = Session(runner, make_timer, max_threads=1)
    model, meta = checkpoints.load(tiny_model_path)
    s.set_model(model, meta, "tiny")
    return s, runner, timers


def digit() -> np.ndarray:
    x = np.full((28, 28), -0.5, np.float32)
    x[6:22, 13:16] = 0.5
    return x


def test_a_run_publishes_its_frames_and_its_result_through_plain_callbacks(hand):
    s, runner, _ = hand
    views, finished = [], []
    s.view_changed.connect(views.append)
    s.run_finished.connect(finished.append)
    s.start(digit(), 0.0, SearchConfig(**FAST))
    assert s.is_active() and views[-1].status == "running" and not views[-1].final
    runner.deliver(s)
    assert len(finished) == 1 and finished[0] is s.view
    v = s.view
    assert v.final and v.status == "idle" and len(s.history) == FAST["steps"] + 1
    assert v.leader == int(s.result.labels[0]) and len(s.runs) == 1


def test_a_sweep_starts_its_next_run_on_the_hosts_timer(hand):
    s, runner, timers = hand
    s.sweep(digit(), 0.0, SearchConfig(**FAST), "lambda_lr", (0.0, 0.3))
    assert [c.lambda_lr for c in runner.calls] == [0.0]
    runner.deliver(s)
    assert len(runner.calls) == 1, "the next run waits for the timer (the result is drawn first)"
    due = [t for t in timers if t.active and not t.repeating]
    assert len(due) == 1
    due[0].fire()
    assert [c.lambda_lr for c in runner.calls] == [0.0, 0.3]
    runner.deliver(s)
    assert s.view.sweep.done and len(s.view.sweep.points) == 2


def test_a_replay_walks_the_recorded_steps_on_a_repeating_timer(hand):
    s, runner, timers = hand
    s.start(digit(), 0.0, SearchConfig(**FAST))
    runner.deliver(s)
    assert s.replay("8x") and s.view.replay == "playing" and s.view.index == 0
    ticking = [t for t in timers if t.repeating and t.active]
    assert len(ticking) == 1 and len(runner.calls) == 1
    s.pause_replay()
    assert s.view.replay == "paused" and not ticking[0].active


def test_replay_is_offered_only_while_the_input_and_settings_are_the_runs_own(hand):
    s, runner, _ = hand
    config = SearchConfig(**FAST)

    def nothing():
        raise ValueError("the canvas is empty")

    assert not s.replay_ready(lambda: (digit(), config)), "no run yet"
    s.start(digit(), 0.0, config)
    runner.deliver(s)
    assert s.replay_ready(lambda: (digit(), config)) and s.replay_ready(nothing)
    assert not s.replay_ready(lambda: (digit(), config.with_(steps=7)))
    assert not s.replay_ready(lambda: (-digit(), config))


def test_a_class_clicked_is_compared_and_a_second_click_goes_back_to_the_runner_up(hand):
    s, runner, _ = hand
    s.start(digit(), 0.0, SearchConfig(**FAST))
    runner.deliver(s)
    v = s.view
    other = next(c for c in v.order if c not in (v.leader, v.runner_up))
    assert s.pick_class(other) and s.view.compare == other
    assert not s.pick_class(other) and s.view.compare == v.runner_up
    assert not s.pick_class(v.leader) and s.view.compare == v.runner_up
