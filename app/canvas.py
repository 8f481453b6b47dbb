"""The drawing canvas (mouse or tablet) and the 28x28 view of what the engine receives."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QSizePolicy, QWidget

SHEET = 280  # the canvas's own resolution in pixels (10x MNIST); the widget scales it to fit
UNDO_DEPTH = 50


class DrawingCanvas(QWidget):
    """A square sheet of paper to draw a digit on: dark ink on white, brush size, eraser, undo, clear.

    The sheet is kept as an 8-bit greyscale image at `WIDTH` x `HEIGHT` (`SHEET` square; 0 = paper, 255 = ink)
    whatever the widget's size, so strokes look the same on a laptop and on a projector.
    """

    WIDTH, HEIGHT = SHEET, SHEET

    stroke_finished = Signal()  # a stroke ended (mouse or pen released), or undo/clear/set_image changed it
    changed = Signal()  # the sheet changed in any way (also during a stroke)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._sheet = QImage(self.WIDTH, self.HEIGHT, QImage.Format.Format_Grayscale8)
        self._sheet.fill(0)
        self._undo: list[QImage] = []
        self._brush = 22.0
        self._eraser = False
        self._last: QPointF | None = None
        self._drawing = False
        self.setMinimumSize(200, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setAttribute(Qt.WidgetAttribute.WA_TabletTracking, False)
        self.setToolTip(
            "Draw a digit here with the mouse or a pen.\n"
            "It is framed like MNIST (fitted into 20x20, centred in 28x28) before the search sees it."
        )

    # ------------------------------------------------------------------ properties
    def sizeHint(self) -> QSize:
        """As large as allowed (the input panel caps it to keep it square and leave room below)."""
        limit = self.maximumSize()
        return QSize(340, 340) if limit.width() > 4000 else limit

    def set_brush_size(self, size: float) -> None:
        """Brush diameter in sheet pixels (the sheet is 280 wide; MNIST strokes are about 2-3 of 28)."""
        self._brush = float(max(1.0, min(80.0, size)))

    @property
    def eraser(self) -> bool:
        return self._eraser

    def set_eraser(self, on: bool) -> None:
        self._eraser = bool(on)

    def is_empty(self) -> bool:
        return not self.to_array().any()

    # ------------------------------------------------------------------ content
    def to_array(self) -> np.ndarray:
        """The sheet as float32 (HEIGHT, WIDTH) in [0, 1], ink = 1."""
        img = self._sheet
        ptr = img.constBits()
        arr = np.frombuffer(ptr, dtype=np.uint8, count=img.sizeInBytes()).reshape(img.height(), img.bytesPerLine())
        return arr[:, : img.width()].astype(np.float32) / 255.0

    def set_array(self, image01: np.ndarray, record_undo: bool = True) -> None:
        """Show an image (any size, [0, 1], ink = 1) on the sheet, scaled to fill it."""
        arr = np.clip(np.asarray(image01, dtype=np.float32), 0, 1)
        u8 = np.ascontiguousarray((arr * 255).round().astype(np.uint8))
        src = QImage(u8.data, u8.shape[1], u8.shape[0], u8.strides[0], QImage.Format.Format_Grayscale8).copy()
        if record_undo:
            self._push_undo()
        scaled = src.scaled(self.WIDTH, self.HEIGHT, Qt.AspectRatioMode.IgnoreAspectRatio,
                            Qt.TransformationMode.SmoothTransformation)
        self._sheet = scaled.convertToFormat(QImage.Format.Format_Grayscale8)
        self.update()
        self.changed.emit()

    def clear(self) -> None:
        if self.is_empty():
            return
        self._push_undo()
        self._sheet.fill(0)
        self.update()
        self.changed.emit()
        self.stroke_finished.emit()

    def undo(self) -> None:
        if not self._undo:
            return
        self._sheet = self._undo.pop()
        self.update()
        self.changed.emit()
        self.stroke_finished.emit()

    def _push_undo(self) -> None:
        self._undo.append(self._sheet.copy())
        del self._undo[:-UNDO_DEPTH]

    # ------------------------------------------------------------------ geometry
    def _target(self) -> QRectF:
        side = min(self.width(), self.height())
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def _to_sheet(self, pos: QPointF) -> QPointF:
        r = self._target()
        return QPointF((pos.x() - r.x()) * self.WIDTH / r.width(), (pos.y() - r.y()) * self.HEIGHT / r.height())

    # ------------------------------------------------------------------ painting strokes
    def _begin(self, pos: QPointF) -> None:
        self._push_undo()
        self._drawing = True
        self._last = self._to_sheet(pos)
        self._dab(self._last, self._last, 1.0)

    def _move(self, pos: QPointF, pressure: float = 1.0) -> None:
        if not self._drawing:
            return
        p = self._to_sheet(pos)
        self._dab(self._last, p, pressure)
        self._last = p

    def _end(self) -> None:
        if not self._drawing:
            return
        self._drawing = False
        self._last = None
        self.stroke_finished.emit()

    def _dab(self, a: QPointF, b: QPointF, pressure: float) -> None:
        painter = QPainter(self._sheet)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        width = max(1.0, self._brush * (0.4 + 0.6 * pressure))
        colour = QColor(0, 0, 0) if self._eraser else QColor(255, 255, 255)
        pen = QPen(colour, width * (1.6 if self._eraser else 1.0), Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        if a == b:
            path = QPainterPath(a)
            path.lineTo(a + QPointF(0.01, 0.01))
            painter.drawPath(path)
        else:
            painter.drawLine(a, b)
        painter.end()
        self.update()
        self.changed.emit()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._begin(event.position())
        elif event.button() == Qt.MouseButton.RightButton:  # right button erases, like many paint programs
            was = self._eraser
            self._eraser = True
            self._begin(event.position())
            self._eraser_restore = was
        event.accept()

    def mouseMoveEvent(self, event) -> None:
        self._move(event.position())
        event.accept()

    def mouseReleaseEvent(self, event) -> None:
        self._end()
        if hasattr(self, "_eraser_restore"):
            self._eraser = self._eraser_restore
            del self._eraser_restore
        event.accept()

    def tabletEvent(self, event) -> None:
        kind = event.type()
        pos, pressure = event.position(), float(event.pressure() or 1.0)
        if kind == event.Type.TabletPress:
            self._begin(pos)
        elif kind == event.Type.TabletMove:
            self._move(pos, pressure)
        elif kind == event.Type.TabletRelease:
            self._end()
        event.accept()  # accepted: Qt then does not synthesise mouse events for the pen

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        r = self._target()
        # shown as dark ink on white paper; stored as MNIST does it (ink = bright)
        shown = self._sheet.copy()
        shown.invertPixels()
        painter.drawImage(r, shown)
        painter.setPen(QPen(QColor("#9aa5b1"), 2))
        painter.drawRect(r.adjusted(1, 1, -1, -1))
        if self.is_empty() and not self._drawing:
            painter.setPen(QColor("#9aa5b1"))
            font = painter.font()
            font.setPointSizeF(max(11.0, r.width() / 22))
            painter.setFont(font)
            painter.drawText(r, Qt.AlignmentFlag.AlignCenter, "draw a digit here")
        painter.end()


class DigitView(QWidget):
    """A 28x28 image shown large with visible pixels (white ink on black, as the model sees it)."""

    def __init__(self, title: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self._pixmap: QPixmap | None = None
        self._title = title
        self.setMinimumSize(112, 112)

    def sizeHint(self) -> QSize:
        return self.minimumSize()  # it grows into room the layout has to spare, never takes it from the canvas

    def set_image(self, image01: np.ndarray | None) -> None:
        """Show a (H, W) image in [0, 1] (ink = 1); None shows an empty frame."""
        if image01 is None:
            self._pixmap = None
        else:
            u8 = np.ascontiguousarray((np.clip(image01, 0, 1) * 255).round().astype(np.uint8))
            img = QImage(u8.data, u8.shape[1], u8.shape[0], u8.strides[0], QImage.Format.Format_Grayscale8).copy()
            self._pixmap = QPixmap.fromImage(img)
        self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        side = min(self.width(), self.height())
        r = QRectF(0, 0, side, side)  # top left, level with the text beside it
        painter.fillRect(r, QColor("black"))
        if self._pixmap is not None:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            painter.drawPixmap(r.toRect(), self._pixmap)
        else:
            painter.setPen(QColor("#7b8794"))
            font = painter.font()  # as large as fits the square (a projector's large letters would be cut)
            while font.pointSizeF() > 6 and QFontMetrics(font).horizontalAdvance("no input") > side - 8:
                font.setPointSizeF(font.pointSizeF() - 0.5)
            painter.setFont(font)
            painter.drawText(r, Qt.AlignmentFlag.AlignCenter, "no input")
        painter.setPen(QPen(QColor("#9aa5b1"), 1))
        painter.drawRect(r.adjusted(0, 0, -1, -1))
        painter.end()
