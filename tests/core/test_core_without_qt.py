"""igc_core stays Qt-free: every module of it imports with the Qt bindings made unimportable.

Which module may import what is the import contracts' business (`.importlinter`, tests/test_import_contracts.py);
this test is the end-to-end check that a machine without Qt can run the engine.
"""

import subprocess
import sys

BLOCKED = ("PySide6", "shiboken6", "PyQt5", "PyQt6", "pyqtgraph")


def test_igc_core_imports_with_qt_blocked():
    code = (
        "import importlib, pkgutil, sys\n"
        f"for name in {BLOCKED!r}:\n"
        "    sys.modules[name] = None  # any import of it raises ImportError\n"
        "import igc_core\n"
        "names = [m.name for m in pkgutil.walk_packages(igc_core.__path__, 'igc_core.')]\n"
        "for name in names:\n"
        "    if not name.endswith('.__main__'):  # that one runs the command line\n"
        "        importlib.import_module(name)\n"
        "print(' '.join(names))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    imported = set(run.stdout.split())
    assert {"igc_core.search", "igc_core.cli", "igc_core.commands.classify", "igc_core.training"} <= imported
