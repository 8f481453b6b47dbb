"""The latent path: every class's (and restart's) latent on a 2-D map, from its start to the step shown."""

from __future__ import annotations

import math
import time

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from .. import style
from ..model.latent_map import PCA, LatentMap
from ..model.view import View
from ..style import INK, MUTED, class_colour
from ..widgets import PAINT, paints_itself


class LatentMapView(QWidget):
    """Paths of the latents, the part already travelled solid, the rest faint; a dot where each is now."""

    class_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        paints_itself(self, 260, 140)
        self.setToolTip(
            "The search in latent space: one path per class (and per restart), from its starting point (o) to\n"
            "where it is at the step shown (•); the rest of the path is faint. The axes are the two directions in\n"
            "which this run's latents vary most (PCA), or two latent dimensions you pick. The classes start\n"
            "together at the prior mean and move apart, each towards the latent that draws the input best.\n"
            "Click a path to compare its class with the winner. With several restarts the map follows one class (the\n"
            "one clicked, else the winner) and fades the others: do its restarts converge on one latent?"
        )
        self.map: LatentMap | None = None
        self.leader: int | None = None
        self.selected: int | None = None
        self.message = "Run a search to see the latents move."
        self.caption = ""  # the line painted over the map (tests)
        self.ahead = True  # draw the rest of each path faintly (not in a replay)
        self.focus: int | None = None  # the class whose restarts are followed (several restarts)

    def render(self, v: View) -> None:
        self.map, self.leader, self.selected = v.latent, v.leader, v.compare
        # with restarts, one class is followed (the one clicked, else the winner) and the others are faded
        self.focus = v.selected if v.selected is not None else v.leader
        self.ahead = v.replay == "off"  # a replay does not show where the paths will go
        if v.latent is None:
            self.message = ("Run a search to see the latents move." if not v.has_run else
                            "This run recorded no latents (the engine process is older than the app?).")
        self.update()

    def _frame(self) -> tuple[QRectF, float, float, float, float]:
        fm = QFontMetrics(style.font(11))
        plot = QRectF(fm.height() + 14, 10, self.width() - fm.height() - 26, self.height() - 2 * fm.height() - 20)
        x0, x1, y0, y1 = self.map.bounds if self.map is not None else (0, 1, 0, 1)
        span = max(x1 - x0, y1 - y0, 1e-9) * 1.08  # one scale for both axes: distances on the map are true
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        unit = min(plot.width(), plot.height()) / span
        return plot, cx, cy, unit, span

    def to_screen(self, xy: np.ndarray) -> np.ndarray:
        plot, cx, cy, unit, _ = self._frame()
        return np.stack([plot.center().x() + (xy[..., 0] - cx) * unit, plot.center().y() - (xy[..., 1] - cy) * unit], -1)

    def mousePressEvent(self, event) -> None:
        if self.map is None or event.button() != Qt.MouseButton.LeftButton:
            return
        pts = self.to_screen(self.map.points[:, :, : self.map.index + 1].astype(np.float64))  # (C, R, k, 2)
        click = np.array([event.position().x(), event.position().y()])
        d = np.linalg.norm(pts - click, axis=-1)  # (C, R, k)
        c = int(np.unravel_index(np.argmin(d), d.shape)[0])
        if d.min() < 24:
            self.class_clicked.emit(c)

    def paintEvent(self, event) -> None:
        started = time.perf_counter()
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("white"))
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        small = style.font(11)
        fm = QFontMetrics(small)
        p.setFont(small)
        if self.map is None:
            p.setPen(QColor(MUTED))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message)
            p.end()
            return
        plot, _, _, _, _ = self._frame()
        p.setPen(QPen(QColor("#9aa5b1"), 1))
        p.drawRect(plot)
        p.setPen(QColor(INK))
        p.drawText(QRectF(plot.left(), plot.bottom() + 4, plot.width(), fm.height()), Qt.AlignmentFlag.AlignHCenter, self.map.axes[0])
        p.save()
        p.translate(2, plot.center().y())
        p.rotate(-90)
        p.drawText(QRectF(-plot.height() / 2, 0, plot.height(), fm.height()), Qt.AlignmentFlag.AlignCenter, self.map.axes[1])
        p.restore()
        pts = self.to_screen(self.map.points.astype(np.float64))  # (C, R, K, 2)
        C, R, K, _ = pts.shape
        i = min(self.map.index, K - 1)
        following = self.focus if R > 1 and self.focus is not None and self.focus < C else None
        order = [c for c in range(C) if c not in (self.leader, self.selected)] + [c for c in (self.selected, self.leader) if c is not None and c < C]
        if following is not None:  # the class followed is drawn last, over the faded others
            order = [c for c in order if c != following] + [following]
        for c in order:
            colour = QColor(class_colour(c))
            width = 3.5 if c == self.leader else 2.5 if c == self.selected else 1.6
            if following is not None and c != following:  # faded: thin, pale, no start circles
                colour.setAlpha(50)
                p.setPen(QPen(colour, 1.0))
                p.setBrush(Qt.BrushStyle.NoBrush)
                for r in range(R):
                    p.drawPath(_path(pts[c, r, : i + 1]))
                continue
            for r in range(R):
                line = pts[c, r]
                faint = QColor(colour)
                faint.setAlpha(45)
                p.setBrush(Qt.BrushStyle.NoBrush)
                if self.ahead:
                    p.setPen(QPen(faint, 1.2))
                    p.drawPath(_path(line[i:]))
                p.setPen(QPen(colour, width))
                p.drawPath(_path(line[: i + 1]))
                p.drawEllipse(QPointF(*line[0]), 3.5, 3.5)
                p.setBrush(colour)
                p.setPen(QPen(QColor(INK) if c == self.leader else colour, 1.5))
                radius = 6.5 if c == self.leader else 4.5
                p.drawEllipse(QPointF(*line[i]), radius, radius)
            end = pts[c, :, i].mean(0)
            p.setFont(style.font(12, c == self.leader))
            p.setPen(QColor(INK) if c == self.leader else colour)
            p.drawText(QRectF(end[0] + 7, end[1] - fm.height(), 30, fm.height() * 1.2), Qt.AlignmentFlag.AlignLeft, str(c))
        p.setFont(small)
        p.setPen(QColor(MUTED))
        restarts = f" × {R} restarts" if R > 1 else ""
        text = f"{C} classes{restarts} · step {int(self.map.steps[i])} · o start, • now"
        if following is not None and self.map.spread is not None:  # do the followed class's restarts converge?
            s0, s1 = float(self.map.spread[following, 0]), float(self.map.spread[following, i])
            text = f"class {following}: {R} restarts, spread {s0:.3g} → {s1:.3g} (step {int(self.map.steps[i])})"
        self.caption = text
        p.drawText(QRectF(plot.left() + 6, plot.top() + 4, plot.width() - 12, fm.height()), Qt.AlignmentFlag.AlignLeft,
                   fm.elidedText(text, Qt.TextElideMode.ElideRight, int(plot.width() - 12)))
        p.end()
        PAINT.add(time.perf_counter() - started)


def _path(points: np.ndarray) -> QPainterPath:
    path = QPainterPath()
    ok = [pt for pt in points if math.isfinite(pt[0]) and math.isfinite(pt[1])]
    if ok:
        path.moveTo(*ok[0])
        for pt in ok[1:]:
            path.lineTo(*pt)
    return path


class LatentPanel(QWidget):
    """The map and its axes: PCA of the run's latents, or two latent dimensions."""

    axes_changed = Signal(object)  # "pca" or (i, j)
    class_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Axes"))
        self.axes_box = QComboBox(toolTip="PCA: the two directions in which this run's latents vary most.\n"
                                          "Latent dimensions: two coordinates of z that you pick.")
        self.axes_box.addItems(["principal axes (PCA)", "latent dimensions"])
        self.axes_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        row.addWidget(self.axes_box)
        self.dim_x = QSpinBox(minimum=0, maximum=1023, value=0, toolTip="The latent dimension on the x axis")
        self.dim_y = QSpinBox(minimum=0, maximum=1023, value=1, toolTip="The latent dimension on the y axis")
        for b in (self.dim_x, self.dim_y):
            b.setKeyboardTracking(False)
            row.addWidget(b)
            b.valueChanged.connect(self._emit)
        row.addStretch(1)
        col.addLayout(row)
        self.map_view = LatentMapView()
        self.map_view.class_clicked.connect(self.class_clicked)
        col.addWidget(self.map_view, 1)
        self.axes_box.currentIndexChanged.connect(self._emit)
        self._enable()

    def set_latent_dim(self, dim: int) -> None:
        for b in (self.dim_x, self.dim_y):
            b.setMaximum(max(0, dim - 1))
        self.dim_y.setValue(min(self.dim_y.value(), max(0, dim - 1)))

    def axes(self):
        if self.axes_box.currentIndex() == 0 or self.dim_x.value() == self.dim_y.value():
            return PCA
        return int(self.dim_x.value()), int(self.dim_y.value())

    def _enable(self) -> None:
        dims = self.axes_box.currentIndex() == 1
        self.dim_x.setEnabled(dims)
        self.dim_y.setEnabled(dims)

    def _emit(self, *_args) -> None:
        self._enable()
        self.axes_changed.emit(self.axes())

    def render(self, v: View) -> None:
        self.map_view.render(v)
