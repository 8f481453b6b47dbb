"""Replaying a recorded run: its frames shown again in order at a chosen speed, without searching again.

A run of 100 steps takes a second or two and its curves go flat by step 15: too fast to watch in front of a
class. A replay shows the recorded frames again from the history (the engine is never called) at 0.25x to 8x
of `STEPS_PER_SECOND`, or one recorded step per keypress. The time base is the clock, not the timer's ticks,
so a slow redraw never stretches a replay: frames that fall due together are passed over (in order) above
`MAX_FPS`. No Qt here: the host hands in a timer (`app.model.events.MakeTimer`; a `QTimer` in the window).
"""

from __future__ import annotations

import time
from typing import Callable

from .events import MakeTimer

SPEEDS = ("0.25x", "0.5x", "1x", "2x", "4x", "8x", "key")
SPEED_NAMES = {"key": "one step per key"}
STEPS_PER_SECOND = 10.0  # search steps shown per second at 1x: a 100-step run replays in 10 s
MAX_FPS = 60  # never more redraws than a screen shows


def rate(speed: str) -> float | None:
    """Search steps per second for a speed ('2x' -> 20), None for 'key' (one step per keypress)."""
    if speed == "key":
        return None
    if speed not in SPEEDS:
        raise ValueError(f"replay speed must be one of {', '.join(SPEEDS)} (got {speed!r})")
    return STEPS_PER_SECOND * float(speed[:-1])


class Replayer:
    """Moves a cursor through a run's recorded steps at a speed; `show(index)` draws a frame, `ended()` at the end."""

    def __init__(self, steps: Callable[[], list[int]], show: Callable[[int], None], ended: Callable[[], None],
                 make_timer: MakeTimer, clock: Callable[[], float] = time.perf_counter):
        self._steps, self._show, self._ended, self._clock = steps, show, ended, clock
        self._timer = make_timer(self._tick, True)
        self.index = 0
        self._t0 = 0.0
        self._step0 = 0
        self._rate = STEPS_PER_SECOND

    @property
    def playing(self) -> bool:
        return self._timer.is_active()

    def play(self, index: int, speed: str) -> None:
        """Play from frame `index` at `speed` (not 'key')."""
        r = rate(speed)
        if r is None:
            raise ValueError("'key' replays move one step per keypress: use step()")
        self._rate = r
        self.rebase(index)
        self._timer.start(max(1, int(1000 / min(r, MAX_FPS))))

    def rebase(self, index: int) -> None:
        """Go on from frame `index` (the user clicked the timeline while it plays)."""
        steps = self._steps()
        self.index = max(0, min(int(index), len(steps) - 1))
        self._t0, self._step0 = self._clock(), steps[self.index] if steps else 0

    def pause(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        steps = self._steps()
        if not steps:
            self._timer.stop()
            return
        due = self._step0 + (self._clock() - self._t0) * self._rate
        i = self.index
        while i + 1 < len(steps) and steps[i + 1] <= due:
            i += 1
        if i != self.index:
            self.index = i
            self._show(i)
        if self.index >= len(steps) - 1:
            self._timer.stop()
            self._ended()
