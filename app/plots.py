"""The curves of the search (pyqtgraph): per class, the best restart's L_DD (or the whole loss) by step."""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont

from .style import INK, MUTED, class_colour
from .widgets import PAINT

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True, background="w", foreground=INK)


def _font(points: float) -> QFont:
    f = QFont()
    f.setPointSizeF(points)
    return f


class LossCurves(pg.PlotWidget):
    """Each class's curve (best restart), the leader drawn thick, a dashed line at the step shown.

    The title names the quantity and doubles as the legend (each class digit in its colour), so no
    legend box can hide a curve or lose entries on a small screen.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        plot = self.getPlotItem()
        plot.setLabel("bottom", "step")
        plot.showGrid(x=True, y=True, alpha=0.2)
        for name in ("left", "bottom"):
            axis = plot.getAxis(name)
            axis.setTickFont(_font(10))
            axis.setTextPen(pg.mkPen(INK))
            axis.enableAutoSIPrefix(False)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        plot.setMenuEnabled(False)
        self.setMinimumSize(220, 140)
        self.curves = [plot.plot([], [], pen=pg.mkPen(class_colour(c), width=2)) for c in range(10)]
        self.cursor = pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen(MUTED, width=1.5, style=Qt.PenStyle.DashLine))
        plot.addItem(self.cursor)
        self._leader: int | None = None
        self._title = None
        self._steps = None
        self.set_title("L_DD", True)

    def set_title(self, name: str, decides: bool) -> None:
        """The quantity goes on the y axis; the title is the legend (each class digit in its colour)."""
        if (name, decides) == self._title:
            return
        self._title = (name, decides)
        what = f"{name} per class" + (" (decides)" if decides else " (whole loss; L_DD decides)")
        legend = " ".join(f"<span style='color:{class_colour(c)}'><b>{c}</b></span>" for c in range(10))
        plot = self.getPlotItem()
        plot.setTitle(legend, size="11pt")
        plot.setLabel("left", f"<span style='color:{INK}'>{what if decides else name + ' (whole loss)'}</span>")
        self.setToolTip(
            f"{what}: each class's best restart, step by step.\n"
            "The class that ends lowest on L_DD is the prediction; the dashed line is the step shown.\n"
            "Settings ▸ Advanced ▸ Curves show: L_DD or the whole loss L = L_DD + λ_LR·L_LR."
        )

    def set_curves(self, steps: np.ndarray, values: np.ndarray, leader: int | None, total_steps: int) -> None:
        """steps (K,), values (K, C); the x axis spans the whole run."""
        if self._steps != total_steps:
            self._steps = total_steps
            self.getPlotItem().setXRange(0, max(1, total_steps), padding=0.02)
        C = values.shape[1] if values.ndim == 2 else 0
        for c, curve in enumerate(self.curves):
            if c < C and len(steps):
                if leader != self._leader:
                    curve.setPen(pg.mkPen(class_colour(c), width=4 if c == leader else 1.8))
                    curve.setZValue(10 if c == leader else 0)
                curve.setData(steps, values[:, c], connect="finite")
            else:
                curve.setData([], [])
        self._leader = leader

    def paintEvent(self, event) -> None:
        started = time.perf_counter()
        super().paintEvent(event)
        PAINT.add(time.perf_counter() - started)

    def set_cursor(self, step: float) -> None:
        if self.cursor.value() != step:
            self.cursor.setValue(step)
