"""The search's own process: it runs `igc_core.search.search` and streams the frames back. No Qt here.

Why a process: the window's drawing and the search's step loop are both Python. In one process they share
the interpreter lock, and every hand-over between the two threads costs the search time (on a busy machine
several milliseconds each): the app took 1.3-2x the engine's time for the same search. In a process of its
own the search runs exactly as `igc classify` runs it, and the window can draw as much as it likes.

The protocol is a pipe of small tuples. Parent -> child: ("model", key, folder), ("start", gen, key, image,
config, paused, max_threads, interval), and for the running search ("pause" | "resume" | "step" | "stop",
gen), ("interval", seconds), ("quit",). Child -> parent: ("frames", gen, [Frame, ...]),
("ready",) once, when it has loaded torch and the search (the app's watchdog counts silence from then: a fresh
interpreter importing torch takes seconds, tens of seconds on a busy machine), ("paused", gen, step),
("finished", gen, SearchResult, seconds, cpu seconds), ("failed", gen, message),
("model_failed", key, message) (a model it could not read: the search that needs it fails with why). Every started
search ends with exactly one "finished" or "failed" (a search replaced by a newer "start" finishes stopped).
The model travels as a checkpoint in a temporary folder (safetensors and its sidecar, read without pickle),
never through the pipe, so a large model can never block the pipe both ways.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path

import numpy as np

EMIT_INTERVAL_S = 1 / 30


def write_model(model, folder: Path) -> None:
    """Store a generator for the engine process as a checkpoint (safetensors + sidecar: no pickle), so that
    every kind the checkpoints know (cvae, cgan, multi-label) travels the same way."""
    from igc_core import checkpoints

    checkpoints.save(model, folder / "model", {"command": "the app's engine process"})


def read_model(folder: Path):
    from igc_core import checkpoints

    return checkpoints.load_generator(folder / "model")[0]


class Server:
    """The child's loop: one search at a time, controlled between steps by the parent's messages."""

    def __init__(self, conn):
        self.conn = conn
        self.models: dict[str, object] = {}
        self.pending = None  # a message that arrived mid-search and ends it ("start", "model", "quit")

    def load(self) -> None:
        """Import what a search needs, then say "ready": until then the app gives this process its start-up time
        rather than the watchdog's limit for a child that stopped answering."""
        import importlib

        for name in ("igc_core.checkpoints", "igc_core.multilabel", "igc_core.search", "..model.history",
                     "..model.two_digit"):
            importlib.import_module(name, __package__)
        self._send(("ready",))

    def serve(self) -> None:
        while True:
            msg = self.pending if self.pending is not None else self._recv()
            self.pending = None
            if msg is None or msg[0] == "quit":
                return
            if msg[0] == "model":
                self.models = {msg[1]: self._read_model(Path(msg[2]))}  # only the newest model is kept
                if isinstance(self.models[msg[1]], str):  # the app sends it again for the next search
                    self._send(("model_failed", msg[1], self.models[msg[1]]))
            elif msg[0] == "start":
                self._search(*msg[1:])
            # other messages are controls for a search that has ended: nothing to do

    @staticmethod
    def _read_model(folder: Path):
        """The model in `folder`, or the reason it cannot be read (in words, for the first search that needs it):
        a model this process cannot read must not end the process with only "stopped unexpectedly"."""
        try:
            return read_model(folder)
        except Exception as exc:
            return f"the search process could not read the model ({type(exc).__name__}: {exc})"

    def _recv(self):
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            return None  # the app has gone: end quietly

    def _send(self, msg) -> None:
        try:
            self.conn.send(msg)
        except (BrokenPipeError, OSError):
            raise SystemExit(0) from None

    # ------------------------------------------------------------------------------------ one search
    def _search(self, gen, key, image, config, paused, max_threads, interval) -> None:
        import torch

        from igc_core import search
        from igc_core.multilabel import MultiLabelConfig

        from ..model.history import Frame
        from ..model.two_digit import engine_search

        self.gen, self.paused, self.permits, self.stopped = gen, bool(paused), 0, False
        self.interval, self.last_emit, self.frames = interval, 0.0, []
        model = self.models.get(key)
        if model is None or isinstance(model, str):
            self._send(("failed", gen, model or "the search process has no model (load the model again)"))
            return
        torch.set_num_threads(max(1, int(max_threads or 1)))

        def on_frame(frame, final: bool) -> None:
            self.frames.append(frame)
            self._drain()
            due = time.perf_counter() - self.last_emit >= self.interval
            if frame.step == 0 or final or (self.paused and not self.stopped) or due:
                self._flush()
            if self.paused and not final and not self.stopped:
                self._send(("paused", gen, frame.step))
                self._wait_while_paused()

        started, cpu = time.perf_counter(), time.process_time()
        try:
            if isinstance(config, MultiLabelConfig):  # two-digit mode (issue 11): app/two_digit.py
                result = engine_search(model, image, config, on_frame, lambda: self.stopped, max_threads)
            else:
                result = search.search(model, np.asarray(image, dtype=np.float32)[None], config,
                                       on_snapshot=lambda snap: on_frame(Frame.from_snapshot(snap), snap.step >= snap.steps),
                                       snapshot_every=1, snapshot_images=True, snapshot_latents=True,
                                       should_stop=lambda: self.stopped, return_reconstructions=True,
                                       max_threads=max_threads)
        except ValueError as exc:  # the engine's user-readable errors
            self._flush()
            self._send(("failed", gen, str(exc)))
            return
        except Exception as exc:  # one bad search must not end the process
            traceback.print_exc()
            self._flush()
            self._send(("failed", gen, f"the search failed: {type(exc).__name__}: {exc}"))
            return
        self._flush()
        self._send(("finished", gen, result, time.perf_counter() - started, time.process_time() - cpu))

    def _flush(self) -> None:
        if self.frames:
            frames, self.frames = self.frames, []
            self._send(("frames", self.gen, frames))
            self.last_emit = time.perf_counter()

    def _handle(self, msg) -> None:
        kind = msg[0]
        if kind in ("start", "model", "quit"):
            self.pending, self.stopped = msg, True  # a newer request ends this search
        elif kind == "interval":
            self.interval = max(EMIT_INTERVAL_S, float(msg[1]))
        elif len(msg) > 1 and msg[1] == self.gen:
            if kind == "stop":
                self.stopped = True
            elif kind == "pause":
                self.paused, self.permits = True, 0
            elif kind == "resume":
                self.paused, self.permits = False, 0
            elif kind == "step":
                if self.paused:
                    self.permits += 1
                else:
                    self.paused = True

    def _drain(self) -> None:
        """Apply every message that has arrived (a poll is a few microseconds: done every step)."""
        while self.pending is None and self.conn.poll():
            msg = self._recv()
            if msg is None:
                self.pending, self.stopped = ("quit",), True
                return
            self._handle(msg)

    def _wait_while_paused(self) -> None:
        while self.paused and self.permits == 0 and not self.stopped:
            msg = self._recv()
            if msg is None:
                self.pending, self.stopped = ("quit",), True
                return
            self._handle(msg)
            self._drain()
        if self.permits:
            self.permits -= 1


def serve(conn) -> None:
    """The engine process's loop on a connection to the app."""
    import torch

    torch.set_num_threads(1)
    try:
        server = Server(conn)
        server.load()
        server.serve()
    except KeyboardInterrupt:
        pass
    finally:
        conn.close()


if __name__ == "__main__":  # python -m app.engine.engine_process FD (started by app.engine.worker.EngineProcess)
    import signal
    import sys
    from multiprocessing.connection import Connection

    # Ctrl+C in a terminal reaches the whole process group: the app ends this process itself (app.main), and
    # one that dies first would flash "stopped unexpectedly" on the way out
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(Connection(int(sys.argv[1])))
