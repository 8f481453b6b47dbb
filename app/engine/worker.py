"""The search, run in a process of its own (`app.engine.engine_process`), seen from the window as Qt signals.

`EngineProcess` starts the child once per app process (shared by every runner, so tests do not pay for a
new interpreter per window), sends it requests and relays what it sends back: a reader thread blocks on
the pipe (no interpreter lock held while it waits) and hands each message to the GUI thread as a queued
signal; the child sends frames no more often than the session draws (`set_interval`), so nothing piles up.

Nothing here can freeze the window (issue 19):
- sends never block the GUI thread: requests go to an outbox that a writer thread drains into the pipe, and
  a new search replaces the requests still waiting (a stopped child cannot fill the pipe and block us);
- a watchdog (a timer on the GUI thread) ends a child that has said nothing for `EngineProcess.watchdog_s`
  seconds while a search waits on it (stopped with SIGSTOP, stuck in a step): terminate, then kill, every
  waiting run fails with `HUNG` and a fresh child is started; a search started while the child is silent
  says so at once (`SearchRunner.notice`). A child that has not yet said "ready" (a fresh interpreter still
  importing torch: seconds, tens of seconds on a busy machine) gets `EngineProcess.startup_s` instead, so a
  short watchdog never ends every new child before it can answer;
- if the child dies, every waiting run fails with a message and the next start spawns a new one;
- `close` (at exit, on SIGTERM or Ctrl+C via app.main) asks the child to quit, then terminates and kills it,
  and removes the temporary folder the model travels through.

`SearchRunner` keeps the API the session uses: start, pause, resume, step, stop; signals for frames, a
pause, the result and failures. Every run has a generation number: messages of a run that was stopped or
replaced are dropped, so nothing stale is ever drawn. Stopping needs no waiting: the child stops at its
next step and its last words are ignored.
"""

from __future__ import annotations

import atexit
import collections
import itertools
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from . import engine_process

EMIT_INTERVAL_S = engine_process.EMIT_INTERVAL_S
_generations = itertools.count(1)
DIED = "the search process stopped unexpectedly; it is restarted for the next search"
HUNG = ("the engine stopped answering (nothing for {seconds:.0f} s); it was ended and a fresh one started: "
        "search again")
SILENT = ("the engine has not answered for {seconds:.0f} s; it is ended and restarted if it stays silent "
          "for {limit:.0f} s")
CONTROLS = ("pause", "resume", "step", "stop")  # requests about one run (by generation)
OUTBOX_LIMIT = 64  # requests kept for a child that does not read; older controls are dropped beyond it


def _watchdog_default() -> float:
    """Seconds of silence before a child that a search waits on is ended ($IGC_ENGINE_WATCHDOG_S, default 20:
    generous for a slow first step on a busy machine)."""
    try:
        value = float(os.environ.get("IGC_ENGINE_WATCHDOG_S", "20"))
    except ValueError:
        return 20.0
    return value if value > 0 else 20.0


class _Relay(QObject):
    message = Signal(object)


class EngineProcess:
    """The engine's child process and the pipe to it."""

    _shared: "EngineProcess | None" = None
    _all: "weakref.WeakSet[EngineProcess]" = weakref.WeakSet()
    watchdog_s: float = _watchdog_default()
    startup_s: float = 120.0  # silence allowed to a child that has not said "ready" yet (at least watchdog_s)

    @classmethod
    def shared(cls) -> "EngineProcess":
        if cls._shared is None or not cls._shared.alive:
            cls._shared = cls()
        return cls._shared

    @classmethod
    def close_all(cls) -> None:
        """End every engine process this app started (on exit and on SIGTERM / Ctrl+C)."""
        for engine in list(cls._all):
            engine.close()

    def __init__(self) -> None:
        self._closing = False
        self._last_words: tuple[float, str] | None = None  # (when, the child's last line of error output)
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
                                         stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": path})
            theirs.close()
            self.conn = Connection(ours.detach())
            threading.Thread(target=self._relay_stderr, name="igc-engine-stderr", daemon=True).start()
        self.pid = self.proc.pid
        self.alive = True
        self.owners: weakref.WeakValueDictionary[int, SearchRunner] = weakref.WeakValueDictionary()
        self.relay = _Relay()
        self.relay.message.connect(self._dispatch, Qt.ConnectionType.QueuedConnection)
        self._folder = tempfile.TemporaryDirectory(prefix="igc-engine-")
        self.folder = Path(self._folder.name)
        self._models = itertools.count()
        self._model_ref = None  # weak reference to the model the child holds
        self._model_key = None
        self.last_heard = time.monotonic()  # when the child last said anything (the reader thread sets it)
        self.ready = False  # the child has loaded torch and the search (the reader thread sets it)
        self.expecting: dict[int, float] = {}  # generation -> since when a run waits for the child's answer
        self._outbox: collections.deque = collections.deque()
        self._outbox_ready = threading.Condition()
        self._sending_since: float | None = None  # a send in progress (the writer thread): since when
        self._watchdog = QTimer(self.relay)
        self._watchdog.setInterval(int(min(1000, max(50, self.watchdog_s * 250))))
        self._watchdog.timeout.connect(self._check)
        self._watchdog.start()
        threading.Thread(target=self._read, name="igc-engine-reader", daemon=True).start()
        threading.Thread(target=self._write, name="igc-engine-writer", daemon=True).start()
        EngineProcess._all.add(self)
        atexit.register(self.close)

    # ------------------------------------------------------------------------------------ the pipe
    def _read(self) -> None:
        while True:
            try:
                msg = self.conn.recv()
            except (EOFError, OSError):
                msg = ("died",)
            self.last_heard = time.monotonic()
            if self._closing:
                return  # the app is shutting down, or this child was ended: nobody is listening any more
            if msg[0] == "ready":
                self.ready = True
                continue
            self.relay.message.emit(msg)
            if msg[0] == "died":
                return

    def _relay_stderr(self) -> None:
        """Pass the child's error output through, remembering its last line (why it died, if it did)."""
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace")
            try:
                sys.stderr.write(line)
            except (OSError, ValueError):
                pass
            if line.strip():
                self._last_words = (time.monotonic(), line.strip())

    def _write(self) -> None:
        """The writer thread: hands the outbox to the pipe (a blocked pipe blocks only this thread)."""
        while True:
            with self._outbox_ready:
                while not self._outbox and not self._closing:
                    self._outbox_ready.wait()
                if not self._outbox:
                    return
                msg = self._outbox.popleft()
                self._sending_since = time.monotonic()
            try:
                self.conn.send(msg)
            except (BrokenPipeError, OSError, ValueError):
                with self._outbox_ready:
                    self._outbox.clear()
                    self._sending_since = None
                return  # the reader sees the end of the pipe and says the child died
            finally:
                self._sending_since = None
            if msg[0] == "quit":
                return

    def send(self, msg) -> bool:
        """Queue a request for the child without waiting; False when the child has gone.

        A new "start" replaces every request still queued about older runs (and the model they needed), so a
        child that reads nothing for a while gets only what is still wanted when it reads again."""
        if not self.alive or self._closing:
            return False
        with self._outbox_ready:
            box = self._outbox
            if msg[0] == "start":
                keep = [m for m in box if m[0] not in ("start", "model", *CONTROLS) or (m[0] == "model" and m[1] == msg[2])]
                box.clear()
                box.extend(keep)
            elif msg[0] == "interval":
                for m in [m for m in box if m[0] == "interval"]:
                    box.remove(m)
            if len(box) >= OUTBOX_LIMIT:
                for m in [m for m in box if m[0] in CONTROLS][: len(box) - OUTBOX_LIMIT + 1]:
                    box.remove(m)
            box.append(msg)
            self._outbox_ready.notify()
        return True

    def model_key(self, model) -> str:
        """Hand `model` to the child (as files) unless it has it already; returns its key. OSError when the
        temporary folder cannot take it (a full disk)."""
        if self._model_ref is None or self._model_ref() is not model:
            key = f"m{next(self._models)}"
            folder = self.folder / key
            for old in self.folder.iterdir():  # the child keeps only the newest model (the one before may be
                if old.name != self._model_key:  # in the pipe still): so does the folder
                    _remove_tree(old)
            try:
                engine_process.write_model(model, folder)
            except BaseException:
                _remove_tree(folder)  # nothing half-written stays behind
                raise
            self.send(("model", key, str(folder)))
            self._model_ref, self._model_key = weakref.ref(model), key
        return self._model_key

    @Slot(object)
    def _dispatch(self, msg) -> None:
        if msg[0] == "died":
            message = self._died_message()
            self.close()
            self._fail_all(message)
            return
        if msg[0] == "model_failed":
            if msg[1] == self._model_key:
                self._model_ref = None  # hand it over again at the next search
            return
        if msg[0] in ("paused", "finished", "failed"):
            self.expecting.pop(msg[1], None)
        runner = self.owners.get(msg[1])
        if runner is not None:
            runner._on_message(msg)

    def _fail_all(self, message: str) -> None:
        self.expecting.clear()
        for runner in list(self.owners.values()):
            runner._on_message(("failed", runner.generation, message))

    def _died_message(self) -> str:
        self._wait(0.5)
        words = self._last_words
        if words is None or words[0] < self.last_heard - 1.0:
            return DIED
        return DIED.replace("unexpectedly", f"unexpectedly ({words[1][:300]})")

    # ------------------------------------------------------------------------------------ the watchdog
    def expect(self, generation: int) -> None:
        """Run `generation` now waits for the child (a start, resume or step): the watchdog counts from now."""
        self.expecting.setdefault(generation, time.monotonic())

    def silence(self) -> float:
        """Seconds the child has said nothing while a run waits on it or a request waits in the pipe (else 0)."""
        waits = list(self.expecting.values())
        if self._sending_since is not None:
            waits.append(self._sending_since)
        if not waits or not self.alive:
            return 0.0
        return max(0.0, time.monotonic() - max(min(waits), self.last_heard))

    def limit(self) -> float:
        """Seconds of silence after which the child is ended: `watchdog_s`, or `startup_s` until it is ready."""
        return self.watchdog_s if self.ready else max(self.watchdog_s, self.startup_s)

    def _check(self) -> None:
        silent = self.silence()
        if silent >= self.limit() and self.alive and not self._closing:
            self._hung(silent)

    def _hung(self, silent: float) -> None:
        """The child stopped answering: end it, fail every run waiting on it, start a fresh one."""
        runners = list(self.owners.values())
        self.close()
        for runner in runners:
            runner._on_message(("failed", runner.generation, HUNG.format(seconds=silent)))
        if EngineProcess._shared is self:
            EngineProcess._shared = EngineProcess()  # ready for the next search

    # ------------------------------------------------------------------------------------ the end
    def _running(self) -> bool:
        return self.proc.is_alive() if hasattr(self.proc, "is_alive") else self.proc.poll() is None

    def _wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for the child to end; True when it has."""
        if hasattr(self.proc, "join"):
            self.proc.join(seconds)
        else:
            try:
                self.proc.wait(seconds)
            except subprocess.TimeoutExpired:
                pass
        return not self._running()

    def close(self) -> None:
        """End the child whatever its state (asked to quit, then terminated, then killed: a stopped child
        ignores all but the kill) and remove the temporary folder; idempotent."""
        if self._closing:
            return
        if self.alive and self._running():
            self.send(("quit",))
        self._closing = True
        self.alive = False
        try:
            self._watchdog.stop()
        except RuntimeError:  # the QTimer has gone with the application (at exit)
            pass
        with self._outbox_ready:
            self._outbox_ready.notify_all()
        if self._running() and not self._wait(1.0):
            self.proc.terminate()
            if not self._wait(0.5):
                self.proc.kill()
                self._wait(2.0)
        self.expecting.clear()
        try:
            self.conn.close()
        except OSError:
            pass
        self._folder.cleanup()


def _remove_tree(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class SearchRunner(QObject):
    """Starts, controls and ends searches in the engine process; drops messages of runs no longer current."""

    frames = Signal(object)  # [Frame, ...]
    notice = Signal(str)  # something the user should know that is not a failure (the engine is silent)
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
        silent = self.engine.silence()  # before the stop: the run it ends may be what waits on the child
        self.stop()
        if not self.engine.alive:
            self.engine, silent = EngineProcess.shared(), 0.0
        engine = self.engine
        gen = self.generation = next(_generations)
        engine.owners[gen] = self
        self._active = True
        limit = engine.limit()
        if silent >= min(3.0, limit / 2):
            self.notice.emit(SILENT.format(seconds=silent, limit=limit))
        try:
            key = engine.model_key(model)
        except OSError as exc:  # a full or unwritable temporary folder
            self._on_message(("failed", gen, f"the model could not be handed to the search process: the temporary "
                                             f"folder {engine.folder.parent} cannot be written ({exc.strerror or exc})"))
            return gen
        image = np.ascontiguousarray(image, dtype=np.float32)
        if not engine.send(("start", gen, key, image, config, start_paused, max_threads, self._interval)):
            self._on_message(("failed", gen, DIED))
            return gen
        engine.expect(gen)
        self._set_state("paused" if start_paused else "running")
        return gen

    def _control(self, kind: str) -> None:
        if self._active:
            self.engine.send((kind, self.generation))
            if kind in ("resume", "step", "pause"):  # the child answers each with frames or "paused"
                self.engine.expect(self.generation)

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
            self.engine.expecting.pop(self.generation, None)
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
            self.engine.expecting.pop(gen, None)
            self._active = False
            self._set_state("idle")
            if kind == "finished":
                self.last_cpu_seconds = msg[4]  # the engine process's CPU time for the search (benchmarks)
                self.finished.emit(msg[2], msg[3])
            else:
                self.failed.emit(msg[2])
