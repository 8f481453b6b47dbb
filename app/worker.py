"""The search in a worker thread: engine callbacks in, throttled Qt signals out.

`SearchWorker` runs `igc_core.search.search` for one image inside a QThread. The engine calls its
`on_snapshot` and `should_stop` on that thread every step; the worker buffers the frames and emits them
at most ~30 times a second (always on the first and the last step, on pause and on a single step), and
never while the window has not yet taken the previous batch: the search never waits for the window, and
the window is never flooded. Pause blocks inside `on_snapshot`; a single step releases one permit; stop
is a `threading.Event` polled by the engine every step.

`SearchRunner` owns the thread's life in the GUI thread: it tags every run with a generation number so
signals from an old run that arrive late are dropped, and on stop it releases a pause, waits for the
thread and only then forgets it (destroying a running QThread would abort the process).
"""

from __future__ import annotations

import threading
import time
import traceback

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from .history import Frame

EMIT_INTERVAL_S = 1 / 30  # the eye needs no more


class SearchWorker(QObject):
    """Runs one search; lives in its own QThread. All control methods are thread-safe."""

    frames = Signal(int, object)  # generation, [Frame, ...] since the last emission
    paused_at = Signal(int, int)  # generation, step the search is now waiting at
    finished = Signal(int, object, float)  # generation, SearchResult, seconds
    failed = Signal(int, str)  # generation, message for the user

    def __init__(self, generation: int, model, image: np.ndarray, config, start_paused: bool = False,
                 max_threads: int | None = None):
        super().__init__()
        self._max_threads = max_threads
        self.generation = generation
        self._model = model
        self._image = np.asarray(image, dtype=np.float32).copy()
        self._config = config
        self._stop = threading.Event()
        self._gate = threading.Condition()
        self._paused = start_paused
        self._permits = 0
        self._pending: list[Frame] = []
        self._last_emit = 0.0
        self._consumed = threading.Event()  # the window has taken the last batch
        self._consumed.set()

    # ------------------------------------------------------------------ control (any thread)
    def request_stop(self) -> None:
        self._stop.set()
        with self._gate:
            self._gate.notify_all()

    def set_paused(self, paused: bool) -> None:
        with self._gate:
            self._paused = paused
            self._permits = 0
            self._gate.notify_all()

    def step_once(self) -> None:
        """Pause (if running) or let a paused search do exactly one more step."""
        with self._gate:
            if not self._paused:
                self._paused = True
            else:
                self._permits += 1
            self._gate.notify_all()

    def ack(self) -> None:
        """The GUI has handled the last batch; the next may be sent (so a slow window is never flooded)."""
        self._consumed.set()

    @property
    def is_paused(self) -> bool:
        with self._gate:
            return self._paused

    # ------------------------------------------------------------------ the worker thread
    @Slot()
    def run(self) -> None:
        from igc_core import search

        t0 = time.perf_counter()
        try:
            result = search.search(
                self._model, self._image[None], self._config,
                on_snapshot=self._on_snapshot, snapshot_every=1, snapshot_images=True,
                should_stop=self._stop.is_set, return_reconstructions=True, max_threads=self._max_threads,
            )
        except ValueError as exc:  # the engine's user-readable errors
            self._flush()
            self.failed.emit(self.generation, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a worker must never take the process down
            traceback.print_exc()
            self._flush()
            self.failed.emit(self.generation, f"the search failed: {type(exc).__name__}: {exc}")
            return
        self._flush()
        self.finished.emit(self.generation, result, time.perf_counter() - t0)

    def _on_snapshot(self, snap) -> None:
        self._pending.append(Frame.from_snapshot(snap))
        final = snap.step >= snap.steps
        with self._gate:
            paused = self._paused and not self._stop.is_set()
        due = time.perf_counter() - self._last_emit >= EMIT_INTERVAL_S and self._consumed.is_set()
        if snap.step == 0 or final or paused or due:
            self._flush()
        if paused and not final:
            self._wait_while_paused(snap.step)

    def _flush(self) -> None:
        if self._pending:
            frames, self._pending = self._pending, []
            self._consumed.clear()
            self.frames.emit(self.generation, frames)
            self._last_emit = time.perf_counter()

    def _wait_while_paused(self, step: int) -> None:
        self.paused_at.emit(self.generation, step)
        with self._gate:
            while self._paused and self._permits == 0 and not self._stop.is_set():
                self._gate.wait(0.25)
            if self._permits:
                self._permits -= 1


class SearchRunner(QObject):
    """Starts, controls and cleanly ends searches; drops signals of runs that are no longer current."""

    frames = Signal(object)  # [Frame, ...]
    paused_at = Signal(int)
    finished = Signal(object, float)
    failed = Signal(str)
    state_changed = Signal(str)  # "idle", "running", "paused"

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.generation = 0
        self._thread: QThread | None = None
        self._worker: SearchWorker | None = None
        self._state = "idle"

    @property
    def state(self) -> str:
        return self._state

    def is_active(self) -> bool:
        return self._thread is not None

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)

    def start(self, model, image: np.ndarray, config, start_paused: bool = False, max_threads: int | None = None) -> int:
        """Stop any current run, then start a new one; returns its generation."""
        self.stop()
        self.generation += 1
        gen = self.generation
        thread = QThread()
        thread.setObjectName(f"igc-search-{gen}")
        worker = SearchWorker(gen, model, image, config, start_paused=start_paused, max_threads=max_threads)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.frames.connect(self._on_frames)
        worker.paused_at.connect(self._on_paused)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)
        self._thread, self._worker = thread, worker
        thread.start()
        self._set_state("paused" if start_paused else "running")
        return gen

    def pause(self) -> None:
        if self._worker is not None:
            self._worker.set_paused(True)
            self._set_state("paused")

    def resume(self) -> None:
        if self._worker is not None:
            self._worker.set_paused(False)
            self._set_state("running")

    def step(self) -> None:
        if self._worker is not None:
            self._worker.step_once()
            self._set_state("paused")

    def stop(self) -> None:
        """Stop the current run (if any) and wait for its thread; nothing it emits later is drawn."""
        thread, worker = self._thread, self._worker
        if thread is None:
            return
        self.generation += 1  # whatever the old run still has queued is now stale
        worker.request_stop()
        worker.set_paused(False)
        thread.quit()
        thread.wait()
        self._forget(thread, worker)
        self._set_state("idle")

    def _forget(self, thread: QThread, worker: SearchWorker) -> None:
        # the thread has finished (wait() returned): dropping the last references deletes both safely
        if self._thread is thread:
            self._thread, self._worker = None, None

    # ------------------------------------------------------------------ from the worker (GUI thread)
    def _current(self, gen: int) -> bool:
        return gen == self.generation and self._worker is not None

    @Slot(int, object)
    def _on_frames(self, gen: int, frames: list) -> None:
        if self._current(gen):
            self.frames.emit(frames)
            if self._worker is not None:
                self._worker.ack()  # taken: the next batch may come

    @Slot(int, int)
    def _on_paused(self, gen: int, step: int) -> None:
        if self._current(gen):
            self.paused_at.emit(step)

    def _finish(self) -> None:
        thread, worker = self._thread, self._worker
        if thread is not None:
            thread.quit()
            thread.wait()
            self._forget(thread, worker)
        self._set_state("idle")

    @Slot(int, object, float)
    def _on_finished(self, gen: int, result, seconds: float) -> None:
        if self._current(gen):
            self._finish()
            self.finished.emit(result, seconds)

    @Slot(int, str)
    def _on_failed(self, gen: int, message: str) -> None:
        if self._current(gen):
            self._finish()
            self.failed.emit(message)
