"""The two-digit mode's screen (issue 11): a 1:2 canvas, the tens and units searches, the number they read.

Shown instead of the input and result panels while a two-digit checkpoint is loaded (the window switches).
Like the other panels it draws a view (`app.two_digit.TwoDigitView`) and emits intents; the search itself
is the session's. Per row of the grid: the class the search fixed, what the generator draws from each
restart, the row's L_DD as a bar, and the other label's relaxed condition (paper Sec. 1.4) as 10 small bars
that move while the search runs.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPen
from PySide6.QtWidgets import (
    QComboBox, QFrame, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSlider, QToolButton,
    QVBoxLayout, QWidget,
)

from igc_core import checkpoints, data, framing
from igc_core.framing import frame_number
from igc_core.multilabel import MODES
from igc_core.pairs import compose, fixed_pairs

from ..canvas import DrawingCanvas
from ..model.settings import NOISE_MAX
from ..model.two_digit import CLASSES, LABELS, TwoDigitView
from ..noisy_input import NoisyInput
from ..style import INK, MUTED, TIPS, VERDICT_MARKS, VERDICT_TINTS, class_colour
from ..widgets import PAINT, mosaic

SAMPLES = checkpoints.ASSETS / "samples"
MODE_TIPS = ("per-label (paper Sec. 1.4): tens fixed to each class with the units' condition relaxed and searched,\n"
             "then the other way round: 10 + 10 searches. exhaustive: every combination fixed, 100 searches.")


def _font(points: float, bold: bool = False) -> QFont:
    f = QFont()
    f.setPointSizeF(points)
    f.setBold(bold)
    return f


class WideCanvas(DrawingCanvas):
    """The drawing canvas with a 1:2 sheet (560 x 280) for a number of two digits."""

    WIDTH, HEIGHT = 560, 280

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(200, 100)
        self.setToolTip("Draw a number of two digits here with the mouse or a pen.\n"
                        "It is framed like the training pairs (fitted into 22x44, centred in 28x56).")

    def sizeHint(self) -> QSize:
        return QSize(360, 180)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return width // 2

    def _target(self) -> QRectF:
        w = min(self.width(), 2 * self.height())
        return QRectF((self.width() - w) / 2, (self.height() - w / 2) / 2, w, w / 2)


class NumberView(QWidget):
    """A 28 x 56 image shown with visible pixels, white ink on black (what the model sees)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._image: QImage | None = None
        self.setMinimumSize(112, 56)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return width // 2

    def sizeHint(self) -> QSize:
        return QSize(168, 84)

    def set_image(self, image01: np.ndarray | None) -> None:
        if image01 is None:
            self._image = None
        else:
            u8 = np.ascontiguousarray((np.clip(image01, 0, 1) * 255).round().astype(np.uint8))
            self._image = QImage(u8.data, u8.shape[1], u8.shape[0], u8.strides[0], QImage.Format.Format_Grayscale8).copy()
        self.update()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        w = min(self.width(), 2 * self.height())
        r = QRectF(0, 0, w, w / 2)
        p.fillRect(r, QColor("black"))
        if self._image is not None:
            p.drawImage(r, self._image)
        else:
            p.setPen(QColor("#7b8794"))
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, "no input")
        p.end()


class TwoDigitGrid(QWidget):
    """The tens search (left, 10 rows) and the units search (right, 10 rows), painted in one pass.

    Row k of a block: the class the search fixed, the reconstructions (one per restart, the best framed),
    the row's distance as a bar, and the other label's condition as 10 bars (they sum to 1)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.view: TwoDigitView | None = None
        self._image: QImage | None = None
        self.restarts = 1
        self.setMinimumSize(520, 300)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setToolTip("Left: the tens search, one row per tens digit it fixed; right: the units search.\n"
                        "Each row: what the generator draws (one picture per restart, the best framed), the\n"
                        "row's distance L_DD (shortest bar wins), and the other digit's relaxed condition:\n"
                        "10 bars (0-9) that sum to 1, searched together with the latent (paper Sec. 1.4).\n"
                        "In the exhaustive mode each row shows the best of the 10 combinations holding its digit,\n"
                        "and the bars the one digit that combination fixed.")
        self._font = _font(9)
        self._big = _font(10, True)

    def show_view(self, view: TwoDigitView) -> None:
        self.view = view
        if view.grid is not None:
            self.restarts = view.grid.shape[1]
            self._image = self._qimage(mosaic(view.grid))
        else:
            self._image = None
        self.update()

    @staticmethod
    def _qimage(u8: np.ndarray) -> QImage:
        u8 = np.ascontiguousarray(u8)
        return QImage(u8.data, u8.shape[1], u8.shape[0], u8.strides[0], QImage.Format.Format_Grayscale8).copy()

    def paintEvent(self, event) -> None:
        started = time.perf_counter()
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().window())
        v = self.view
        fm = QFontMetrics(self._font)
        title_h = fm.height() + 6
        gap = 12
        block_w = (self.width() - gap) / 2
        pitch = (self.height() - title_h) / CLASSES
        cell_h = max(8.0, pitch - 4)
        for k in range(2):
            x0 = k * (block_w + gap)
            self._paint_block(p, v, k, x0, block_w, title_h, pitch, cell_h, fm)
        p.end()
        PAINT.add(time.perf_counter() - started)

    def _paint_block(self, p, v, k, x0, block_w, title_h, pitch, cell_h, fm) -> None:
        other = LABELS[1 - k]
        exhaustive = v is not None and v.mode == "exhaustive"
        p.setFont(self._big)
        p.setPen(QColor(INK))
        title = f"{LABELS[k]} search: " + ("best of 10" if exhaustive else f"{other} relaxed")
        p.drawText(QRectF(x0, 0, block_w, title_h), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, title)
        title_end = x0 + p.fontMetrics().horizontalAdvance(title) + 8  # captions right of the title never cover it
        label_w = fm.horizontalAdvance("0") + 10
        R = self.restarts
        cell_w = 2 * cell_h
        strip_w = max(60.0, min(110.0, block_w * 0.24))
        images_w = R * (cell_w + 3)
        bar_w = max(30.0, block_w - label_w - images_w - strip_w - 16)
        if bar_w < 40 and R > 1:  # too narrow for every restart: shrink the pictures
            cell_w = max(16.0, (block_w - label_w - strip_w - 56) / R - 3)
            images_w = R * (cell_w + 3)
            bar_w = 40.0
        p.setFont(self._font)
        p.setPen(QColor(MUTED))
        strip_x = x0 + block_w - strip_w
        if x0 + block_w - p.fontMetrics().horizontalAdvance(f"{other} 0–9") >= title_end:
            p.drawText(QRectF(strip_x, 0, strip_w, title_h), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                       f"{other} 0–9")
        rank = v.labels[k] if v is not None else None
        finite = v.distances[k * CLASSES:(k + 1) * CLASSES] if v is not None and v.has_run else None
        known = finite[np.isfinite(finite)] if finite is not None else np.zeros(0)
        # the bars show how far each row is above the block's best (the differences decide, not the level)
        best, spread = (float(known.min()), float(known.max() - known.min())) if len(known) else (0.0, 0.0)
        bars_end = x0 + label_w + images_w + 6 + bar_w
        if bars_end - p.fontMetrics().horizontalAdvance("L_DD − best") >= title_end:  # else the tooltip says it
            p.drawText(QRectF(x0 + label_w + images_w + 6, 0, bar_w, title_h),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, "L_DD − best")
        for c in range(CLASSES):
            y = title_h + c * pitch
            row = k * CLASSES + c
            leader = rank is not None and rank.leader == c
            p.setFont(self._big if leader else self._font)
            p.setPen(QColor(INK if leader else class_colour(c)))
            p.drawText(QRectF(x0, y, label_w - 4, cell_h), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, str(c))
            x = x0 + label_w
            for r in range(R):
                rect = QRectF(x + r * (cell_w + 3), y, cell_w, cell_h)
                if self._image is None:
                    p.fillRect(rect, QColor("#e5e7eb"))
                else:
                    H, W = 28, 56
                    p.drawImage(rect, self._image, QRectF(r * (W + 1), row * (H + 1), W, H))
                if R > 1 and v is not None and v.best_restart is not None and int(v.best_restart[row]) == r:
                    p.setPen(QPen(QColor(class_colour(c)), 2))
                    p.setBrush(Qt.BrushStyle.NoBrush)
                    p.drawRect(rect.adjusted(-1, -1, 1, 1))
            if leader:
                p.setPen(QPen(QColor(INK), 2.5))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRect(QRectF(x - 3, y - 2, images_w + 2, cell_h + 4))
            # the row's distance
            bx = x + images_w + 6
            if finite is not None and np.isfinite(finite[c]):
                frac = (float(finite[c]) - best) / spread if spread > 0 else 0.0
                p.fillRect(QRectF(bx, y + cell_h * 0.25, max(1.0, (bar_w - 44) * frac), cell_h * 0.5),
                           QColor(INK if leader else class_colour(c)))
                p.setPen(QColor(INK if leader else MUTED))
                p.drawText(QRectF(bx, y, bar_w, cell_h), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                           f"{float(finite[c]):.4f}")
            # the other label's condition: 10 bars summing to 1
            self._paint_strip(p, v.others[row] if v is not None and v.others is not None else None,
                              QRectF(strip_x, y, strip_w, cell_h))

    @staticmethod
    def _paint_strip(p, probs, rect: QRectF) -> None:
        p.fillRect(rect, QColor("#f3f4f6"))
        w = rect.width() / CLASSES
        if probs is None:
            return
        peak = int(np.argmax(probs))
        for j in range(CLASSES):
            h = float(np.clip(probs[j], 0, 1)) * (rect.height() - 2)
            colour = QColor(class_colour(j))
            if j != peak:
                colour.setAlpha(150)
            p.fillRect(QRectF(rect.left() + j * w + 1, rect.bottom() - 1 - h, max(1.0, w - 2), h), colour)


class TwoDigitPanel(NoisyInput, QWidget):
    """Input (1:2 canvas, files, random test pairs, noise, the search mode) and the two-digit result."""

    edited = Signal()  # the input or the mode changed: the window may re-run
    noise_changed = Signal(float)
    message = Signal(str, str)

    def __init__(self, data_dir: str | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.data_dir = data_dir
        self.seed = 0
        self._exact: np.ndarray | None = None
        self.input_name = "canvas"
        self.true_label: int | None = None
        self._pairs = None
        self._pairs_tried = False
        self._quiet = False
        self._tint = None
        self._build()

    # ------------------------------------------------------------------------------------ building
    def _build(self) -> None:
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(8)
        box = QGroupBox("Input: a number of two digits")
        lay = QVBoxLayout(box)
        lay.setContentsMargins(6, 10, 6, 6)
        lay.setSpacing(4)
        self.canvas = WideCanvas()
        self.canvas.stroke_finished.connect(self._on_stroke_finished)
        self.canvas.changed.connect(self._on_canvas_changed)
        lay.addWidget(self.canvas)
        tools, files = QHBoxLayout(), QHBoxLayout()
        self.undo_button = QToolButton(text="↶ Undo", toolTip=TIPS["undo"])
        self.undo_button.clicked.connect(self.canvas.undo)
        self.clear_button = QToolButton(text="✕ Clear", toolTip=TIPS["clear"])
        self.clear_button.clicked.connect(self.clear_canvas)
        self.open_button = QPushButton("Open image…", toolTip=TIPS["open"])
        self.random_button = QPushButton("Random pair", toolTip="A two-digit number from the fixed list of test pairs "
                                         "(MNIST test digits; the shipped samples without the data set).")
        self.random_button.clicked.connect(self.pick_random_pair)
        for i, b in enumerate((self.undo_button, self.clear_button, self.open_button, self.random_button)):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            (tools if i < 2 else files).addWidget(b)
        lay.addLayout(tools)
        lay.addLayout(files)
        form = QGridLayout()
        form.addWidget(QLabel("Search"), 0, 0)
        self.mode_box = QComboBox(toolTip=MODE_TIPS)
        self.mode_box.addItems(list(MODES))
        self.mode_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.mode_box.currentTextChanged.connect(lambda _t: self.edited.emit())
        form.addWidget(self.mode_box, 0, 1)
        self.noise_label = QLabel("noise σ 0.00", toolTip=TIPS["noise"])
        self.noise_slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=int(round(NOISE_MAX * 100)), value=0,
                                    toolTip=TIPS["noise"])
        self.noise_slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.noise_slider.valueChanged.connect(self._on_noise)
        form.addWidget(self.noise_label, 1, 0)
        form.addWidget(self.noise_slider, 1, 1)
        lay.addLayout(form)
        seen = QLabel("What the model sees (28×56)")
        seen.setStyleSheet(f"color: {MUTED};")
        lay.addWidget(seen)
        self.engine_view = NumberView()
        lay.addWidget(self.engine_view)
        self.source_label = QLabel("canvas")
        self.source_label.setWordWrap(True)
        lay.addWidget(self.source_label)
        lay.addStretch(1)
        box.setMinimumWidth(280)
        box.setMaximumWidth(420)
        row.addWidget(box, 4)

        right = QVBoxLayout()
        right.setSpacing(6)
        self.head = QFrame(objectName="head")
        head = QHBoxLayout(self.head)
        head.setContentsMargins(10, 4, 10, 4)
        self.number_label = QLabel("–")
        self.number_label.setFont(_font(34, True))
        self.number_label.setMinimumWidth(QFontMetrics(self.number_label.font()).horizontalAdvance("00?") + 12)
        self.number_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        head.addWidget(self.number_label)
        words = QVBoxLayout()
        self.verdict_label = QLabel("no search yet")
        self.verdict_label.setFont(_font(15, True))
        self.detail_label = QLabel("")
        self.detail_label.setWordWrap(True)
        words.addWidget(self.verdict_label)
        words.addWidget(self.detail_label)
        head.addLayout(words, 1)
        right.addWidget(self.head)
        self.grid = TwoDigitGrid()
        right.addWidget(self.grid, 1)
        row.addLayout(right, 11)
        self._set_tint("none")

    def _set_tint(self, kind: str) -> None:
        tint = VERDICT_TINTS.get(kind, "white")
        if tint != self._tint:
            self._tint = tint
            self.head.setStyleSheet(f"#head {{ background: {tint}; border: 1px solid #cbd2d9; border-radius: 8px; }}")

    # ------------------------------------------------------------------------------------ the view
    def render(self, v: TwoDigitView) -> None:
        verdict = v.verdict
        final = verdict.kind not in ("provisional", "none")
        self._set_tint(verdict.kind if final else "none")
        self.number_label.setText(verdict.big)
        self.number_label.setStyleSheet(f"color: {INK if final else MUTED};")
        mark = VERDICT_MARKS.get(verdict.kind, "")
        self.verdict_label.setText(f"{mark} {verdict.headline}" if mark else verdict.headline)
        self.detail_label.setText(verdict.detail)
        self.grid.show_view(v)

    @property
    def mode(self) -> str:
        return self.mode_box.currentText()

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"the two-digit search is one of {', '.join(MODES)}, not {mode!r}")
        self.mode_box.setCurrentText(mode)

    # ------------------------------------------------------------------------------------ the input
    EMPTY_MESSAGE = ("the canvas is empty: draw a two-digit number first (or open an image, "
                     "or pick a random pair)")

    def frame(self, drawing: np.ndarray) -> np.ndarray:
        return frame_number(drawing)

    def _set_source(self, name: str, true_label: int | None = None) -> None:
        self.input_name, self.true_label = name, true_label
        self.source_label.setText(name if true_label is None else f"{name} · true number {true_label:02d}")

    def test_pairs(self):
        """The fixed test pairs (`igc evaluate --task two-digit`'s list) when MNIST is on disk, else None."""
        if not self._pairs_tried:
            self._pairs_tried = True
            folders = ([Path(self.data_dir)] if self.data_dir else []) + [data.default_data_dir(),
                                                                       Path(__file__).resolve().parents[2].parent / "shared" / "mnist"]
            for folder in folders:
                try:
                    self._pairs = fixed_pairs(data.load_dataset(folder, "test", download=False), 2000)
                    break
                except (data.DataError, OSError):
                    continue
        return self._pairs

    def pick_pair(self, index: int) -> bool:
        """Test pair number `index` of the fixed list; False without the data set."""
        pairs = self.test_pairs()
        if pairs is None or not 0 <= index < len(pairs):
            return False
        tens, units = (int(k) for k in pairs.labels[index])
        self.set_input_image(pairs.images[index] / 255.0, f"test pair #{index}", 10 * tens + units)
        return True

    def pick_random_pair(self) -> None:
        pairs = self.test_pairs()
        if pairs is not None:
            self.pick_pair(random.randrange(len(pairs)))
            return
        tens, units = random.randrange(10), random.randrange(10)  # no data set: the shipped sample digits
        try:
            digits = [framing.load_image(SAMPLES / f"{d}.png") for d in (tens, units)]
        except data.DataError as exc:
            self.message.emit(f"No test pairs found (no MNIST data folder and {exc}).", "warning")
            return
        number = compose(digits[0][None], digits[1][None], np.random.default_rng())[0]
        self.set_input_image(number, f"samples {tens} and {units}", 10 * tens + units)
