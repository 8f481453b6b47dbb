"""The search, run in a process of its own (`app.engine.engine_process`), seen from the window as Qt signals.

`EngineProcess` starts the child once per app process (shared by every runner, so tests do not pay for a
new interpreter per window), sends it requests and relays what it sends back: a reader thread blocks on
the pipe (no interpreter lock held while it waits) and hands each message to the GUI thread as a queued
signal; the child sends frames no more often than the session draws (`set_interval`), so nothing piles up. If the child dies, every run that was waiting fails with a message and the next start spawns a new
one.

`SearchRunner` keeps the API the session uses: start, pause, resume, step, stop; signals for frames, a
pause, the result and failures. Every run has a generation number: messages of a run that was stopped or
replaced are dropped, so nothing stale is ever drawn. Stopping needs no waiting: the child stops at its
next step and its last words are ignored.
"""

from __future__ import annotations

import atexit
import itertools
import os
import socket
import subprocess
import sys
import tempfile
import threading
import weakref
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal, Slot

from . import engine_process

EMIT_INTERVAL_S = engine_process.EMIT_INTERVAL_S
_generations = itertools.count(1)
DIED = "the search process stopped unexpectedly; it is restarted for the next search"


class _Relay(QObject):
    message = Signal(object)


class EngineProcess:
    """The engine's child process and the pipe to it."""

    _shared: "EngineProcess | None" = None

    @classmethod
    def shared(cls) -> "EngineProcess":
        if cls._shared is None or not cls._shared.alive:
            cls._shared = cls()
        return cls._shared

    def __init__(self) -> None:
        self._closing = False
        if os.name == "nt":  # no fd passing on Windows: multiprocessing's spawn (needs a main-module guard)
            import multiprocessing as mp

            ctx = mp.get_context("spawn")
            self.conn, child = ctx.Pipe(duplex=True)
            self.proc = ctx.Process(target=engine_process.serve, args=(child,), daemon=True, name="igc-engine")
            self.proc.start()
            child.close()
        else:
            # A fresh interpreter (no Qt state forked into it) started as `python -m app.engine.engine_process FD`,
            # not by multiprocessing's 'spawn', which would re-run the caller's main script in the child.
            ours, theirs = socket.socketpair()
            path = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH")]))
            self.proc = subprocess.Popen([sys.executable, "-m", "app.engine.engine_process", str(theirs.fileno())],
                                         pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                                         env={**os.environ, "PYTHONPATH": path})
            theirs.close()
            self.conn = Connection(ours.detach())
        self.alive = True
        self.owners: weakref.WeakValueDictionary[int, SearchRunner] = weakref.WeakValueDictionary()
        self.relay = _Relay()
        self.relay.message.connect(self._dispatch, Qt.ConnectionType.QueuedConnection)
        self._folder = tempfile.TemporaryDirectory(prefix="igc-engine-")
        self._models = itertools.count()
        self._model_ref = None  # weak reference to the model the child holds
        self._model_key = None
        self._send_lock = threading.Lock()
        threading.Thread(target=self._read, name="igc-engine-reader", daemon=True).start()
        atexit.register(self.close)

    def _read(self) -> None:
        while True:
            try:
                msg = self.conn.recv()
            except (EOFError, OSError):
                msg = ("died",)
            if self._closing:
                return  # the app is shutting down: nobody is listening any more
            self.relay.message.emit(msg)
            if msg[0] == "died":
                return

    def send(self, msg) -> bool:
        with self._send_lock:
            try:
                self.conn.send(msg)
                return True
            except (BrokenPipeError, OSError):
                return False

    def model_key(self, model) -> str:
        """Hand `model` to the child (as files) unless it has it already; returns its key."""
        if self._model_ref is None or self._model_ref() is not model:
            key = f"m{next(self._models)}"
            folder = Path(self._folder.name) / key
            engine_process.write_model(model, folder)
            self.send(("model", key, str(folder)))
            self._model_ref, self._model_key = weakref.ref(model), key
        return self._model_key

    @Slot(object)
    def _dispatch(self, msg) -> None:
        if msg[0] == "died":
            self.alive = False
            for runner in list(self.owners.values()):
                runner._on_message(("failed", runner.generation, DIED))
            return
        runner = self.owners.get(msg[1])
        if runner is not None:
            runner._on_message(msg)

    def _running(self) -> bool:
        return self.proc.is_alive() if hasattr(self.proc, "is_alive") else self.proc.poll() is None

    def _wait(self, seconds: float) -> None:
        if hasattr(self.proc, "join"):
            self.proc.join(seconds)
        else:
            try:
                self.proc.wait(seconds)
            except subprocess.TimeoutExpired:
                pass

    def close(self) -> None:
        """Ask the child to quit and make sure it has gone (at exit)."""
        if self._closing:
            return
        self._closing = True
        if self._running():
            self.send(("quit",))
            self._wait(2.0)
            if self._running():
                self.proc.terminate()
                self._wait(2.0)
        self.alive = False
        self.conn.close()
        self._folder.cleanup()


class SearchRunner(QObject):
    """Starts, controls and ends searches in the engine process; drops messages of runs no longer current."""

    frames = Signal(object)  # [Frame, ...]
    paused_at = Signal(int)
    finished = Signal(object, float)  # SearchResult, seconds
    failed = Signal(str)
    state_changed = Signal(str)  # "idle", "running", "paused"

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.generation = 0
        self._active = False
        self._state = "idle"
        self._interval = EMIT_INTERVAL_S
        self.last_cpu_seconds: float | None = None
        self.engine = EngineProcess.shared()  # started now: the interpreter loads while the window opens

    @property
    def state(self) -> str:
        return self._state

    def is_active(self) -> bool:
        return self._active

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)

    def start(self, model, image: np.ndarray, config, start_paused: bool = False, max_threads: int | None = None) -> int:
        """Stop any current run, then start a new one; returns its generation."""
        self.stop()
        if not self.engine.alive:
            self.engine = EngineProcess.shared()
        gen = self.generation = next(_generations)
        self.engine.owners[gen] = self
        key = self.engine.model_key(model)
        image = np.ascontiguousarray(image, dtype=np.float32)
        self._active = True
        if not self.engine.send(("start", gen, key, image, config, start_paused, max_threads, self._interval)):
            self._on_message(("failed", gen, DIED))
            return gen
        self._set_state("paused" if start_paused else "running")
        return gen

    def _control(self, kind: str) -> None:
        if self._active:
            self.engine.send((kind, self.generation))

    def set_interval(self, seconds: float) -> None:
        """Send frames no more often than this (every batch wakes the window: no more than it draws)."""
        self._interval = min(0.5, max(EMIT_INTERVAL_S, float(seconds)))
        if self._active:
            self.engine.send(("interval", self._interval))

    def pause(self) -> None:
        if self._active:
            self._control("pause")
            self._set_state("paused")

    def resume(self) -> None:
        if self._active:
            self._control("resume")
            self._set_state("running")

    def step(self) -> None:
        if self._active:
            self._control("step")
            self._set_state("paused")

    def stop(self) -> None:
        """Stop the current run; nothing it sends later is drawn."""
        if self._active:
            self._control("stop")
            self.engine.owners.pop(self.generation, None)
            self._active = False
            self._set_state("idle")

    # ------------------------------------------------------------------------------------ from the child
    def _on_message(self, msg) -> None:
        kind, gen = msg[0], msg[1]
        if gen != self.generation or not self._active:
            return
        if kind == "frames":
            self.frames.emit(msg[2])
        elif kind == "paused":
            self.paused_at.emit(msg[2])
        elif kind in ("finished", "failed"):
            self.engine.owners.pop(gen, None)
            self._active = False
            self._set_state("idle")
            if kind == "finished":
                self.last_cpu_seconds = msg[4]  # the engine process's CPU time for the search (benchmarks)
                self.finished.emit(msg[2], msg[3])
            else:
                self.failed.emit(msg[2])
