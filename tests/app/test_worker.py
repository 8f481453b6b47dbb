"""The search worker: throttled frames, pause and single step, stop, stale runs dropped."""

import numpy as np
import pytest

from igc_core import search


@pytest.fixture
def runner(qtbot):
    from app.engine.worker import SearchRunner

    r = SearchRunner()
    yield r
    r.stop()
    assert not r.is_active()


def image():
    x = np.full((28, 28), -0.5, dtype=np.float32)
    x[6:22, 12:16] = 0.5
    return x


def collect(runner):
    frames = []
    runner.frames.connect(frames.extend)
    return frames


def test_run_completes_with_first_and_last_frame(qtbot, runner, tiny):
    frames = collect(runner)
    config = search.SearchConfig(steps=40, restarts=2, lr=0.05)
    with qtbot.waitSignal(runner.finished, timeout=30_000) as blocker:
        runner.start(tiny, image(), config)
    result, seconds = blocker.args
    assert result.steps_done == 40 and seconds > 0
    steps = [f.step for f in frames]
    assert steps[0] == 0 and steps[-1] == 40 and steps == sorted(steps)
    assert len(steps) == 41  # every step is recorded (only the signals are throttled)
    assert frames[-1].reconstructions.shape == (10, 2, 28, 28)
    assert not runner.is_active() and runner.state == "idle"


def test_signals_are_throttled(qtbot, runner, tiny):
    batches = []
    runner.frames.connect(batches.append)
    with qtbot.waitSignal(runner.finished, timeout=60_000):
        runner.start(tiny, image(), search.SearchConfig(steps=400))
    total = sum(len(b) for b in batches)
    assert total == 401
    assert len(batches) < total  # frames arrive in batches, not one signal per step


def test_pause_and_single_step_advance_exactly_one_snapshot(qtbot, runner, tiny):
    frames = collect(runner)
    with qtbot.waitSignal(runner.paused_at, timeout=10_000) as blocker:
        runner.start(tiny, image(), search.SearchConfig(steps=30), start_paused=True)
    assert blocker.args == [0] and [f.step for f in frames] == [0]
    qtbot.wait(200)
    assert [f.step for f in frames] == [0], "a paused search must not move"
    for expected in (1, 2, 3):
        with qtbot.waitSignal(runner.paused_at, timeout=10_000) as blocker:
            runner.step()
        assert blocker.args == [expected]
        assert frames[-1].step == expected and len(frames) == expected + 1
    with qtbot.waitSignal(runner.finished, timeout=30_000):
        runner.resume()
    assert frames[-1].step == 30


def test_stop_mid_run_and_stale_results_are_dropped(qtbot, runner, tiny):
    finished = []
    runner.finished.connect(lambda r, s: finished.append(r))
    runner.start(tiny, image(), search.SearchConfig(steps=100_000))
    qtbot.wait(300)
    runner.stop()  # waits for the thread
    assert not runner.is_active() and runner.state == "idle"
    qtbot.wait(100)
    assert finished == []  # the stopped run's result is stale: never delivered
    frames = collect(runner)
    with qtbot.waitSignal(runner.finished, timeout=30_000):
        runner.start(tiny, image(), search.SearchConfig(steps=5))
        runner.start(tiny, image(), search.SearchConfig(steps=7))  # a new run replaces the first at once
    assert len(finished) == 1 and finished[0].steps_done == 7
    assert max(f.step for f in frames) == 7 and all(f.steps == 7 for f in frames)


def test_engine_errors_become_messages(qtbot, runner, tiny):
    with qtbot.waitSignal(runner.failed, timeout=10_000) as blocker:
        runner.start(tiny, np.full((28, 28), 3.0, dtype=np.float32), search.SearchConfig(steps=5))
    assert "[-0.5, 0.5]" in blocker.args[0]
    assert not runner.is_active()


def test_a_dead_engine_process_gives_a_message_and_is_restarted(qtbot, runner, tiny):
    from app.engine.worker import DIED

    runner.start(tiny, image(), search.SearchConfig(steps=100_000))
    qtbot.waitUntil(lambda: runner.state == "running", timeout=10_000)
    with qtbot.waitSignal(runner.failed, timeout=30_000) as blocker:
        runner.engine.proc.kill()
    assert blocker.args == [DIED] and not runner.is_active()
    with qtbot.waitSignal(runner.finished, timeout=60_000) as done:
        runner.start(tiny, image(), search.SearchConfig(steps=5))  # a new engine process
    assert done.args[0].steps_done == 5
