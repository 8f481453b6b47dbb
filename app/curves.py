"""The curves of the search: per class, the best restart's L_DD (or the whole loss) by step.

One painting function serves the window and the exported figure. The widget paints with QPainter and
builds each curve's path from numpy in one call (pyqtgraph's `arrayToQPath`), so a redraw of ten curves
of thousands of steps costs about a millisecond and holds the interpreter lock for very little of it: the
reader thread that relays the engine process's frames hardly waits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen, QTransform
from PySide6.QtWidgets import QWidget
from pyqtgraph.functions import arrayToQPath

from . import style
from .style import INK, MUTED, class_colour
from .widgets import PAINT, nice_ticks, paints_itself, tick_text


@dataclass(frozen=True)
class CurveStyle:
    tick_px: int = 13
    label_px: int = 14
    line: float = 1.8
    leader_line: float = 4.0
    end_labels: bool = False  # the class digit at the end of each curve (the figure has no legend row)


def _font(px: int, bold: bool = False) -> QFont:
    f = QFont()
    f.setPixelSize(px)
    f.setBold(bold)
    return f


def draw_curves(p: QPainter, rect: QRectF, steps: np.ndarray, values: np.ndarray, *, leader: int | None,
                cursor: float, x_max: float, y_label: str, smooth: bool = True, style: CurveStyle = CurveStyle(),
                ghost: tuple[np.ndarray, np.ndarray] | None = None, ghost_label: str = "") -> None:
    """Paint the curves (values (K, C) at steps (K,)) with axes, a legend row and a dashed cursor into `rect`;
    `ghost` (steps, values) are a previous run's curves, drawn faint on the same axes."""
    tick_font, label_font = _font(style.tick_px), _font(style.label_px)
    fm = QFontMetrics(tick_font)
    C = values.shape[1] if values.ndim == 2 else 10
    # legend row: each class digit in its colour
    p.setFont(_font(style.label_px, True))
    lfm = QFontMetrics(p.font())
    digit_w = lfm.horizontalAdvance("0") + 6
    x0 = rect.center().x() - C * digit_w / 2 if not ghost_label else rect.left() + lfm.height() + 30
    for c in range(C):
        p.setPen(QColor(class_colour(c)))
        p.drawText(QRectF(x0 + c * digit_w, rect.top(), digit_w, lfm.height()), Qt.AlignmentFlag.AlignCenter, str(c))
    if ghost_label:
        p.setFont(_font(max(9, style.tick_px - 1)))
        p.setPen(QColor(MUTED))
        room = rect.right() - 4 - (x0 + C * digit_w + 12)
        text = QFontMetrics(p.font()).elidedText(ghost_label, Qt.TextElideMode.ElideRight, int(max(room, 0)))
        p.drawText(QRectF(rect.left(), rect.top(), rect.width() - 4, lfm.height()), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, text)
    finite = values[np.isfinite(values)] if values.size else np.zeros(0)
    if ghost is not None and ghost[1].size:
        g = ghost[1][np.isfinite(ghost[1])]
        finite = np.concatenate([finite, g]) if g.size else finite
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    span = (hi - lo) or max(abs(hi), 1e-3)
    lo, hi = lo - 0.06 * span, hi + 0.06 * span
    ticks = nice_ticks(hi - lo, 4)
    step = ticks[1] - ticks[0] if len(ticks) > 1 else hi - lo
    y_ticks = np.arange(np.ceil(lo / step) * step, hi, step) if step > 0 and finite.size else np.zeros(0)
    left = rect.left() + lfm.height() + 6 + max((fm.horizontalAdvance(tick_text(float(v), step)) for v in y_ticks), default=20)
    right_pad = max(14.0, fm.horizontalAdvance(f"{max(float(x_max), 1.0):g}") / 2 + 4)  # the last step's label stays inside
    plot = QRectF(left + 6, rect.top() + lfm.height() + 6, rect.right() - left - right_pad - (18 if style.end_labels else 0),
                  rect.height() - lfm.height() - 2 * fm.height() - 14)
    if plot.width() < 20 or plot.height() < 20:
        return
    x_max = max(float(x_max), 1.0)

    def x_of(s: float) -> float:
        return plot.left() + s / x_max * plot.width()

    def y_of(v: float) -> float:
        return plot.bottom() - (v - lo) / (hi - lo) * plot.height()

    p.setFont(tick_font)
    for v in y_ticks:
        y = y_of(v)
        p.setPen(QPen(QColor("#e5e7eb"), 1))
        p.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
        p.setPen(QColor(MUTED))
        p.drawText(QRectF(rect.left(), y - fm.height() / 2, plot.left() - rect.left() - 6, fm.height()),
                   Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, tick_text(float(v), step))
    for s in nice_ticks(x_max, max(2, min(6, int(plot.width() // 70)))):
        x = x_of(s)
        p.setPen(QPen(QColor("#e5e7eb"), 1))
        p.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))
        p.setPen(QColor(MUTED))
        p.drawText(QRectF(x - 40, plot.bottom() + 3, 80, fm.height()), Qt.AlignmentFlag.AlignHCenter, f"{s:g}")
    p.setFont(label_font)
    p.setPen(QColor(INK))
    p.drawText(QRectF(plot.left(), plot.bottom() + fm.height() + 4, plot.width(), lfm.height()), Qt.AlignmentFlag.AlignHCenter, "step")
    p.save()
    p.translate(rect.left(), plot.center().y())
    p.rotate(-90)
    p.drawText(QRectF(-plot.height() / 2, 0, plot.height(), lfm.height()), Qt.AlignmentFlag.AlignCenter, y_label)
    p.restore()
    p.setPen(QPen(QColor("#9aa5b1"), 1))
    p.drawRect(plot)

    to_screen = QTransform(plot.width() / x_max, 0, 0, -plot.height() / (hi - lo), plot.left(), plot.bottom() + lo * plot.height() / (hi - lo))
    if ghost is not None and len(ghost[0]) and ghost[1].ndim == 2:
        p.save()
        p.setClipRect(plot.adjusted(-3, -3, 3, 3))
        p.setRenderHint(QPainter.RenderHint.Antialiasing, smooth)
        gx = np.asarray(ghost[0], dtype=np.float64)
        for c in range(ghost[1].shape[1]):
            ys = np.asarray(ghost[1][:, c], dtype=np.float64)
            ok = np.isfinite(ys)
            if not ok.any():
                continue
            colour = QColor(class_colour(c))
            colour.setAlpha(80)
            pen = QPen(colour, style.line, Qt.PenStyle.DashLine)
            pen.setCosmetic(True)
            p.setPen(pen)
            p.drawPath(to_screen.map(arrayToQPath(gx, np.where(ok, ys, np.nan), connect="all" if ok.all() else "finite")))
        p.restore()
    if len(steps) and values.ndim == 2:
        p.save()
        p.setClipRect(plot.adjusted(-3, -3, 3, 3))
        p.setRenderHint(QPainter.RenderHint.Antialiasing, smooth)
        xs = np.asarray(steps, dtype=np.float64)
        order = [c for c in range(C) if c != leader] + ([leader] if leader is not None and leader < C else [])
        for c in order:
            ys = np.asarray(values[:, c], dtype=np.float64)
            ok = np.isfinite(ys)
            if not ok.any():
                continue
            path = arrayToQPath(xs, np.where(ok, ys, np.nan), connect="all" if ok.all() else "finite")
            pen = QPen(QColor(class_colour(c)), style.leader_line if c == leader else style.line)
            pen.setCosmetic(True)
            p.setPen(pen)
            p.drawPath(to_screen.map(path))
        p.restore()
        if style.end_labels:  # each class's digit at its curve's end, moved apart where curves end together
            ends = [(y_of(values[-1, c]), c) for c in order if np.isfinite(values[-1, c])]
            h = QFontMetrics(_font(style.label_px, True)).height()
            ys = spread_labels([y for y, _ in ends], h, plot.top() + h / 2, plot.bottom() - h / 2)
            for (_, c), y in zip(ends, ys):
                p.setFont(_font(style.label_px, c == leader))
                p.setPen(QColor(class_colour(c)))
                p.drawText(QRectF(x_of(steps[-1]) + 4, y - h / 2, 18, h), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, str(c))
    p.setPen(QPen(QColor(MUTED), 1.5, Qt.PenStyle.DashLine))
    x = x_of(min(cursor, x_max))
    p.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()))


def spread_labels(ys: list[float], height: float, top: float, bottom: float) -> list[float]:
    """Label centres as near `ys` as can be with at least `height` between any two, inside [top, bottom] when they
    fit (curves that end together get labels one above the other, never on top of each other). Same order as `ys`."""
    order = sorted(range(len(ys)), key=lambda i: ys[i])
    placed = [0.0] * len(ys)
    last = -float("inf")
    for i in order:
        last = placed[i] = max(ys[i], last + height)
    if order and placed[order[-1]] > bottom:  # ran off the bottom: shift the stack up, as far as the top allows
        shift = min(placed[order[-1]] - bottom, max(0.0, placed[order[0]] - top))
        placed = [y - shift for y in placed]
        for k in range(len(order) - 2, -1, -1):  # and close up from the bottom where it still overlaps
            a, b = order[k], order[k + 1]
            placed[a] = min(placed[a], placed[b] - height)
    return placed


class CurvesView(QWidget):
    """The curves widget: the leader thick, the title row is the legend, a dashed line at the step shown."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        paints_itself(self, 220, 110)
        self.steps = np.zeros(0)
        self.values = np.zeros((0, 10))
        self.leader: int | None = None
        self.cursor = 0.0
        self.x_max = 100.0
        self.smooth = True
        self.y_label = "L_DD"
        self.ghost: tuple[np.ndarray, np.ndarray] | None = None
        self.ghost_label = ""
        self._shown = None
        self.set_title("L_DD", True)

    def set_title(self, name: str, decides: bool) -> None:
        """The y axis names the quantity: 'L_DD' (what decides) or 'L (whole loss)'."""
        label = name if decides else f"{name} (whole loss)"
        if label != self.y_label:
            self.y_label = label
            self.update()
        what = f"{name} per class" + (", the distance that decides" if decides else ", the whole loss L = L_DD + λ_LR·L_LR")
        self.setToolTip(
            f"{what}: each class's best restart, step by step. The class that ends lowest on L_DD is\n"
            "the prediction (drawn thick); the dashed line is the step shown.\n"
            "Settings ▸ Advanced ▸ Curves show: L_DD or the whole loss L = L_DD + λ_LR·L_LR."
        )

    def set_curves(self, steps: np.ndarray, values: np.ndarray, leader: int | None, total_steps: int) -> None:
        C = values.shape[1] if values.ndim == 2 else 0
        key = (len(steps), C, leader, total_steps, values[-1].tobytes() if len(steps) and C else b"")
        if key == self._shown:
            return  # scrubbing: the curves stay, only the cursor moves
        self._shown = key
        self.steps, self.values, self.leader, self.x_max = steps, values, leader, float(max(total_steps, 1))
        self.update()

    def set_ghost(self, steps: np.ndarray | None, values: np.ndarray | None, label: str = "") -> None:
        """A previous run's curves, drawn faint and dashed (None: none)."""
        ghost = None if steps is None or values is None else (steps, values)
        if (ghost is None) != (self.ghost is None) or label != self.ghost_label or (ghost is not None and ghost[1] is not self.ghost[1]):
            self.ghost, self.ghost_label = ghost, label
            self.update()

    def set_cursor(self, step: float) -> None:
        if step != self.cursor:
            self.cursor = float(step)
            self.update()

    def set_smooth(self, smooth: bool) -> None:
        """Antialiased lines cost about three times the drawing time: off while a search runs."""
        if smooth != self.smooth:
            self.smooth = smooth
            self.update()

    def paintEvent(self, event) -> None:
        started = time.perf_counter()
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("white"))
        look = CurveStyle(tick_px=style.px(13), label_px=style.px(14), line=1.8, leader_line=4.0)
        x_max = max(self.x_max, float(self.ghost[0][-1]) if self.ghost is not None and len(self.ghost[0]) else 0.0)
        draw_curves(p, QRectF(self.rect()).adjusted(4, 4, -4, -2), self.steps, self.values, leader=self.leader,
                    cursor=self.cursor, x_max=x_max, y_label=self.y_label, smooth=self.smooth, style=look,
                    ghost=self.ghost, ghost_label=self.ghost_label)
        p.end()
        PAINT.add(time.perf_counter() - started)
