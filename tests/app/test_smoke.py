"""`python -m app` starts, draws, and quits cleanly (like pyqtgraph's example tests)."""

import os
import subprocess
import sys

from conftest import REPO


def test_python_m_app_starts_and_closes(tiny_model_path, tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYQTGRAPH_QT_LIB": "PySide6"}
    sample = REPO / "assets" / "samples" / "7.png"
    args = [sys.executable, "-m", "app", "--model", str(tiny_model_path), "--settings", str(tmp_path / "s.ini"),
            "--quit-after", "2500", "--run"]
    if sample.exists():
        args.append(str(sample))
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]


def test_help_lists_the_options():
    proc = subprocess.run([sys.executable, "-m", "app", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for option in ("--model", "--device", "--data", "image"):
        assert option in proc.stdout


def test_bad_thread_count_is_a_message_not_a_traceback():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "app", "--threads", "-2"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "threads must be 1 or more" in done.stderr and "Traceback" not in done.stderr
