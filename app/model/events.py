"""What the model needs from its host, without Qt: a callback list (`Event`) and timers (`Timer`).

The session and the replayer announce changes through `Event`s (connect, emit: the shape of a Qt signal, so
the window may put real signals in their place) and wait through timers the host makes: `QTimer`s in the
window (`app.qt_session`), hand-driven ones in a test.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol


class Event:
    """A list of callbacks, called in order on `emit` (a Qt-free stand-in for a signal)."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> None:
        self._callbacks.append(callback)

    def disconnect(self, callback: Callable[..., Any]) -> None:
        self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):
            callback(*args)


class Timer(Protocol):
    """A timer the host supplies: after `start(ms)` it calls its callback (once, or every `ms` if repeating)."""

    def start(self, ms: int) -> None: ...

    def stop(self) -> None: ...

    def is_active(self) -> bool: ...


MakeTimer = Callable[[Callable[[], None], bool], Timer]
"""`make_timer(callback, repeating)`: a new stopped timer that calls `callback`."""
