"""The presenter between the search worker and the panels.

`Session` owns the runner, the run's settings and input, its recorded history, the result, the timeline
cursor and the OOC threshold. It takes commands (start, toggle, step, back, stop, reset, scrub, set the
threshold, pick what the curves show) and publishes one immutable `View` (`app.view.make_view`, a pure
function) whenever something on screen changes. The panels draw that view and send back intents; they
never talk to the worker or to each other.

Publishing during a search is paced by what drawing costs: a view is drawn at most ~30 times a second and
no more often than keeps drawing under about a tenth of the time, so the window never slows the search
(the drawing and the search's Python share one interpreter lock).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, replace

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from igc_core import runtime
from igc_core.search import SearchConfig

from .history import History
from .threshold import gauge_max_for, manual, threshold_for
from .view import RunInfo, SessionState, Threshold, View, make_view
from .widgets import PAINT
from .worker import SearchRunner

MIN_INTERVAL_S = 1 / 30
DRAW_SHARE = 0.1  # drawing may take at most this share of the time while a search runs
KEPT_RUNS = 8


@dataclass(frozen=True)
class RunSummary:
    """A finished run in a few numbers and its L_DD curves (for comparing runs; small to keep)."""

    config: SearchConfig
    name: str
    sigma: float
    label: int  # -1: diverged
    ooc: float
    margin: float | None
    seconds: float
    precision: str
    curve_steps: np.ndarray
    curve_values: np.ndarray


class Session(QObject):
    view_changed = Signal(object)  # View
    run_finished = Signal(object)  # View: a run finished and its result is on screen
    run_failed = Signal(str)

    def __init__(self, parent: QObject | None = None, max_threads: int | None = None):
        super().__init__(parent)
        self.max_threads = max_threads if max_threads is not None else max(1, runtime.available_cores() - 1)
        self.runner = SearchRunner(self)
        self.runner.frames.connect(self._on_frames)
        self.runner.paused_at.connect(lambda _step: self._publish())
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.state_changed.connect(lambda _state: self._publish())
        self.model = None
        self.meta: dict = {}
        self.model_name: str | None = None
        self.history = History()
        self.runs: deque[RunSummary] = deque(maxlen=KEPT_RUNS)
        self._state = SessionState()
        self._sigma = 0.0  # the noise of the input the next run will get (threshold before any run)
        self._manual: float | None = None
        self._view: View = make_view(self._state)
        self._draw_cost = 0.0
        self._last_publish = 0.0
        self._timer = QTimer(self, singleShot=True)
        self._timer.timeout.connect(self._publish)

    # ------------------------------------------------------------------------------------ reading
    @property
    def view(self) -> View:
        return self._view

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def result(self):
        return self._state.result

    @property
    def threshold(self) -> Threshold:
        return self._state.threshold

    def is_active(self) -> bool:
        return self.runner.is_active()

    @property
    def draw_cost(self) -> float:
        """Seconds one publication costs to draw (a running average), which paces them during a search."""
        return self._draw_cost

    # ------------------------------------------------------------------------------------ commands
    def set_model(self, model, meta: dict, name: str) -> None:
        """Use another generator: stops and forgets the current run."""
        self.runner.stop()
        self.model, self.meta, self.model_name = model, dict(meta), name
        self._manual = None
        self.history = History()
        self._update(run=None, history=None, cursor=None, result=None, seconds=None, error=None)

    def start(self, image: np.ndarray, sigma: float, config: SearchConfig, name: str = "canvas",
              true_label: int | None = None, paused: bool = False) -> None:
        """Search `image` (model range, noise added) with `config`; any current run is stopped first."""
        if self.model is None:
            raise ValueError("no model is loaded: load a generator checkpoint first (File ▸ Load model…)")
        self.runner.stop()
        image = np.array(image, dtype=np.float32, copy=True)
        image.setflags(write=False)
        if self._manual is not None and abs(sigma - self._sigma) > 1e-9:
            self._manual = None  # a hand-set threshold was for another noise level
        self._sigma = float(sigma)
        self.history = History()
        run = RunInfo(config=config, image=image, sigma=float(sigma), name=name, true_label=true_label)
        self._update(run=run, history=self.history, cursor=None, result=None, seconds=None, error=None)
        self._started = time.perf_counter()
        self.runner.start(self.model, image, config, start_paused=paused, max_threads=self.max_threads)

    def toggle(self) -> bool:
        """Pause a running search or resume a paused one; False when there is none."""
        if self.runner.state == "running":
            self.runner.pause()
        elif self.runner.state == "paused":
            self.runner.resume()
        else:
            return False
        return True

    def step(self) -> bool:
        """One more search step (pausing a running search), or one recorded step forward after scrubbing back.
        False when neither applies (the window then starts a new search, paused)."""
        if self.runner.is_active():
            self.runner.step()
            return True
        if self._state.cursor is not None and self._state.cursor < len(self.history) - 1:
            self.scrub(self._state.cursor + 1)
            return True
        return False

    def back(self) -> None:
        """Show the previous recorded step."""
        if len(self.history):
            self.scrub(self._view.index - 1)

    def scrub(self, index: int) -> None:
        """Show recorded frame `index`; the last one means 'follow the newest'."""
        n = len(self.history)
        if not n:
            return
        index = int(np.clip(index, 0, n - 1))
        self._update(cursor=None if index == n - 1 and self.runner.state == "idle" else index)

    def follow(self) -> None:
        self._update(cursor=None)

    def stop(self) -> None:
        """Stop the search where it is; what was recorded stays."""
        if self.runner.is_active():
            self.runner.stop()
            self._publish()

    def reset(self) -> None:
        self.runner.stop()
        self.history = History()
        self._update(run=None, history=None, cursor=None, result=None, seconds=None, error=None)

    def set_noise(self, sigma: float) -> None:
        """The noise the next input will carry: sets the threshold while no run is shown."""
        self._sigma = float(sigma)
        if self._state.run is None:
            self._manual = None
            self._update()

    def set_threshold(self, value: float | None) -> None:
        """A threshold set by hand, or None for the one measured for the input's noise level."""
        self._manual = None if value is None else max(0.0, float(value))
        self._update()

    def set_curves(self, quantity: str) -> None:
        self._update(curves=quantity)

    def set_margin(self, margin: float) -> None:
        self._update(margin=max(0.0, float(margin)))

    def shutdown(self) -> None:
        self._timer.stop()
        self.runner.stop()

    # ------------------------------------------------------------------------------------ the runner
    def _on_frames(self, frames) -> None:
        for f in frames:
            self.history.append(f)
        self._publish_soon()

    def _on_finished(self, result, seconds: float) -> None:
        self._state = replace(self._state, result=result, seconds=seconds, status="idle")
        self._publish()
        self._remember(result, seconds)
        self.run_finished.emit(self._view)

    def _on_failed(self, message: str) -> None:
        self._state = replace(self._state, error=message, status="idle")
        self._publish()
        self.run_failed.emit(message)

    def _remember(self, result, seconds: float) -> None:
        v, run = self._view, self._state.run
        steps, values = self.history.curves("dif")
        self.runs.append(RunSummary(
            config=run.config, name=run.name, sigma=run.sigma, label=int(result.labels[0]),
            ooc=float(result.ooc[0]), margin=v.margin, seconds=seconds, precision=result.precision,
            curve_steps=steps.copy(), curve_values=values.copy(),
        ))

    # ------------------------------------------------------------------------------------ publishing
    def _update(self, **changes) -> None:
        run = changes["run"] if "run" in changes else self._state.run
        sigma = self._sigma if run is None else run.sigma
        measured = threshold_for(self.meta, sigma, run.config if run is not None else None)
        threshold = measured if self._manual is None else manual(self._manual, measured)
        self._state = replace(self._state, threshold=threshold, gauge_max=gauge_max_for(self.meta, sigma),
                              model_name=self.model_name, **changes)
        self._publish()

    def _publish_soon(self) -> None:
        """Publish now if drawing has had its share of time, else when it has."""
        if self._timer.isActive():
            return
        wait = max(MIN_INTERVAL_S, self._draw_cost / DRAW_SHARE) - (time.perf_counter() - self._last_publish)
        wait = min(wait, 0.5)  # never freeze the picture for long
        if wait <= 0:
            self._publish()
        else:
            self._timer.start(int(wait * 1000) + 1)

    def _publish(self) -> None:
        self._timer.stop()
        self._state = replace(self._state, status=self.runner.state)
        started = time.perf_counter()
        self._view = make_view(self._state)
        self.view_changed.emit(self._view)
        now = time.perf_counter()
        cost = now - started + PAINT.take()  # this publication's work plus the painting since the last one
        self._draw_cost = 0.7 * self._draw_cost + 0.3 * cost
        self._last_publish = now
        self.runner.set_interval(self._draw_cost / DRAW_SHARE)  # the worker sends frames at the pace we draw
