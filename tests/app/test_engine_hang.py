"""Issue 19: a hung or unreadable engine never freezes the window and is never left behind.

These tests stop the real engine process with SIGSTOP (a watchdog of a second or two instead of 20 s), fill
its pipe, close it while stopped, and hand it a model it cannot read. A fresh engine's start-up (a new
interpreter importing torch: seconds, tens of seconds on a busy machine) is not silence: the short watchdog
must never end a child before it has said it is ready, or every test here depends on the machine's load.
"""

import errno
import faulthandler
import os
import signal
import sys

import numpy as np
import pytest

from igc_core import checkpoints, search

from test_worker import image

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGSTOP is POSIX")


@pytest.fixture
def fast_watchdog(monkeypatch):
    from app.engine.worker import EngineProcess

    monkeypatch.setattr(EngineProcess, "watchdog_s", 2.0)
    faulthandler.dump_traceback_later(300, exit=True)  # a test that blocks must fail, not hang the suite
    yield EngineProcess
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def runner(qtbot, fast_watchdog):
    from app.engine.worker import SearchRunner

    r = SearchRunner()
    stopped = []
    yield r, stopped
    for pid in stopped:  # never leave a stopped process behind, whatever the test did
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    r.stop()


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] in "ZX"  # a zombie has ended too
    except FileNotFoundError:
        return True


def stop_engine_mid_search(qtbot, r, stopped, tiny):
    frames = []
    r.frames.connect(frames.extend)
    r.start(tiny, image(), search.SearchConfig(steps=100_000))
    qtbot.waitUntil(lambda: len(frames) > 2, timeout=60_000)  # a fresh engine imports torch first: slow under load
    pid = r.engine.pid
    stopped.append(pid)
    os.kill(pid, signal.SIGSTOP)
    return pid


def test_a_stopped_engine_is_ended_and_a_fresh_one_started(qtbot, runner, tiny):
    from app.engine.worker import EngineProcess

    r, stopped = runner
    pid = stop_engine_mid_search(qtbot, r, stopped, tiny)
    old = r.engine
    with qtbot.waitSignal(r.failed, timeout=30_000) as blocker:
        pass
    assert "stopped answering" in blocker.args[0] and "fresh one started" in blocker.args[0]
    assert not r.is_active() and r.state == "idle"
    assert gone(pid), "the stopped engine was left running"
    assert not old.alive and not old.folder.exists(), "its temporary folder was left behind"
    fresh = EngineProcess.shared()
    assert fresh is not old and fresh.alive and fresh.pid != pid
    with qtbot.waitSignal(r.finished, timeout=60_000) as done:
        r.start(tiny, image(), search.SearchConfig(steps=5))
    assert done.args[0].steps_done == 5


def test_requests_to_a_stopped_engine_never_block_and_a_new_search_says_so(qtbot, runner, tiny):
    r, stopped = runner
    stop_engine_mid_search(qtbot, r, stopped, tiny)
    notices = []
    r.notice.connect(notices.append)
    qtbot.wait(1200)  # silent for longer than the notice's threshold (half the watchdog's 2 s)
    big = search.SearchConfig(steps=100_000)
    for i in range(200):  # once 36 requests filled the pipe and the window's thread blocked in send()
        r.start(tiny, image() + 0, big)
        r.set_interval(0.1 + i / 1000)
        r.pause()
        r.step()
        r.resume()
    assert notices and "has not answered" in notices[0]
    assert len(r.engine._outbox) <= 8, "stale requests must be replaced, not piled up"
    with qtbot.waitSignal(r.failed, timeout=30_000) as blocker:
        pass
    assert "stopped answering" in blocker.args[0]
    with qtbot.waitSignal(r.finished, timeout=60_000):
        r.start(tiny, image(), search.SearchConfig(steps=3))


def test_a_starting_engine_gets_its_start_up_time_but_not_forever(qtbot, runner, tiny, monkeypatch):
    from app.engine.worker import EngineProcess

    r, stopped = runner
    r.engine.close()
    r.engine = engine = EngineProcess.shared()  # a child that has not said "ready" yet (it cannot, stopped)
    stopped.append(engine.pid)
    os.kill(engine.pid, signal.SIGSTOP)
    assert not engine.ready
    failures = []
    r.failed.connect(failures.append)
    r.start(tiny, image(), search.SearchConfig(steps=3))
    qtbot.wait(3000)  # silent for longer than the 2 s watchdog, but it is still starting
    assert not failures and engine.alive and r.is_active()
    os.kill(engine.pid, signal.SIGCONT)
    with qtbot.waitSignal(r.finished, timeout=60_000) as done:
        pass
    assert done.args[0].steps_done == 3 and engine.ready and engine.alive

    monkeypatch.setattr(EngineProcess, "startup_s", 3.0)  # one stuck while starting is ended all the same
    engine.close()
    r.engine = engine = EngineProcess.shared()
    stopped.append(engine.pid)
    os.kill(engine.pid, signal.SIGSTOP)
    with qtbot.waitSignal(r.failed, timeout=30_000) as blocker:
        r.start(tiny, image(), search.SearchConfig(steps=3))
    assert "stopped answering" in blocker.args[0]
    assert gone(engine.pid) and not engine.alive


def test_closing_ends_a_stopped_engine_and_removes_its_folder(qtbot, fast_watchdog, tiny):
    engine = fast_watchdog()  # its own process, not the shared one
    try:
        engine.model_key(tiny)
        assert any(engine.folder.iterdir())
        os.kill(engine.pid, signal.SIGSTOP)
        for i in range(100):  # more than the pipe holds
            engine.send(("interval", 0.05 + i / 1000))
            engine.send(("start", i, "m0", np.zeros((200, 200), np.float32), None, False, 1, 0.1))
        engine.close()  # asks, terminates (ignored while stopped), then kills
        assert gone(engine.pid)
        assert not engine.folder.exists()
    finally:
        try:
            os.kill(engine.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_model_the_engine_cannot_read_gives_the_reason(qtbot, runner, tiny_model_path, monkeypatch):
    from app.engine import worker

    r, _ = runner
    real = worker.engine_process.write_model

    def damaged(model, folder):
        real(model, folder)
        (folder / "model.safetensors").write_bytes(b"not weights")

    monkeypatch.setattr(worker.engine_process, "write_model", damaged)
    copy, _ = checkpoints.load(tiny_model_path)  # a model object the engine has not been handed yet
    with qtbot.waitSignal(r.failed, timeout=30_000) as blocker:
        r.start(copy, image(), search.SearchConfig(steps=3))
    assert "could not read the model" in blocker.args[0]
    assert r.engine.alive, "one unreadable model must not end the engine"
    monkeypatch.setattr(worker.engine_process, "write_model", real)
    with qtbot.waitSignal(r.finished, timeout=60_000) as done:  # the model is handed over again
        r.start(copy, image(), search.SearchConfig(steps=3))
    assert done.args[0].steps_done == 3


def test_a_full_temporary_folder_gives_a_message(qtbot, make_window, tiny_model_path, monkeypatch):
    from conftest import draw_one, fast_settings

    from app.engine import worker

    w = make_window(tiny_model_path)
    draw_one(qtbot, w.input_panel.canvas)
    fast_settings(w, steps=3)

    def full(model, folder):
        folder.mkdir(parents=True)
        (folder / "model.safetensors").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(worker.engine_process, "write_model", full)
    w.session.runner.engine._model_ref = None  # as for a model it has not seen
    assert w.start_search()
    assert "No space left on device" in w.banner.text and "temporary folder" in w.banner.text
    assert not w.session.is_active()
    engine = w.session.runner.engine
    assert {p.name for p in engine.folder.iterdir()} <= {engine._model_key}, "a half-written model was left"
