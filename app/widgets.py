"""Painted views of the search: the reconstruction grid, the ranked distance bars and the OOC gauge.

Each draws what it is given with one QPainter pass (a whole grid is one image scaled once), so a redraw
costs well under a millisecond of Python and the window keeps up with a search without slowing it.
They do no numerics of their own: the values come from the session's `View`.
"""

from __future__ import annotations

import math
import time

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from . import style
from .model.explain import diverging_rgb, rgb_mosaic
from .style import INK, MUTED, class_colour

class PaintMeter:
    """Seconds spent painting since the last `take()`: the session paces its redraws by it."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def add(self, seconds: float) -> None:
        self.seconds += seconds

    def take(self) -> float:
        seconds, self.seconds = self.seconds, 0.0
        return seconds


PAINT = PaintMeter()


def paints_itself(widget: QWidget, width: int, height: int) -> None:
    """Set up a view that paints every pixel of its rectangle: at least width x height, growing with the layout,
    and no repaint of the parent behind it."""
    widget.setMinimumSize(width, height)
    widget.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
    widget.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

GAP = 4  # pixels between grid cells
MIN_CELL = 22  # below this a digit is hard to read: the grid scrolls instead
MAX_CELL = 96


def mosaic(recons: np.ndarray, gap: int = 1) -> np.ndarray:
    """(C, R, H, W) images in [-0.5, 0.5] -> one uint8 (C*(H+gap)-gap, R*(W+gap)-gap) image, white gaps."""
    C, R, H, W = recons.shape
    out = np.full((C * (H + gap) - gap, R * (W + gap) - gap), 255, dtype=np.uint8)
    pixels = (np.clip(recons.astype(np.float32) + 0.5, 0, 1) * 255).round().astype(np.uint8)
    for c in range(C):
        for r in range(R):
            out[c * (H + gap) : c * (H + gap) + H, r * (W + gap) : r * (W + gap) + W] = pixels[c, r]
    return out


def gray_image(a: np.ndarray) -> QImage:
    """(H, W) in [-0.5, 0.5] -> an 8-bit grey QImage (white ink on black, as the model sees it)."""
    pixels = np.ascontiguousarray((np.clip(a.astype(np.float32) + 0.5, 0, 1) * 255).round().astype(np.uint8))
    h, w = pixels.shape
    return QImage(pixels.data, w, h, w, QImage.Format.Format_Grayscale8).copy()


def rgb_image(rgb: np.ndarray) -> QImage:
    """(H, W, 3) uint8 -> an RGB QImage (a copy: the array may change)."""
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """Round tick values from 0 to about `top`."""
    if not (top > 0 and math.isfinite(top)):
        return [0.0]
    raw = top / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    return [i * step for i in range(int(top / step + 1e-9) + 1)]


def tick_text(value: float, step: float) -> str:
    """A tick label with as many decimals as the tick step needs."""
    decimals = 0
    while decimals < 6 and abs(round(step, decimals) - step) > abs(step) * 1e-6:
        decimals += 1
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # a rounding residue is 0, not -0


def _font(points: float, bold: bool = False) -> QFont:
    return style.font(points, bold)


# ------------------------------------------------------------------------------------------ the grid


class ReconstructionGrid(QWidget):
    """What the generator draws for each class (rows) from each restart (columns) at the shown step.

    The closest class's row is framed in black; with several restarts each class's best restart is
    outlined in the class's colour. Cells keep a readable size: when the columns do not fit, the widget
    asks for more width (it sits in a scroll area).
    """

    class_clicked = Signal(int)  # a row was clicked: compare that class with the leader

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setToolTip(
            "What the generator draws for each class (rows) from each starting point (columns), as the\n"
            "search moves the latents. The black frame marks the closest class; with several restarts\n"
            "each class's best restart is outlined in the class's colour. Click a row to compare that\n"
            "class with the winner (Why this class). In the G − d view, red is ink the generator draws\n"
            "that the input does not have, blue is ink of the input that the generator does not draw."
        )
        self.differences = False  # the cells show G(c, z) - d in a diverging colour map
        self.selected: int | None = None
        self.classes, self.restarts = 10, 1
        self.blocks = 1  # the classes in one column of rows, or in side-by-side blocks (set_blocks)
        self._image: QImage | None = None
        self.current: np.ndarray | None = None  # the uint8 mosaic shown (tests, export)
        self.leader: int | None = None
        self.best: np.ndarray | None = None
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)  # it paints every pixel: no parent repaint
        self.setMinimumSize(self._width_for(MIN_CELL), 10 * (MIN_CELL + GAP) + 24)

    def set_shape(self, classes: int, restarts: int) -> None:
        if (classes, restarts) != (self.classes, self.restarts):
            self.classes, self.restarts = classes, restarts
            self.setMinimumWidth(self._width_for(MIN_CELL))
            self.updateGeometry()
            self.update()

    def set_blocks(self, blocks: int) -> None:
        """Lay the classes out in `blocks` side-by-side blocks (presentation mode with one or two restarts: 0-4 and 5-9,
        cells twice as large as one tall column would allow)."""
        blocks = max(1, int(blocks))
        if blocks != self.blocks:
            self.blocks = blocks
            self.rescale()

    @property
    def _label_font(self) -> QFont:
        return _font(11, True)

    def _left(self) -> int:
        return style.px(26)

    def _top(self) -> int:
        return style.px(20)

    def _rows(self) -> int:
        return math.ceil(self.classes / self.blocks)

    def _block_gap(self) -> int:
        return style.px(14) if self.blocks > 1 else 0

    def rescale(self) -> None:
        self.setMinimumSize(self._width_for(MIN_CELL), self._rows() * (MIN_CELL + GAP) + self._top() + 4)
        self.updateGeometry()
        self.update()

    def _width_for(self, cell: int) -> int:
        return self.blocks * (self._left() + self.restarts * (cell + GAP)) + (self.blocks - 1) * self._block_gap() + 4

    def width_for_height(self, height: int) -> int:
        """The width at which cells are as large as `height` allows (the layout gives no more)."""
        return self._width_for(self._cell_for_height(height))

    def _cell_for_height(self, height: int) -> int:
        return int(max(MIN_CELL, min(style.px(MAX_CELL), (height - self._top() - 4) / self._rows() - GAP)))

    def cell(self) -> int:
        block = (self.width() - 4 - (self.blocks - 1) * self._block_gap()) / self.blocks
        by_width = (block - self._left()) / self.restarts - GAP
        return int(max(MIN_CELL, min(by_width, self._cell_for_height(self.height()))))

    def cell_origin(self, c: int, cell: int | None = None) -> tuple[float, float]:
        """The top left corner of class `c`'s first cell (restart 0)."""
        cell = self.cell() if cell is None else cell
        pitch = cell + GAP
        rows = self._rows()
        block, row = divmod(c, rows)
        x = block * (self._left() + self.restarts * pitch + self._block_gap()) + self._left()
        return x, self._top() + row * pitch

    def sizeHint(self) -> QSize:
        return QSize(self._width_for(40), self._top() + self._rows() * (40 + GAP) + 4)

    def show_frame(self, grid: np.ndarray | None, leader: int | None, best: np.ndarray | None,
                   differences: np.ndarray | None = None, selected: int | None = None) -> None:
        """Show the reconstructions, or (given) their signed differences from the input in colour."""
        self.selected = selected
        if grid is None:
            self.clear_grid()
            return
        C, R = grid.shape[:2]
        self.set_shape(C, R)
        self.differences = differences is not None
        if differences is not None:
            self.current = rgb_mosaic(diverging_rgb(differences))
            h, w = self.current.shape[:2]
            self._image = QImage(self.current.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        else:
            self.current = mosaic(grid)
            h, w = self.current.shape
            self._image = QImage(self.current.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
        self.leader, self.best = leader, best
        self.update()

    def row_at(self, y: float, x: float | None = None) -> int | None:
        """The class whose row is at height `y` (in the block at `x`, when the classes are in blocks), or None."""
        pitch = self.cell() + GAP
        k = int((y - self._top()) // pitch)
        block = 0
        if x is not None and self.blocks > 1:
            width = self._left() + self.restarts * pitch + self._block_gap()
            block = min(self.blocks - 1, max(0, int(x // width)))
        c = block * self._rows() + k
        return c if 0 <= k < self._rows() and 0 <= c < self.classes and y >= self._top() else None

    def mousePressEvent(self, event) -> None:
        c = self.row_at(event.position().y(), event.position().x())
        if c is not None and event.button() == Qt.MouseButton.LeftButton:
            self.class_clicked.emit(c)

    def clear_grid(self) -> None:
        self.current, self._image, self.leader, self.best = None, None, None, None
        self.update()

    def paintEvent(self, event) -> None:
        started = time.perf_counter()
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().window())
        cell, left, top = self.cell(), self._left(), self._top()
        pitch = cell + GAP
        C, R = self.classes, self.restarts
        p.setFont(self._label_font)
        fm = QFontMetrics(self._label_font)
        every = max(1, math.ceil((fm.horizontalAdvance("00") + 6) / pitch))  # restart labels never overlap
        p.setPen(QColor(MUTED))
        for b in range(self.blocks):
            x0, _ = self.cell_origin(b * self._rows(), cell)
            for r in range(0, R, every):
                p.drawText(QRectF(x0 + r * pitch, 0, cell, top - 2), Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom, str(r))
        origins = [self.cell_origin(c, cell) for c in range(C)]
        for c, (x, y) in enumerate(origins):
            p.setPen(QColor(INK if c == self.leader else class_colour(c)))
            p.drawText(QRectF(x - left, y, left - 6, cell), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, str(c))
        row_width = R * pitch - GAP
        if self._image is None:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor("#e5e7eb"))
            for x, y in origins:
                for r in range(R):
                    p.drawRect(QRectF(x + r * pitch, y, cell, cell))
        else:
            # the mosaic has 1-pixel gaps; drawing it per cell keeps the GAP-pixel spacing between cells
            H = (self._image.height() + 1) // C - 1
            W = (self._image.width() + 1) // R - 1
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, cell < 2 * W)
            for c, (x, y) in enumerate(origins):
                for r in range(R):
                    p.drawImage(QRectF(x + r * pitch, y, cell, cell), self._image, QRectF(r * (W + 1), c * (H + 1), W, H))
        if self.best is not None and R > 1:
            for c, (x, y) in enumerate(origins):
                pen = QPen(QColor(class_colour(c)), 2.5)
                p.setPen(pen)
                p.setBrush(Qt.BrushStyle.NoBrush)
                r = int(self.best[c])
                p.drawRect(QRectF(x + r * pitch - 1.5, y - 1.5, cell + 3, cell + 3))
        if self.selected is not None and 0 <= self.selected < C and self.selected != self.leader:
            x, y = origins[self.selected]
            p.setPen(QPen(QColor(INK), 2, Qt.PenStyle.DashLine))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(QRectF(x - 3, y - 3, row_width + 6, cell + 6))
        if self.leader is not None and 0 <= self.leader < C:
            x, y = origins[self.leader]
            p.setPen(QPen(QColor(INK), 3))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(QRectF(x - 3, y - 3, row_width + 6, cell + 6))
        p.end()
        PAINT.add(time.perf_counter() - started)


# ------------------------------------------------------------------------------------------ the bars


class DistanceBars(QWidget):
    """The classes ranked by the quantity that decides (closest on top), with the OOC threshold dashed."""

    class_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setToolTip(
            "How far each class's best reconstruction is from the input (L_DD, the image distance that\n"
            "decides), closest first. The closest class is the prediction; its distance is the\n"
            "out-of-class (OOC) score. The dashed line is the OOC threshold. Click a bar to compare that\n"
            "class with the winner (Why this class)."
        )
        paints_itself(self, 220, 110)
        self.distances = np.full(10, np.inf)
        self.order: list[int] = []
        self.leader: int | None = None
        self.threshold = 0.12
        self.top = 0.24
        self.title = "L_DD per class (decides)"

    def set_data(self, distances: np.ndarray, order, leader: int | None, threshold: float | None, top: float, title: str) -> None:
        """`threshold` None: no threshold applies (no line is drawn)."""
        self.distances = np.asarray(distances, dtype=np.float64)
        self.order = list(order)
        self.leader, self.threshold, self.top, self.title = leader, threshold, float(top), title
        self.update()

    def shown_title(self) -> str:
        """The title as it fits: 'L_DD (decides) · step 12', else without '(decides)', else shortened."""
        fm = QFontMetrics(_font(11, True))
        for text in (self.title, self.title.replace(" (decides)", "")):
            if fm.horizontalAdvance(text) <= self.width() - 4:
                return text
        return fm.elidedText(self.title, Qt.TextElideMode.ElideRight, self.width() - 4)

    def _rows(self) -> tuple[float, float]:
        top = style.px(26)
        bottom = QFontMetrics(_font(10)).height() + 8
        return top, (self.height() - top - bottom) / max(len(self.distances), 1)

    def mousePressEvent(self, event) -> None:
        top, row = self._rows()
        i = int((event.position().y() - top) // row) if row > 0 else -1
        order = self.order or list(range(len(self.distances)))
        if 0 <= i < len(order) and event.button() == Qt.MouseButton.LeftButton:
            self.class_clicked.emit(int(order[i]))

    def paintEvent(self, event) -> None:
        started = time.perf_counter()
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("white"))
        small, bold = _font(10), _font(11, True)
        fm = QFontMetrics(small)
        p.setFont(bold)
        p.setPen(QColor(INK))
        p.drawText(QRectF(0, 2, self.width(), style.px(20)), Qt.AlignmentFlag.AlignHCenter, self.shown_title())
        left, right, top, bottom = style.px(30), 14, style.px(26), fm.height() + 8
        w, h = self.width() - left - right, self.height() - top - bottom
        scale = w / self.top if self.top > 0 else 0
        ticks = nice_ticks(self.top)
        step = ticks[1] - ticks[0] if len(ticks) > 1 else self.top
        p.setFont(small)
        for t in ticks:
            x = left + t * scale
            p.setPen(QPen(QColor("#e5e7eb"), 1))
            p.drawLine(QPointF(x, top), QPointF(x, top + h))
            p.setPen(QColor(MUTED))
            p.drawText(QRectF(x - 40, top + h + 2, 80, fm.height()), Qt.AlignmentFlag.AlignHCenter, tick_text(t, step))
        n = len(self.distances)
        row = h / max(n, 1)
        for i, c in enumerate(self.order or range(n)):
            y = top + i * row
            label_font = bold if c == self.leader else small
            p.setFont(label_font)
            p.setPen(QColor(INK if c == self.leader else class_colour(c)))
            p.drawText(QRectF(0, y, left - 6, row), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, str(c))
            d = self.distances[c] if self.order else np.inf
            if not np.isfinite(d):
                continue
            length = min(d, self.top) * scale
            colour = QColor(class_colour(c))
            colour.setAlpha(235 if c == self.leader else 150)
            p.setBrush(colour)
            p.setPen(QPen(QColor(INK), 2) if c == self.leader else Qt.PenStyle.NoPen)
            p.drawRect(QRectF(left, y + row * 0.15, length, row * 0.7))
            if d > self.top:  # off the scale: say so
                p.setPen(QColor(INK))
                p.drawText(QRectF(left + w - 30, y, 30, row), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, "▶")
        if self.threshold is not None:
            x = left + min(self.threshold, self.top) * scale
            p.setPen(QPen(QColor(INK), 2, Qt.PenStyle.DashLine))
            p.drawLine(QPointF(x, top - 4), QPointF(x, top + h))
        p.end()
        PAINT.add(time.perf_counter() - started)


# ------------------------------------------------------------------------------------------ the gauge


class OOCGauge(QWidget):
    """The OOC score as a bar on a fixed scale, with the threshold as a marker the user can drag."""

    threshold_dragged = Signal(float)
    threshold_reset = Signal()  # double-click: back to the measured threshold

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.rescale()
        self.setMinimumWidth(240)
        self.setCursor(Qt.CursorShape.SizeHorCursor)
        self.ooc: float | None = None
        self.threshold = 0.12
        self.top = 0.24
        self.outside = False
        self.provisional = True
        self.label = ""
        self.short = ""
        self._dragging = False
        self._pressed_x = 0.0

    def set_data(self, ooc: float | None, threshold: float | None, top: float, outside: bool, provisional: bool, label: str,
                 short: str = "") -> None:
        """`threshold` None: no threshold applies (no marker; the label says why). `short`: the caption where `label`
        does not fit (large letters on a narrow screen); the whole label is in the tooltip."""
        self.ooc = ooc if ooc is not None and math.isfinite(ooc) else None
        self.threshold, self.top, self.outside, self.provisional, self.label = threshold, float(top), outside, provisional, label
        self.short = short
        self.update()

    def caption(self) -> str:
        """The caption as painted at this width: the label, else the short one, else the label shortened with '…'."""
        fm = QFontMetrics(_font(10))
        x = self._x(self.threshold) if self.threshold is not None else self.width() / 2
        for text in (self.label, self.short):
            if text and self.caption_rect(fm.horizontalAdvance(text) + 4, x).width() >= fm.horizontalAdvance(text) + 4:
                return text
        rect = self.caption_rect(fm.horizontalAdvance(self.label) + 4, x)
        return fm.elidedText(self.label, Qt.TextElideMode.ElideRight, int(rect.width()))

    def rescale(self) -> None:
        fm = QFontMetrics(_font(10))
        self.setFixedHeight(2 * fm.height() + style.px(16) + 12)

    def _track(self) -> QRectF:
        top = QFontMetrics(_font(10)).height() + 6  # the caption's row, then the marker's head
        return QRectF(8, top, self.width() - 16, style.px(16))

    def caption_rect(self, width: float, x: float) -> QRectF:
        """Where the threshold's caption goes: beside the marker's head (right of it, else left), never on it; on
        the side with more room, shortened to fit, when neither side holds all of it."""
        h = QFontMetrics(_font(10)).height()
        gap = 10
        right, left = self.width() - x - gap, x - gap
        if width <= right:
            return QRectF(x + gap, 0, width, h)
        if width <= left:
            return QRectF(x - gap - width, 0, width, h)
        if right >= left:
            return QRectF(x + gap, 0, max(right, 0), h)
        return QRectF(0, 0, max(left, 0), h)

    def _x(self, value: float) -> float:
        t = self._track()
        return t.left() + max(0.0, min(value, self.top)) / self.top * t.width() if self.top > 0 else t.left()

    def _value(self, x: float) -> float:
        t = self._track()
        return max(0.0, min(1.0, (x - t.left()) / t.width())) * self.top

    def paintEvent(self, event) -> None:
        started = time.perf_counter()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        t = self._track()
        small = _font(10)
        fm = QFontMetrics(small)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("#e5e7eb"))
        p.drawRoundedRect(t, 3, 3)
        if self.ooc is not None:
            bar = QRectF(t.left(), t.top(), self._x(self.ooc) - t.left(), t.height())
            colour = QColor(MUTED if self.provisional else INK)
            p.setBrush(QBrush(colour, Qt.BrushStyle.BDiagPattern) if self.outside else QBrush(colour))
            p.setPen(QPen(colour, 1.5))
            p.drawRect(bar)
        x = self._x(self.threshold) if self.threshold is not None else self.width() / 2
        if self.threshold is not None:
            p.setPen(QPen(QColor(INK), 2.5))
            p.drawLine(QPointF(x, t.top() - 4), QPointF(x, t.bottom() + 4))
            p.setBrush(QColor(INK))
            p.drawPolygon([QPointF(x - 6, t.top() - 10), QPointF(x + 6, t.top() - 10), QPointF(x, t.top() - 3)])
        p.setFont(small)
        p.setPen(QColor(INK))
        text = self.caption()  # the whole text is the tooltip
        rect = self.caption_rect(fm.horizontalAdvance(text) + 4, x)
        p.drawText(rect, Qt.AlignmentFlag.AlignVCenter | (Qt.AlignmentFlag.AlignLeft if rect.left() > x else Qt.AlignmentFlag.AlignRight), text)
        ticks = nice_ticks(self.top, 5)
        step = ticks[1] - ticks[0] if len(ticks) > 1 else self.top
        p.setPen(QColor(MUTED))
        for v in ticks:
            text = tick_text(v, step)
            half = fm.horizontalAdvance(text) / 2 + 2
            tx = min(max(self._x(v), half), self.width() - half)  # the end labels stay inside
            p.drawText(QRectF(tx - half, t.bottom() + 3, 2 * half, fm.height()), Qt.AlignmentFlag.AlignHCenter, text)
        p.end()
        PAINT.add(time.perf_counter() - started)

    def mousePressEvent(self, event) -> None:
        # a press alone moves nothing (a click to see the tooltip, the first half of a double-click): a drag does
        if event.button() == Qt.MouseButton.LeftButton:
            self._dragging = True
            self._pressed_x = event.position().x()

    def mouseMoveEvent(self, event) -> None:
        if self._dragging and abs(event.position().x() - self._pressed_x) >= 3:
            self._pressed_x = -1e9  # past the dead zone: the marker follows the mouse from now on
            self.threshold_dragged.emit(self._value(event.position().x()))

    def mouseReleaseEvent(self, event) -> None:
        self._dragging = False

    def mouseDoubleClickEvent(self, event) -> None:
        self._dragging = False
        self.threshold_reset.emit()
