"""Compare runs: a table of the last runs, and a sweep of one setting over a list of values with its plot."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton, QSplitter,
    QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from .. import style
from ..model.compare import SWEEP_EXAMPLES, SWEEPABLE, RunSummary, Sweep, settings_text
from ..model.view import View
from ..style import INK, MUTED, class_colour
from ..widgets import PAINT, nice_ticks, paints_itself, tick_text

COLUMNS = ("run", "input", "steps", "lr", "λ_LR", "restarts", "answer", "OOC", "margin", "time")
PRESENTATION_HIDDEN = ("steps", "lr", "margin", "time")
MIN_ROWS = 3  # the runs table always shows at least this many runs


class SweepPlot(QWidget):
    """Each class's final distance against the swept value (values evenly spaced, in the order given), and the
    prediction written above each value."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        paints_itself(self, 260, 110)
        self.setToolTip("A sweep: the same input searched once per value of one setting. Lines: each class's final\n"
                        "distance (L_DD) at each value; above: the class predicted at that value (the lowest line).")
        self.sweep: Sweep | None = None
        self.threshold: float | None = None

    @property
    def xs(self) -> list[float]:
        """The values plotted so far (one point per finished run)."""
        return [p.value for p in self.sweep.points] if self.sweep is not None else []

    def set_sweep(self, sweep: Sweep | None, threshold: float | None) -> None:
        if sweep is not self.sweep or threshold != self.threshold:
            self.sweep, self.threshold = sweep, threshold
            self.update()

    def paintEvent(self, event) -> None:
        started = time.perf_counter()
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("white"))
        small, bold = style.font(10), style.font(12, True)
        fm, bfm = QFontMetrics(small), QFontMetrics(bold)
        sw = self.sweep
        if sw is None:
            p.setPen(QColor(MUTED))
            p.setFont(style.font(11))
            p.drawText(self.rect().adjusted(10, 0, -10, 0), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       "A sweep searches the current input once per value of one setting and plots every class's final "
                       "distance against it: choose a setting and values above, then press Sweep.")
            p.end()
            return
        n = len(sw.values)
        left, right, top, bottom = style.px(46), 14, bfm.height() + 10, 2 * fm.height() + 8
        plot = QRectF(left, top, self.width() - left - right, self.height() - top - bottom)
        finite = [d[np.isfinite(d)] for d in (pt.distances for pt in sw.points)]
        values = np.concatenate(finite) if finite and any(len(f) for f in finite) else np.zeros(1)
        hi = float(max(values.max(), self.threshold or 0)) * 1.08 or 1.0

        def x_of(k: int) -> float:
            return plot.left() + (k + 0.5) / n * plot.width()

        def y_of(v: float) -> float:
            return plot.bottom() - min(v, hi) / hi * plot.height()

        ticks = nice_ticks(hi, int(max(1, min(4, plot.height() // (1.6 * fm.height())))))  # labels never overlap
        step = ticks[1] - ticks[0] if len(ticks) > 1 else hi
        p.setFont(small)
        for t in ticks:
            p.setPen(QPen(QColor("#e5e7eb"), 1))
            p.drawLine(QPointF(plot.left(), y_of(t)), QPointF(plot.right(), y_of(t)))
            p.setPen(QColor(MUTED))
            p.drawText(QRectF(0, y_of(t) - fm.height() / 2, left - 6, fm.height()), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, tick_text(t, step))
        for k, value in enumerate(sw.values):
            p.setPen(QColor(INK))
            p.drawText(QRectF(x_of(k) - 40, plot.bottom() + 3, 80, fm.height()), Qt.AlignmentFlag.AlignHCenter, f"{value:g}")
        p.drawText(QRectF(plot.left(), plot.bottom() + fm.height() + 4, plot.width(), fm.height()), Qt.AlignmentFlag.AlignHCenter,
                   f"{sw.shown} (the values in the order given)")
        p.setPen(QPen(QColor("#9aa5b1"), 1))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(plot)
        if self.threshold is not None:
            p.setPen(QPen(QColor(INK), 1.5, Qt.PenStyle.DashLine))
            p.drawLine(QPointF(plot.left(), y_of(self.threshold)), QPointF(plot.right(), y_of(self.threshold)))
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        C = len(sw.points[0].distances) if sw.points else 0
        for c in range(C):
            colour = QColor(class_colour(c))
            ys = [pt.distances[c] for pt in sw.points]
            p.setPen(QPen(colour, 1.8))
            for k in range(1, len(ys)):
                if np.isfinite(ys[k - 1]) and np.isfinite(ys[k]):
                    p.drawLine(QPointF(x_of(k - 1), y_of(ys[k - 1])), QPointF(x_of(k), y_of(ys[k])))
            p.setBrush(colour)
            for k, y in enumerate(ys):
                if np.isfinite(y):
                    p.drawEllipse(QPointF(x_of(k), y_of(y)), 3, 3)
        p.setFont(bold)
        for k, pt in enumerate(sw.points):
            label = str(pt.label) if pt.label >= 0 else "⚠"
            p.setPen(QColor(INK) if pt.label < 0 else QColor(class_colour(pt.label)))
            p.drawText(QRectF(x_of(k) - 30, 2, 60, bfm.height()), Qt.AlignmentFlag.AlignHCenter, label)
            if pt.label >= 0:
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.setPen(QPen(QColor(INK), 2))
                p.drawEllipse(QPointF(x_of(k), y_of(pt.distances[pt.label])), 6, 6)
        p.end()
        PAINT.add(time.perf_counter() - started)


class ComparePanel(QWidget):
    """The runs table on top; the sweep's controls and plot below."""

    sweep_requested = Signal(str, str)  # field, values as typed

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        split = QSplitter(Qt.Orientation.Vertical)
        split.setChildrenCollapsible(False)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setToolTip("The last runs, newest first: their settings, answer ('?': out of class), OOC score, the\n"
                              "winner's margin over the runner-up and the search time. The faint curves on the\n"
                              "Distances tab are the previous run of the same input.")
        split.addWidget(self.table)
        lower = QWidget()
        lay = QVBoxLayout(lower)
        lay.setContentsMargins(0, 4, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Sweep"))
        self.field_box = QComboBox(toolTip="The setting the sweep varies; every other setting stays as it is.")
        for name, (shown, _) in SWEEPABLE.items():
            self.field_box.addItem(shown, name)
        self.field_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.field_box.currentIndexChanged.connect(self._example)
        row.addWidget(self.field_box)
        self.values_edit = QLineEdit(toolTip="The values to try, separated by commas (at most 12).")
        row.addWidget(self.values_edit, 1)
        self.sweep_button = QPushButton("Sweep", toolTip="Search the current input once per value and plot the results.")
        self.sweep_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.sweep_button.clicked.connect(lambda: self.sweep_requested.emit(self.field(), self.values_edit.text()))
        self.values_edit.returnPressed.connect(self.sweep_button.click)
        row.addWidget(self.sweep_button)
        lay.addLayout(row)
        self.sweep_label = QLabel("")
        self.sweep_label.setWordWrap(True)
        lay.addWidget(self.sweep_label)
        self.plot = SweepPlot()
        lay.addWidget(self.plot, 1)
        split.addWidget(lower)
        split.setSizes([1, 2])
        col.addWidget(split)
        self._example()
        self.rescale()
        self._runs: tuple = ()

    def rescale(self) -> None:
        """On a projector the table keeps the columns a class reads (run, input, λ_LR, restarts, answer, OOC) and room
        for three runs; the rest are in each row's tooltip."""
        big = style.scale() > 1
        for j, name in enumerate(COLUMNS):
            self.table.setColumnHidden(j, big and name in PRESENTATION_HIDDEN)
        self.sweep_label.setVisible(not big and bool(self.sweep_label.text()))  # on a projector the plot says it (the
        # answer above each value) and has the room
        rows = self.table.verticalHeader().defaultSectionSize()
        shown = MIN_ROWS if big else 2  # on a desk the window's smallest size matters more (a 1024x600 screen)
        self.table.setMinimumHeight(self.table.horizontalHeader().sizeHint().height() + shown * rows + 4)

    def field(self) -> str:
        return self.field_box.currentData()

    def set_sweep_inputs(self, field: str, values: str) -> None:
        i = self.field_box.findData(field)
        if i >= 0:
            self.field_box.setCurrentIndex(i)
        self.values_edit.setText(values)

    def _example(self) -> None:
        self.values_edit.setText(SWEEP_EXAMPLES[self.field()])

    def render(self, v: View) -> None:
        if v.runs is not self._runs:
            self._runs = v.runs
            self._fill(v.runs)
        t = v.threshold
        self.plot.set_sweep(v.sweep, t.value if t.comparable else None)
        self.sweep_label.setText(v.sweep.summary() if v.sweep is not None else "")
        self.sweep_label.setVisible(v.sweep is not None and style.scale() == 1)  # no empty line taking room

    def _fill(self, runs: tuple[RunSummary, ...]) -> None:
        self.table.setRowCount(len(runs))
        for i, s in enumerate(reversed(runs)):
            margin = "–" if s.margin is None else f"{s.margin:.4f}"
            c = s.config
            cells = (str(s.number), s.name + (f" σ {s.sigma:.2f}" if s.sigma else ""), str(c.steps), f"{c.lr:g}",
                     f"{c.lambda_lr:g}", str(c.restarts), s.verdict or (str(s.label) if s.label >= 0 else "diverged"),
                     f"{s.ooc:.4f}", margin, f"{s.seconds:.2f} s")
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(settings_text(c) if 2 <= j <= 5 else text)
                if j != 1:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if j == 6 and s.label >= 0 and "?" not in text:
                    item.setForeground(QColor(class_colour(s.label)))
                self.table.setItem(i, j, item)
