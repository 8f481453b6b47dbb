"""igc_core stays Qt-free: importing all of it loads no Qt binding."""

import subprocess
import sys


def test_igc_core_imports_without_qt():
    code = (
        "import sys, igc_core, igc_core.cli, igc_core.search, igc_core.data, igc_core.checkpoints, "
        "igc_core.training, igc_core.generators\n"
        "import igc_core.evaluate, igc_core.baseline\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph', 'shiboken6')]\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
