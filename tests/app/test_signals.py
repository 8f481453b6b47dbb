"""Issue 19: `python -m app` ended by SIGTERM or Ctrl+C (SIGINT) saves the settings, ends the engine process
(even a stopped one) and removes its temporary folder; closing the window does the same."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO
from test_engine_hang import gone as ended

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except FileNotFoundError:
        return []


def wait_for(condition, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def start_app(tiny_model_path, tmp_path, *extra):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYQTGRAPH_QT_LIB": "PySide6", "TMPDIR": str(tmp),
           "IGC_CACHE": str(tmp_path / "cache")}
    settings = tmp_path / "settings.json"
    args = [sys.executable, "-m", "app", str(REPO / "assets" / "samples" / "7.png"), "--model", str(tiny_model_path),
            "--settings", str(settings), "--set", "steps=100000", "--run", *extra]
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert wait_for(lambda: children(proc.pid) and any(tmp.iterdir()), 120), "the engine process never started"
    engine = children(proc.pid)[0]
    time.sleep(2.0)  # the search is under way (an end mid-search is the case that matters)
    return proc, engine, tmp, settings


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_saves_the_settings_and_ends_the_engine(tiny_model_path, tmp_path, how):
    proc, engine, tmp, settings = start_app(tiny_model_path, tmp_path)
    try:
        proc.send_signal(how)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + how, err[-2000:]
    assert "Traceback" not in err, err[-2000:]
    assert wait_for(lambda: ended(engine), 10), "the engine process outlived the app"
    assert list(tmp.iterdir()) == [], "the temporary folder was left behind"
    saved = json.loads(settings.read_text())
    assert saved["values"]["steps"] == 100_000 and saved["values"]["model"] == str(tiny_model_path)


def test_closing_the_window_ends_a_stopped_engine(tiny_model_path, tmp_path):
    proc, engine, tmp, settings = start_app(tiny_model_path, tmp_path, "--quit-after", "10000")
    try:
        os.kill(engine, signal.SIGSTOP)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        if not ended(engine):
            os.kill(engine, signal.SIGKILL)
    assert proc.returncode == 0, err[-2000:]
    assert wait_for(lambda: ended(engine), 10), "a stopped engine outlived the window (terminate was never followed by kill)"
    assert list(tmp.iterdir()) == []
    assert settings.exists()
