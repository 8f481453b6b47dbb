"""The result: the verdict header with the OOC gauge, the reconstruction grid, the ranked bars and the curves.

It renders a `View` and nothing else, so the verdict, the bars, the curves and the grid's frame always tell
the same story. The header has a fixed height and single-line, elided texts: nothing moves between states.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (
    QFrame, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QScrollArea, QSizePolicy, QSplitter, QVBoxLayout, QWidget,
)

from ..curves import CurvesView
from ..style import INK, MUTED, TIPS, VERDICT_MARKS, VERDICT_TINTS
from ..view import View
from ..widgets import DistanceBars, OOCGauge, ReconstructionGrid


class ElidedLabel(QLabel):
    """A one-line label that shortens its text with '…' instead of wrapping (the full text is its tooltip)."""

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        if text == self._full and self.text():
            return
        self._full = text
        self.setToolTip(text)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def _elide(self) -> None:
        fm = QFontMetrics(self.font())
        super().setText(fm.elidedText(self._full, Qt.TextElideMode.ElideRight, max(10, self.width())))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == event.Type.FontChange:
            self._elide()


def _font(points: float, bold: bool = False) -> QFont:
    f = QFont()
    f.setPointSizeF(points)
    f.setBold(bold)
    return f


class ResultPanel(QWidget):
    threshold_dragged = Signal(float)
    threshold_reset = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(6)
        col.addWidget(self._build_header())

        self.grid_view = ReconstructionGrid()
        self.grid_scroll = QScrollArea()
        self.grid_scroll.setWidget(self.grid_view)
        self.grid_scroll.setWidgetResizable(True)
        self.grid_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.grid_scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.grid_box = QGroupBox("Reconstructions")
        glay = QVBoxLayout(self.grid_box)
        glay.setContentsMargins(4, 8, 4, 4)
        glay.addWidget(self.grid_scroll)
        self.bars = DistanceBars()
        self.curves = CurvesView()
        plots = QSplitter(Qt.Orientation.Vertical)
        plots.setChildrenCollapsible(False)
        plots.addWidget(self.bars)
        plots.addWidget(self.curves)
        plots.setSizes([1, 1])
        plots.setMinimumWidth(280)
        row = QHBoxLayout()
        row.setSpacing(6)
        row.addWidget(self.grid_box, 3)  # up to 60 % for the grid, never more than its cells need
        row.addWidget(plots, 2)
        col.addLayout(row, 1)
        self._restarts, self._steps = 1, 100

    def _build_header(self) -> QFrame:
        head = QFrame()
        head.setObjectName("head")
        self.head = head
        head.setFixedHeight(122)
        lay = QGridLayout(head)
        lay.setContentsMargins(12, 6, 12, 6)
        lay.setHorizontalSpacing(12)
        lay.setVerticalSpacing(2)
        self.prediction_label = QLabel("–")
        self.prediction_label.setFont(_font(52, True))
        self.prediction_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.prediction_label.setFixedWidth(QFontMetrics(self.prediction_label.font()).horizontalAdvance("8?") + 16)
        self.prediction_label.setToolTip("The class whose generator redraws the input most closely ('?': out of class).")
        lay.addWidget(self.prediction_label, 0, 0, 3, 1)
        self.verdict_label = ElidedLabel("no search yet")
        self.verdict_label.setFont(_font(18, True))
        lay.addWidget(self.verdict_label, 0, 1)
        self.detail_label = ElidedLabel("")
        self.detail_label.setFont(_font(12))
        lay.addWidget(self.detail_label, 1, 1)
        self.gauge = OOCGauge()
        self.gauge.setToolTip(TIPS["threshold"])
        self.gauge.threshold_dragged.connect(self.threshold_dragged)
        self.gauge.threshold_reset.connect(self.threshold_reset)
        lay.addWidget(self.gauge, 2, 1)
        lay.setColumnStretch(1, 1)
        self._tint = None
        self._colour = None
        self._set_tint("none")
        return head

    def _set_tint(self, kind: str) -> None:
        tint = VERDICT_TINTS.get(kind, "white")
        if tint != self._tint:
            self._tint = tint
            self.head.setStyleSheet(f"#head {{ background: {tint}; border: 1px solid #cbd2d9; border-radius: 8px; }}")

    def set_planned(self, restarts: int, steps: int) -> None:
        """The grid's columns and the curves' step axis before a run (from the settings): the first run moves nothing."""
        self._restarts, self._steps = restarts, steps
        if self.grid_view.current is None:
            self.grid_view.set_shape(10, restarts)
            self._fit_grid()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_grid()

    def _fit_grid(self) -> None:
        """The grid gets no more width than its cells need at this height; the plots get the rest."""
        height = self.grid_scroll.viewport().height() or 400
        title = self.grid_box.fontMetrics().horizontalAdvance(self.grid_box.title()) + 30
        self.grid_box.setMaximumWidth(max(self.grid_view.width_for_height(height) + 10, title))
        self.grid_box.setMinimumWidth(title)

    # ------------------------------------------------------------------------------------ rendering
    def render(self, v: View) -> None:  # noqa: A003 - the panel's one job
        verdict = v.verdict
        final = verdict.kind not in ("provisional", "none")
        self._set_tint(verdict.kind if final else "none")
        if self.prediction_label.text() != verdict.big:
            self.prediction_label.setText(verdict.big)
        colour = INK if final else MUTED
        if colour != self._colour:  # style sheets are costly to re-apply: only on a change
            self._colour = colour
            self.prediction_label.setStyleSheet(f"color: {colour};")
            self.verdict_label.setStyleSheet(f"color: {colour};")
        mark = VERDICT_MARKS.get(verdict.kind, "")
        self.verdict_label.setText(f"{mark} {verdict.headline}" if mark else verdict.headline)
        self.detail_label.setText(verdict.detail)
        t = v.threshold
        label = f"threshold {v.shown_threshold} {t.note}"
        outside = final and v.ooc is not None and v.ooc > t.value and t.comparable  # hatched: out of class
        self.gauge.set_data(v.ooc, t.value if t.comparable else None, v.gauge_max, outside, not final, label)
        self.gauge.setToolTip(f"OOC score {v.shown_ooc}; {label}.\n\n{TIPS['threshold']}")

        restarts = v.grid.shape[1] if v.grid is not None else self._restarts
        if restarts != self.grid_view.restarts:
            self.grid_view.set_shape(10, restarts)
            self._fit_grid()
        self.grid_view.show_frame(v.grid, v.leader, v.best_restart)
        title = f"{v.score_name} (decides)" + (f" · step {v.step}" if v.has_run else "")
        self.bars.set_data(v.distances, v.order, v.leader, t.value if t.comparable else None, v.bars_max, title)
        self.curves.set_title(v.curve_name, v.curve_decides)
        self.curves.set_smooth(v.status != "running")
        self.curves.set_curves(v.curve_steps, v.curve_values, v.leader, max(v.steps if v.has_run else self._steps, 1))
        self.curves.set_cursor(v.step)
