"""The live views of the search, all pyqtgraph: reconstruction mosaic, loss curves, ranked distances, OOC gauge.

They only draw what they are given (a `Frame`, curves, a score): no numerics beyond layout.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPen
from PySide6.QtWidgets import QGraphicsRectItem

from .history import Frame

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True, background="w", foreground="#1f2933")

# ten distinct colours (Tableau 10), one per class, used for curves and bars alike
CLASS_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
PREDICTED = "#f59e0b"  # amber: the predicted class
BEST = "#22d3ee"  # cyan: the best restart of each class
IN_CLASS = "#16a34a"
OUT_OF_CLASS = "#dc2626"
CELL = 28
GAP = 3


def class_colour(c: int) -> str:
    return CLASS_COLOURS[c % len(CLASS_COLOURS)]


def _font(points: float, bold: bool = False) -> QFont:
    f = QFont()
    f.setPointSizeF(points)
    f.setBold(bold)
    return f


def _style_axes(plot: pg.PlotItem, points: float = 11) -> None:
    for name in ("left", "bottom", "top", "right"):
        axis = plot.getAxis(name)
        axis.setTickFont(_font(points))
        axis.setTextPen(pg.mkPen("#1f2933"))
        axis.enableAutoSIPrefix(False)  # "loss (x0.001)" reads badly on a projector


def _no_mouse(plot: pg.PlotItem) -> None:
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    plot.setMenuEnabled(False)
    plot.vb.setMouseEnabled(x=False, y=False)


def mosaic(recons: np.ndarray, gap: int = GAP, fill: float = -0.2) -> np.ndarray:
    """(C, R, H, W) reconstructions -> one (C*(H+gap)-gap, R*(W+gap)-gap) image, a row per class."""
    C, R, H, W = recons.shape
    out = np.full((C * (H + gap) - gap, R * (W + gap) - gap), fill, dtype=np.float32)
    for c in range(C):
        for r in range(R):
            out[c * (H + gap) : c * (H + gap) + H, r * (W + gap) : r * (W + gap) + W] = recons[c, r]
    return out


class ReconstructionGrid(pg.GraphicsLayoutWidget):
    """Every class's reconstruction (rows) for every restart (columns) as ONE image item.

    The predicted class's row is framed in amber; with several restarts the best one of each class is
    outlined in cyan.
    """

    layout_changed = Signal(int, int)  # classes, restarts

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setToolTip(
            "What the generator draws for each class (rows) from each starting point (columns),\n"
            "updated as the search moves the latents. The amber frame marks the predicted class;\n"
            "with several restarts the cyan outline marks each class's best restart."
        )
        self.plot = self.addPlot()
        _no_mouse(self.plot)
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        self.plot.showAxis("top")
        self.plot.hideAxis("bottom")
        self.plot.getAxis("left").setLabel("class")
        self.plot.getAxis("top").setLabel("restart")
        _style_axes(self.plot, 12)
        self.image = pg.ImageItem()
        self.image.setLevels((-0.5, 0.5))
        self.plot.addItem(self.image)
        self._row = QGraphicsRectItem()
        pen = QPen(QColor(PREDICTED), 4)
        pen.setCosmetic(True)
        self._row.setPen(pen)
        self._row.setBrush(QBrush(Qt.BrushStyle.NoBrush))
        self._row.setZValue(10)
        self._row.hide()
        self.plot.addItem(self._row)
        self._best: list[QGraphicsRectItem] = []
        self._shape: tuple[int, int] | None = None
        self.current: np.ndarray | None = None  # the mosaic shown, for tests and saving
        self._layout(10, 1)  # an empty grid already shows its class labels

    def _layout(self, C: int, R: int) -> None:
        if self._shape == (C, R):
            return
        self._shape = (C, R)
        self.layout_changed.emit(C, R)
        step = CELL + GAP
        self.plot.getAxis("left").setTicks([[(c * step + CELL / 2, str(c)) for c in range(C)], []])
        self.plot.getAxis("top").setTicks([[(r * step + CELL / 2, str(r)) for r in range(R)], []])
        self.plot.setRange(xRange=(-1, R * step - GAP + 1), yRange=(-1, C * step - GAP + 1), padding=0)
        for item in self._best:
            self.plot.removeItem(item)
        self._best = []
        for _ in range(C):
            item = QGraphicsRectItem()
            pen = QPen(QColor(BEST), 2.5)
            pen.setCosmetic(True)
            item.setPen(pen)
            item.setZValue(9)
            item.hide()
            self.plot.addItem(item)
            self._best.append(item)

    def show_frame(self, frame: Frame | None, predicted: int | None, best_restart: np.ndarray | None) -> None:
        """Draw a frame's reconstructions, the predicted row and each class's best restart."""
        if frame is None or frame.reconstructions is None:
            self.clear_grid()
            return
        recons = frame.reconstructions.astype(np.float32)
        C, R = recons.shape[:2]
        self._layout(C, R)
        self.current = mosaic(recons)
        self.image.setImage(self.current, levels=(-0.5, 0.5), autoLevels=False)
        step = CELL + GAP
        if predicted is not None and 0 <= predicted < C:
            self._row.setRect(QRectF(-1.5, predicted * step - 1.5, R * step - GAP + 3, CELL + 3))
            self._row.show()
        else:
            self._row.hide()
        for c, item in enumerate(self._best):
            if best_restart is not None and R > 1:
                r = int(best_restart[c])
                item.setRect(QRectF(r * step - 0.5, c * step - 0.5, CELL + 1, CELL + 1))
                item.show()
            else:
                item.hide()

    def clear_grid(self) -> None:
        self.current = None
        self.image.clear()
        self._row.hide()
        for item in self._best:
            item.hide()


class LossCurves(pg.PlotWidget):
    """The search's loss per class over the steps (best restart), with a marker at the shown step."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setToolTip(
            "The loss L = L_DD + lambda_LR * L_LR of each class's best latent, step by step.\n"
            "The true class usually falls fastest and lowest. The vertical line is the step shown."
        )
        plot = self.getPlotItem()
        plot.setTitle("loss per class", size="12pt")
        plot.setLabel("bottom", "step")
        plot.setLabel("left", "loss")
        plot.showGrid(x=True, y=True, alpha=0.25)
        _style_axes(plot)
        self.legend = plot.addLegend(offset=(-8, 8), labelTextSize="10pt", colCount=2)
        self.curves = [plot.plot([], [], pen=pg.mkPen(class_colour(c), width=2), name=str(c)) for c in range(10)]
        self.cursor = pg.InfiniteLine(pos=0, angle=90, pen=pg.mkPen("#52606d", width=1.5, style=Qt.PenStyle.DashLine))
        plot.addItem(self.cursor)
        self._predicted: int | None = None

    def set_curves(self, steps: np.ndarray, values: np.ndarray, predicted: int | None) -> None:
        """steps (K,), values (K, C)."""
        C = values.shape[1] if values.ndim == 2 else 0
        for c, curve in enumerate(self.curves):
            if c < C:
                width = 4 if c == predicted else 2
                if predicted != self._predicted:
                    curve.setPen(pg.mkPen(class_colour(c), width=width))
                curve.setData(steps, values[:, c], connect="finite")
            else:
                curve.setData([], [])
        self._predicted = predicted

    def set_cursor(self, step: float) -> None:
        self.cursor.setValue(step)

    def clear_curves(self, steps: int = 100) -> None:
        """Empty the plot; the step axis spans the coming run, the loss axis follows the data."""
        for curve in self.curves:
            curve.setData([], [])
        self.cursor.setValue(0)
        plot = self.getPlotItem()
        plot.setXRange(0, max(1, steps), padding=0.02)
        plot.enableAutoRange(axis="y", enable=True)


class DistanceBars(pg.PlotWidget):
    """The per-class distances ranked, closest at the top; the dashed line is the OOC threshold."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setToolTip(
            "How far each class's best reconstruction is from the input (L_DD), closest first.\n"
            "The closest class is the prediction; its distance is the out-of-class (OOC) score.\n"
            "The dashed line is the OOC threshold."
        )
        plot = self.getPlotItem()
        plot.setTitle("distance per class", size="12pt")
        plot.setLabel("bottom", "distance")
        plot.invertY(True)
        _no_mouse(plot)
        _style_axes(plot, 12)
        plot.showGrid(x=True, alpha=0.25)
        self.bars = pg.BarGraphItem(x0=[], y=[], height=0.7, width=[])
        plot.addItem(self.bars)
        self.threshold = pg.InfiniteLine(pos=0.12, angle=90, pen=pg.mkPen("#52606d", width=2, style=Qt.PenStyle.DashLine))
        plot.addItem(self.threshold)
        self.order: list[int] = []
        self.clear_bars()

    def set_distances(self, distances: np.ndarray, predicted: int | None, in_class: bool | None) -> None:
        d = np.asarray(distances, dtype=np.float64)
        finite = np.isfinite(d)
        shown = np.where(finite, d, 0.0)
        order = [int(i) for i in np.argsort(np.where(finite, d, np.inf), kind="stable")]
        self.order = order
        brushes = []
        for c in order:
            if c == predicted:
                colour = QColor(IN_CLASS if in_class is not False else OUT_OF_CLASS)
            else:
                colour = QColor(class_colour(c))
                colour.setAlpha(150)
            brushes.append(pg.mkBrush(colour))
        self.bars.setOpts(x0=np.zeros(len(order)), y=np.arange(len(order)), height=0.7,
                          width=shown[order], brushes=brushes, pen=pg.mkPen(None))
        axis = self.getPlotItem().getAxis("left")
        axis.setTicks([[(i, str(c)) for i, c in enumerate(order)], []])
        top = max(float(shown.max()) if len(shown) else 0.0, self.threshold.value()) * 1.08 + 1e-6
        self.getPlotItem().setRange(xRange=(0, top), yRange=(-0.6, len(order) - 0.4), padding=0)

    def set_threshold(self, value: float) -> None:
        self.threshold.setValue(value)

    def clear_bars(self) -> None:
        self.bars.setOpts(x0=[], y=[], width=[], height=0.7)
        self.order = []
        plot = self.getPlotItem()
        plot.getAxis("left").setTicks([[(i, "") for i in range(10)], []])
        plot.setRange(xRange=(0, self.threshold.value() * 2), yRange=(-0.6, 9.6), padding=0)


class OOCGauge(pg.PlotWidget):
    """The OOC score as a bar against a threshold line the user drags: in-class when the bar stays left of it."""

    threshold_changed = Signal(float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setToolTip(
            "Out-of-class (OOC) score: the distance between the input and the best reconstruction.\n"
            "Small: the input looks like a digit the generator knows (in-class).\n"
            "Drag the dashed line to move the threshold above which an input is called out-of-class."
        )
        plot = self.getPlotItem()
        _no_mouse(plot)
        plot.hideAxis("left")
        plot.setLabel("bottom", "OOC score")
        _style_axes(plot, 11)
        self.setFixedHeight(96)
        self.bar = pg.BarGraphItem(x0=[0], y=[0], height=0.8, width=[0], brush=pg.mkBrush(IN_CLASS), pen=pg.mkPen(None))
        plot.addItem(self.bar)
        self.line = pg.InfiniteLine(
            pos=0.12, angle=90, movable=True,
            pen=pg.mkPen("#1f2933", width=3, style=Qt.PenStyle.DashLine),
            hoverPen=pg.mkPen(PREDICTED, width=5),
            label="threshold {value:.3f}", labelOpts={"position": 0.85, "color": "#1f2933", "movable": False, "fill": (255, 255, 255, 200)},
        )
        self.line.setBounds((0.0, None))
        plot.addItem(self.line)
        self.line.sigPositionChanged.connect(lambda line: self.threshold_changed.emit(float(line.value())))
        self._ooc: float | None = None
        self._update_range()

    @property
    def threshold(self) -> float:
        return float(self.line.value())

    def set_threshold(self, value: float) -> None:
        if abs(value - self.threshold) > 1e-12:
            self.line.setValue(value)
        self._update_range()

    def set_ooc(self, ooc: float | None) -> None:
        self._ooc = ooc if ooc is not None and np.isfinite(ooc) else None
        width = self._ooc or 0.0
        colour = IN_CLASS if self._ooc is None or self._ooc <= self.threshold else OUT_OF_CLASS
        self.bar.setOpts(x0=[0], y=[0], width=[width], height=0.8, brush=pg.mkBrush(colour))
        self._update_range()

    def _update_range(self) -> None:
        top = max(self.threshold * 2.0, (self._ooc or 0.0) * 1.15, 0.05)
        self.getPlotItem().setRange(xRange=(0, top), yRange=(-0.5, 0.5), padding=0)
