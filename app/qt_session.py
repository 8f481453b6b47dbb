"""The session as the window uses it: `app.model.session.Session` wired to Qt.

The model decides; this module only supplies what it needs from Qt: the engine process's runner (its
signals call the session's `on_*` methods), `QTimer`s for its timers and the replay's, the painting cost the
widgets measured (`widgets.PAINT`), and Qt signals in place of the model's plain events (so a connection can
be queued and a test can wait on them).
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from .engine.worker import SearchRunner
from .model.session import Session
from .widgets import PAINT


class QtTimer:
    """`app.model.events.Timer` on a `QTimer` (a repeating one is precise: the replay's pace is the clock's)."""

    def __init__(self, callback: Callable[[], None], repeating: bool, parent: QObject):
        self._timer = QTimer(parent, singleShot=not repeating)
        if repeating:
            self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(callback)

    def start(self, ms: int) -> None:
        self._timer.start(ms)

    def stop(self) -> None:
        self._timer.stop()

    def is_active(self) -> bool:
        return self._timer.isActive()


class _Signals(QObject):
    view_changed = Signal(object)  # View
    run_finished = Signal(object)  # View: a run finished and its result is on screen
    run_failed = Signal(str)


class QtSession(Session):
    """The window's session: searches in the engine process, timers and signals from Qt."""

    def __init__(self, parent: QObject | None = None, max_threads: int | None = None):
        self.qobject = _Signals(parent)  # owns the runner and the timers; they go with the window
        runner = SearchRunner(self.qobject)
        super().__init__(runner, lambda callback, repeating: QtTimer(callback, repeating, self.qobject),
                         paint_cost=PAINT.take, max_threads=max_threads)
        self.view_changed = self.qobject.view_changed
        self.run_finished = self.qobject.run_finished
        self.run_failed = self.qobject.run_failed
        runner.frames.connect(self.on_frames)
        runner.paused_at.connect(self.on_paused)
        runner.finished.connect(self.on_finished)
        runner.failed.connect(self.on_failed)
        runner.state_changed.connect(self.on_state)
