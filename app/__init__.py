"""The IGC desktop app: draw a digit and watch the generator find it (PySide6 + pyqtgraph).

Start it with `igc-app` or `python -m app`. The numerical work is all in `igc_core`; this package only
draws, runs the search in an engine process of its own and records its progress.
"""

import os

# pyqtgraph picks PyQt6 before PySide6 when both are importable: the app is written for PySide6.
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
