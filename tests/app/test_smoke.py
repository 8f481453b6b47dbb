"""`python -m app` starts, searches, saves a screenshot at exactly the size asked for, and exits 0
(like pyqtgraph's example tests: the real program in a subprocess)."""

import os
import subprocess
import sys

from conftest import REPO


def test_python_m_app_runs_and_saves_a_screenshot(tiny_model_path, tmp_path):
    from PIL import Image

    out = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYQTGRAPH_QT_LIB": "PySide6"}
    args = [sys.executable, "-m", "app", str(REPO / "assets" / "samples" / "7.png"), "--model", str(tiny_model_path),
            "--settings", str(tmp_path / "s.json"), "--set", "steps=5", "--size", "1366x700", "--run", "--screenshot", str(out)]
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert Image.open(out).size == (1366, 700)
    assert not (tmp_path / "s.json").exists(), "a scripted screenshot must not change the user's settings"


def test_help_lists_the_options():
    proc = subprocess.run([sys.executable, "-m", "app", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for option in ("--model", "--device", "--data", "image", "--size", "--screenshot", "--run", "--settings", "--set"):
        assert option in proc.stdout


def test_help_answers_without_loading_torch():
    """`--help` parses the options only: loading torch (about 3 s) or the CLI layer would only make it slow."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "app", "--help"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: igc-app")
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "app.main" in imported  # the probe sees the app's own imports
    loaded = sorted(m for m in imported if m.split(".")[0] == "torch" or m.startswith("igc_core.commands"))
    assert not loaded, f"--help imported {loaded[:5]}"


def test_bad_thread_count_is_a_message_not_a_traceback():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "app", "--threads", "-2"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "threads must be 1 or more" in done.stderr and "Traceback" not in done.stderr
