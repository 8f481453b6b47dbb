"""The presenter between the search worker and the panels.

`Session` owns the runner, the run's settings and input, its recorded history, the result, the timeline
cursor and the OOC threshold. It takes commands (start, toggle, step, back, stop, reset, scrub, set the
threshold, pick what the curves show) and publishes one immutable `View` (`app.model.view.make_view`, a pure
function) whenever something on screen changes. The panels draw that view and send back intents; they
never talk to the worker or to each other.

No Qt here: the host hands in the runner (anything with the `Runner` methods), a timer factory and what
painting has cost, calls `on_frames` / `on_paused` / `on_finished` / `on_failed` / `on_state` with what the runner
reports, and listens to the `Event`s `view_changed`, `run_finished` and `run_failed`. The window's wiring is
`app.qt_session.QtSession`; a test can drive this class by hand.

Publishing during a search is paced by what drawing costs: a view is drawn at most ~30 times a second and
no more often than keeps drawing under about a tenth of the time, so the window never slows the search
(the drawing and the search's Python share one interpreter lock).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import replace
from typing import Callable, Protocol

import numpy as np
import torch

from igc_core import runtime
from igc_core import search as engine
from igc_core.search import SearchConfig

from . import two_digit
from .compare import RunSummary, Sweep, SweepPoint, image_key
from .events import Event, MakeTimer
from .history import History
from .replay import SPEEDS, Replayer
from .threshold import gauge_max, manual, threshold_for
from .view import RunInfo, SessionState, Threshold, View, make_view

MIN_INTERVAL_S = 1 / 30
DRAW_SHARE = 0.1  # drawing may take at most this share of the time while a search runs
KEPT_RUNS = 8


class Runner(Protocol):
    """What the session asks of a search runner (`app.engine.worker.SearchRunner` in the window)."""

    @property
    def state(self) -> str: ...  # "idle", "running" or "paused"

    def is_active(self) -> bool: ...

    def start(self, model, image: np.ndarray, config, start_paused: bool = False,
              max_threads: int | None = None) -> int: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def step(self) -> None: ...

    def stop(self) -> None: ...

    def set_interval(self, seconds: float) -> None: ...


class Session:
    """The presenter: commands in, one `View` out (`view_changed`), with no Qt of its own."""

    def __init__(self, runner: Runner, make_timer: MakeTimer, paint_cost: Callable[[], float] = lambda: 0.0,
                 max_threads: int | None = None):
        self.view_changed = Event()  # View
        self.run_finished = Event()  # View: a run finished and its result is on screen
        self.run_failed = Event()  # str
        self.max_threads = max_threads if max_threads is not None else max(1, runtime.available_cores() - 1)
        self.runner = runner
        self._paint_cost = paint_cost  # seconds spent painting since it was last asked
        self.model = None
        self.meta: dict = {}
        self.model_name: str | None = None
        self.history = History()
        self.runs: deque[RunSummary] = deque(maxlen=KEPT_RUNS)
        self._state = SessionState()
        self._sigma = 0.0  # the noise of the input the next run will get (threshold before any run)
        self._manual: float | None = None
        self._make_view = make_view  # two-digit mode: two_digit.make_view (set_model picks)
        self._view: View = make_view(self._state)
        self._draw_cost = 0.0
        self._last_publish = 0.0
        self._timer = make_timer(self._publish, False)
        self._sweep_timer = make_timer(self._sweep_next, False)  # the next run of a sweep, once this one is drawn
        self._count = 0  # runs started
        self._sweep_base: tuple | None = None  # (image, sigma, config, name, true_label) of a sweep
        self._planned: SearchConfig | None = None
        self.replayer = Replayer(lambda: [f.step for f in self.history], self._replay_show, self._replay_ended,
                                 make_timer)

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

    @property
    def is_two_digit(self) -> bool:
        """A two-label model is loaded (issue 11): the teaching tools that read one-digit views are off."""
        return self._make_view is not make_view

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
        self._make_view = two_digit.make_view if two_digit.is_two_digit(model) else make_view  # issue 11
        self._manual = None
        self.history = History()
        self._stop_replay()
        self._update(run=None, history=None, cursor=None, result=None, seconds=None, error=None,
                     start_grid=self._start_grid(self._planned))

    def start(self, image: np.ndarray, sigma: float, config: SearchConfig, name: str = "canvas",
              true_label: int | None = None, paused: bool = False, _sweeping: bool = False) -> None:
        """Search `image` (model range, noise added) with `config`; any current run is stopped first."""
        if self.model is None:
            raise ValueError("no model is loaded: load a generator checkpoint first (File ▸ Load model…)")
        self.runner.stop()
        self._stop_replay()
        if not _sweeping:
            self._end_sweep()
        image = np.array(image, dtype=np.float32, copy=True)
        image.setflags(write=False)
        target = None
        if isinstance(config, SearchConfig):  # what the search compares (two-digit runs: the image itself)
            target = engine.preprocess(torch.from_numpy(np.array(image)), config).numpy()
            target.setflags(write=False)
        self._count += 1
        if self._manual is not None and abs(sigma - self._sigma) > 1e-9:
            self._manual = None  # a hand-set threshold was for another noise level
        self._sigma = float(sigma)
        self.history = History()
        run = RunInfo(config=config, image=image, sigma=float(sigma), name=name, true_label=true_label,
                      number=self._count, target=target, key=image_key(image))
        self._update(run=run, history=self.history, cursor=None, result=None, seconds=None, error=None)
        self._started = time.perf_counter()
        self.runner.start(self.model, image, config, start_paused=paused, max_threads=self.max_threads)

    def toggle(self) -> bool:
        """Pause a running search or resume a paused one, or pause / resume / step a replay; False when there is none."""
        if self._state.replay == "playing":
            self.pause_replay()
            return True
        if self._state.replay == "paused":
            return self.replay()
        if self.runner.state == "running":
            self.runner.pause()
        elif self.runner.state == "paused":
            self.runner.resume()
            self.follow()  # a resumed search is watched to its end, wherever the timeline was moved while paused
        else:
            return False
        return True

    def step(self) -> bool:
        """One more search step (pausing a running search), or one recorded step forward after scrubbing back.
        False when neither applies (the window then starts a new search, paused)."""
        behind = self._state.cursor is not None and self._state.cursor < len(self.history) - 1
        if self.runner.is_active():
            if behind and self.runner.state == "paused":  # scrubbed back while paused: walk the recording first
                self.scrub(self._state.cursor + 1)
                return True
            self.runner.step()
            self.follow()
            return True
        if self._state.replay == "playing":
            self.pause_replay()
        if self._state.cursor is not None and self._state.cursor < len(self.history) - 1:
            self.scrub(self._state.cursor + 1)
            return True
        return False

    def back(self) -> None:
        """Show the previous recorded step."""
        if self._state.replay == "playing":
            self.pause_replay()
        if len(self.history):
            self.scrub(self._view.index - 1)

    def scrub(self, index: int) -> None:
        """Show recorded frame `index`; the last one means 'follow the newest'."""
        n = len(self.history)
        if not n:
            return
        index = int(np.clip(index, 0, n - 1))
        if self._state.replay == "playing":
            self.replayer.rebase(index)  # a click on the timeline while it plays: go on from there
        elif self._state.replay == "paused" and index == n - 1:
            self._update(replay="off")
        self._show(index)

    def _show(self, index: int) -> None:
        n = len(self.history)  # the newest frame means 'follow': a running or paused search is then watched on
        self._update(cursor=None if index == n - 1 and self._state.replay != "playing" else index)

    def follow(self) -> None:
        self._update(cursor=None)

    def stop(self) -> None:
        """Stop the search (or the replay, or the sweep) where it is; what was recorded stays."""
        self._end_sweep()
        if self._state.replay != "off":
            self._stop_replay()
            self._publish()
        if self.runner.is_active():
            self.runner.stop()
            self._publish()

    def reset(self) -> None:
        self.runner.stop()
        self._stop_replay()
        self._end_sweep()
        self.history = History()
        self._update(run=None, history=None, cursor=None, result=None, seconds=None, error=None, selected=None)

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

    # ------------------------------------------------------------------------------------ teaching
    def replay(self, speed: str | None = None) -> bool:
        """Play the recorded run again without searching: from step 0 (or from the step shown, when the timeline
        was moved back), at the replay speed; at speed 'key' each call shows one more step. False when there is
        no finished run to replay."""
        if speed is not None:
            self.set_speed(speed)
        n = len(self.history)
        if self.runner.is_active() or n < 2 or self.is_two_digit:  # two-digit views have no replay (yet)
            return False
        speed, index = self._state.speed, self._view.index
        if self._state.replay == "off":
            index = 0 if index >= n - 1 else index
            self._state = replace(self._state, replay="paused" if speed == "key" else "playing")
            self._show(index)  # one publication: the replay starts on its first frame, never flashes the last
        elif speed == "key":  # one step per keypress
            if index + 1 >= n - 1:
                self._state = replace(self._state, replay="off")
            self._show(min(index + 1, n - 1))
            return True
        else:
            self._update(replay="playing")
        if speed != "key":
            self.replayer.play(index, speed)
        return True

    def replay_ready(self, next_search: Callable[[], tuple[np.ndarray, object]]) -> bool:
        """Whether Play would replay: a finished run is shown and what a new search would use now (`next_search()`:
        model input and settings; ValueError when there is nothing to search) is still the run's own."""
        v = self._view
        if self.is_two_digit or self.is_active() or v.run is None or self.result is None or v.frames < 2:
            return False
        try:
            x, config = next_search()
        except ValueError:
            return True  # nothing else to search (an empty canvas): the shown run is what there is
        return config == v.run.config and x.shape == v.run.image.shape and np.array_equal(x, v.run.image)

    def pause_replay(self) -> None:
        if self._state.replay == "playing":
            self.replayer.pause()
            self._update(replay="paused", cursor=self.replayer.index)

    def set_speed(self, speed: str) -> None:
        if speed not in SPEEDS:
            raise ValueError(f"replay speed must be one of {', '.join(SPEEDS)}")
        self._update(speed=speed)
        if self._state.replay == "playing":
            if speed == "key":
                self.pause_replay()
            else:
                self.replayer.play(self.replayer.index, speed)

    def _replay_show(self, index: int) -> None:
        self._show(index)

    def _replay_ended(self) -> None:
        self._state = replace(self._state, replay="off")
        self._show(len(self.history) - 1)

    def _stop_replay(self) -> None:
        self.replayer.pause()
        self._state = replace(self._state, replay="off")

    def view_at(self, index: int) -> View:
        """The screen as it was while the search passed recorded frame `index` (no verdict yet, the curves up to that
        step), or the run's own last screen at the last frame: what an animation of the run shows, one frame each.
        Changes nothing on screen."""
        n = len(self.history)
        if not n or index >= n - 1:
            return self._make_view(replace(self._state, cursor=None, replay="off"))
        live = replace(self._state, status="running", replay="playing", cursor=max(0, int(index)))
        return self._make_view(live)

    def select_class(self, c: int | None) -> None:
        """Compare the leader with class `c` in 'why this class' (None, or the leader itself: the runner-up)."""
        self._update(selected=None if c is None or c < 0 else int(c))

    def pick_class(self, c: int) -> bool:
        """A class clicked: compare it with the winner; clicked again, or the winner itself, the runner-up again.
        True when `c` is now the class compared."""
        v = self._view
        self.select_class(None if c == v.selected or c == v.leader else c)
        return c not in (v.leader, v.selected)

    def set_grid_mode(self, mode: str) -> None:
        """The grid shows the reconstructions ("images") or their differences from the input ("differences")."""
        if mode not in ("images", "differences"):
            raise ValueError("the grid shows 'images' or 'differences'")
        self._update(grid_mode=mode)

    def set_latent_axes(self, axes) -> None:
        """The latent map's axes ('pca' or two latent dimensions), None while the map is not on screen."""
        self._update(latent_axes=axes)

    def set_planned(self, config: SearchConfig) -> None:
        """The settings the next run will use: before a run the grid shows where each class starts."""
        self._planned = config
        self._update(start_grid=self._start_grid(config))

    def _start_grid(self, config: SearchConfig | None) -> np.ndarray | None:
        if self.model is None or not isinstance(config, SearchConfig) or self.is_two_digit:
            return None
        try:
            grid = engine.starting_images(self.model, config).astype(np.float16)
        except (ValueError, RuntimeError):
            return None
        grid.setflags(write=False)
        return grid

    def sweep(self, image: np.ndarray, sigma: float, config: SearchConfig, field: str, values: tuple,
              name: str = "canvas", true_label: int | None = None) -> None:
        """Search `image` once per value of setting `field` (in turn), collecting each run's final distances."""
        if self.model is None:
            raise ValueError("no model is loaded: load a generator checkpoint first (File ▸ Load model…)")
        if self.is_two_digit:
            raise ValueError("sweeps compare one-digit runs; this is a two-digit model")
        for v in values:
            config.with_(**{field: v})  # every value is checked before the first run
        self._sweep_base = (image, sigma, config, name, true_label)
        self._state = replace(self._state, sweep=Sweep(field, tuple(values), input_name=name))
        self._sweep_next()

    def _sweep_next(self) -> None:
        sw = self._state.sweep
        if sw is None or sw.done or self._sweep_base is None:
            return
        image, sigma, config, name, true_label = self._sweep_base
        self.start(image, sigma, config.with_(**{sw.field: sw.next_value}), name, true_label, _sweeping=True)

    def _end_sweep(self) -> None:
        sw = self._state.sweep
        if sw is not None and not sw.done:
            self._state = replace(self._state, sweep=sw.stop())

    def shutdown(self) -> None:
        self._timer.stop()
        self._sweep_timer.stop()
        self._stop_replay()
        self.runner.stop()

    # ------------------------------------------------------------------------------------ the runner
    def on_frames(self, frames) -> None:
        """The runner recorded more steps."""
        for f in frames:
            self.history.append(f)
        self._publish_soon()

    def on_paused(self, _step: int) -> None:
        """The search stopped at a step, paused."""
        self._publish()

    def on_state(self, _state: str) -> None:
        """The runner went idle, running or paused."""
        self._publish()

    def on_finished(self, result, seconds: float) -> None:
        """The run ended with `result` after `seconds`."""
        # the end of a run is shown with its verdict, even when the timeline was moved back during the search
        self._state = replace(self._state, result=result, seconds=seconds, status="idle", cursor=None)
        self._publish()
        summary = self._remember(result, seconds)
        sw = self._state.sweep
        if sw is not None and not sw.done and summary is not None:
            point = SweepPoint(sw.next_value, summary.label, summary.ooc, summary.margin, summary.distances)
            self._state = replace(self._state, sweep=sw.with_point(point))
            if not self._state.sweep.done:
                self._sweep_timer.start(0)
        self._publish()
        self.run_finished.emit(self._view)

    def on_failed(self, message: str) -> None:
        """The run failed; `message` says why."""
        self._end_sweep()
        self._state = replace(self._state, error=message, status="idle")
        self._publish()
        self.run_failed.emit(message)

    def _remember(self, result, seconds: float) -> RunSummary | None:
        v, run = self._view, self._state.run
        if self.is_two_digit:  # two-digit runs are not compared (yet)
            return None
        steps, values = self.history.curves(run.config.score)
        summary = RunSummary(
            number=run.number, config=run.config, name=run.name, image_key=run.key, sigma=run.sigma,
            label=int(result.labels[0]), ooc=float(result.ooc[0]), margin=v.margin, seconds=seconds,
            precision=result.precision, distances=np.array(result.distances[0], copy=True),
            curve_steps=steps.copy(), curve_values=values.copy(), verdict=v.verdict.big,
        )
        self.runs.append(summary)
        self._state = replace(self._state, runs=tuple(self.runs))
        return summary

    # ------------------------------------------------------------------------------------ publishing
    def _update(self, **changes) -> None:
        run = changes["run"] if "run" in changes else self._state.run
        sigma = self._sigma if run is None else run.sigma
        measured = threshold_for(self.meta, sigma, two_digit.inner_config(run.config) if run is not None else None)
        threshold = measured if self._manual is None else manual(self._manual, measured)
        self._state = replace(self._state, threshold=threshold, gauge_max=gauge_max(measured),
                              model_name=self.model_name, **changes)
        self._publish()

    def _publish_soon(self) -> None:
        """Publish now if drawing has had its share of time, else when it has."""
        if self._timer.is_active():
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
        self._view = self._make_view(self._state)
        self.view_changed.emit(self._view)
        now = time.perf_counter()
        cost = now - started + self._paint_cost()  # this publication's work plus the painting since the last one
        self._draw_cost = 0.7 * self._draw_cost + 0.3 * cost
        self._last_publish = now
        self.runner.set_interval(self._draw_cost / DRAW_SHARE)  # the worker sends frames at the pace we draw
