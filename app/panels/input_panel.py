"""The input: a canvas to draw on, files and sample digits, the noise slider, and what the model sees."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QGridLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSlider, QToolButton, QVBoxLayout, QWidget,
)

from igc_core import checkpoints, data, framing

from ..canvas import DigitView, DrawingCanvas
from ..model.settings import NOISE_MAX
from ..noisy_input import NoisyInput
from ..style import TIPS

REPO = Path(__file__).resolve().parents[2]
SAMPLES = checkpoints.ASSETS / "samples"


class InputPanel(NoisyInput, QWidget):
    """Owns the input image: drawn, opened or sampled; emits when it changes so the window can re-run."""

    edited = Signal()  # a stroke ended, a file or sample was loaded, the canvas was cleared or the noise moved
    noise_changed = Signal(float)
    message = Signal(str, str)  # text, level: for the window's banner

    def __init__(self, data_dir: str | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.data_dir = data_dir
        self.seed = 0  # the noise pattern follows the search seed
        self._exact: np.ndarray | None = None  # a loaded image/sample, exact until the user draws on it
        self.input_name = "canvas"
        self.true_label: int | None = None
        self._dataset = None
        self._dataset_tried = False
        self._cursor: dict[int, int] = {}
        self._quiet = False
        self._preview_timer = QTimer(self, singleShot=True, interval=30)
        self._preview_timer.timeout.connect(self.update_preview)
        self._build()

    # ------------------------------------------------------------------------------------ building
    def _build(self) -> None:
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(6)
        self.box = box = QGroupBox("Input")
        lay = QVBoxLayout(box)
        lay.setContentsMargins(6, 10, 6, 6)
        lay.setSpacing(4)
        self.canvas = DrawingCanvas()
        self.canvas.setMinimumSize(120, 120)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.canvas.changed.connect(self._on_canvas_changed)
        self.canvas.stroke_finished.connect(self._on_stroke_finished)
        lay.addWidget(self.canvas, 1)

        tools = QHBoxLayout()
        self.eraser_button = QToolButton(text="⌫ Erase", checkable=True, toolTip=TIPS["eraser"])
        self.eraser_button.toggled.connect(self.set_eraser)
        self.undo_button = QToolButton(text="↶ Undo", toolTip=TIPS["undo"])
        self.undo_button.clicked.connect(self.canvas.undo)
        self.clear_button = QToolButton(text="✕ Clear", toolTip=TIPS["clear"])
        self.clear_button.clicked.connect(self.clear_canvas)
        for b in (self.eraser_button, self.undo_button, self.clear_button):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            tools.addWidget(b)
        lay.addLayout(tools)
        self.brush_row = QWidget()
        brush_row = QHBoxLayout(self.brush_row)
        brush_row.setContentsMargins(0, 0, 0, 0)
        brush_row.addWidget(QLabel("Brush"))
        self.brush_slider = QSlider(Qt.Orientation.Horizontal, minimum=4, maximum=60, value=22, toolTip=TIPS["brush"])
        self.brush_slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.brush_slider.valueChanged.connect(lambda v: self.canvas.set_brush_size(v))
        brush_row.addWidget(self.brush_slider, 1)
        lay.addWidget(self.brush_row)

        self.file_row = QWidget()
        file_row = QHBoxLayout(self.file_row)
        file_row.setContentsMargins(0, 0, 0, 0)
        self.open_button = QPushButton("Open image…", toolTip=TIPS["open"])
        self.random_button = QPushButton("Random digit", toolTip=TIPS["random"])
        self.random_button.clicked.connect(self.pick_random_sample)
        for b in (self.open_button, self.random_button):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            file_row.addWidget(b)
        lay.addWidget(self.file_row)
        digits = QGridLayout()
        digits.setSpacing(2)
        self.digit_buttons = []
        for d in range(10):
            b = QPushButton(str(d), toolTip=TIPS["digit"])
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.setMinimumWidth(20)
            b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            b.clicked.connect(lambda _=False, d=d: self.pick_sample(d))
            digits.addWidget(b, 0, d)
            self.digit_buttons.append(b)
        lay.addLayout(digits)
        noise_row = QHBoxLayout()
        self.noise_label = QLabel("noise σ 0.00")
        self.noise_label.setToolTip(TIPS["noise"])
        self.noise_label.setMinimumWidth(self.noise_label.fontMetrics().horizontalAdvance("noise σ 0.00") + 4)
        self.noise_slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=int(round(NOISE_MAX * 100)), value=0,
                                    toolTip=TIPS["noise"])
        self.noise_slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.noise_slider.valueChanged.connect(self._on_noise)
        noise_row.addWidget(self.noise_label)
        noise_row.addWidget(self.noise_slider, 1)
        lay.addLayout(noise_row)
        col.addWidget(box, 0)

        self._compact = False
        self.seen = seen = QGroupBox("Model input (28×28)")
        seen.setToolTip(TIPS["engine"])
        row = QHBoxLayout(seen)
        row.setContentsMargins(6, 10, 6, 6)
        self.engine_view = DigitView()
        self.engine_view.setToolTip(TIPS["engine"])
        self.engine_view.setMinimumSize(56, 56)
        self.engine_view.setMaximumSize(320, 320)
        self.engine_view.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        row.addWidget(self.engine_view, 3)  # grows with the room left under the canvas (a projector)
        self.source_label = QLabel("canvas")
        # no word wrap (its height would then depend on its width and fight the canvas for room): long names clip
        self.source_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.source_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        row.addWidget(self.source_label, 2)
        col.addWidget(seen, 1)

    def set_compact(self, on: bool) -> None:
        """Presentation mode: the brush and file rows go (Ctrl+O still opens), the tools show symbols only; the
        canvas takes the room."""
        self._compact = on
        self.brush_row.setVisible(not on)
        self.file_row.setVisible(not on)
        for b, full in zip((self.eraser_button, self.undo_button, self.clear_button), ("⌫ Erase", "↶ Undo", "✕ Clear")):
            b.setText(full.split()[0] if on else full)
        self.seen.setTitle("Model input" if on else "Model input (28×28)")
        QTimer.singleShot(0, self._fit_canvas)

    def show_model_input(self, on: bool) -> None:
        """Show or hide the small view of what the model sees (a lesson's caption takes its place); the canvas refits."""
        self.seen.setVisible(on)
        QTimer.singleShot(0, self._fit_canvas)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        QTimer.singleShot(0, self._fit_canvas)  # once the layout has placed the rows at this size

    def _fit_canvas(self) -> None:
        """The canvas is square: as wide as the panel allows unless the height runs out first; what is left
        goes to the 28x28 view below (it grows on a projector)."""
        rows = self.box.height() - self.canvas.height()  # the box without the canvas, as laid out now
        seen = self.seen.minimumSizeHint().height() + self.layout().spacing() if self.seen.isVisibleTo(self) else 0
        spare = self.height() - rows - seen
        side = max(self.canvas.minimumHeight(), min(self.width() - 22, spare))
        if self.canvas.height() < min(side, self.canvas.width()) and self.canvas.maximumWidth() == side:
            side = max(self.canvas.minimumHeight(), self.canvas.height())  # the layout had less to give: stay square
        view = int(max(56, min(320, self.seen.contentsRect().height() - 16, 0.6 * self.width())))
        if self._compact:  # large letters (presentation): the picture leaves the name beside it its whole width
            fm = self.source_label.fontMetrics()
            need = max(fm.horizontalAdvance(t) for t in ("MNIST test #9999", *self.source_label.text().split("\n"))) + 28
            view = int(max(56, min(view, self.width() - need)))
        if self.engine_view.maximumWidth() != view:
            self.engine_view.setMaximumWidth(view)  # only as wide as the square it shows: the text fits beside it
        if self.canvas.maximumWidth() != side:
            self.canvas.setMaximumSize(side, side)  # the layout centres it in its cell
            self.canvas.updateGeometry()
            QTimer.singleShot(0, self._fit_canvas)  # check once the layout has given it its place

    # ------------------------------------------------------------------------------------ the input
    EMPTY_MESSAGE = "the canvas is empty: draw a digit first (or open an image, or pick a sample)"

    def frame(self, drawing: np.ndarray) -> np.ndarray:
        return framing.frame_digit(drawing)

    def _set_source(self, name: str, true_label: int | None = None) -> None:
        self.input_name, self.true_label = name, true_label
        text = name.replace(": ", ":\n", 1) if len(name) > 14 else name
        self.source_label.setText(text if true_label is None else f"{text}\ntrue label: {true_label}")
        if self._compact:
            QTimer.singleShot(0, self._fit_canvas)  # the name's width sets the picture's beside it
        self.source_label.setToolTip(name)

    def _preview_while_drawing(self) -> None:
        self._preview_timer.start()

    def set_eraser(self, on: bool) -> None:
        """Erase instead of drawing (the button shows it; the right mouse button erases too)."""
        self.canvas.set_eraser(on)
        self.eraser_button.blockSignals(True)
        self.eraser_button.setChecked(on)
        self.eraser_button.blockSignals(False)

    # ------------------------------------------------------------------------------------ samples
    def _data_folders(self) -> list[Path]:
        folders = [Path(self.data_dir)] if self.data_dir else []
        return [*folders, data.default_data_dir(), REPO.parent / "shared" / "mnist"]

    def dataset(self):
        """The MNIST test set when a data folder has it, else None (the shipped samples are used)."""
        if not self._dataset_tried:
            self._dataset_tried = True
            for folder in self._data_folders():
                try:
                    self._dataset = data.load_dataset(folder, "test", download=False)
                    break
                except (data.DataError, OSError):
                    continue
        return self._dataset

    def pick_sample(self, digit: int, index: int | None = None) -> bool:
        """Show an example of `digit`: the next one from the MNIST test set, else the shipped sample."""
        ds = self.dataset()
        if ds is not None:
            where = np.flatnonzero(ds.labels == digit)
            if len(where):
                k = self._cursor.get(digit, 0) if index is None else index
                self._cursor[digit] = k + 1
                i = int(where[k % len(where)])
                self.set_input_image(ds.images[i] / 255.0, f"MNIST test #{i}", int(ds.labels[i]))
                return True
        path = SAMPLES / f"{digit}.png"
        try:
            framed = framing.load_image(path)
        except data.DataError as exc:
            self.message.emit(f"No sample digits found (no MNIST data folder and {exc}).", "warning")
            return False
        self.set_input_image(framed, f"sample {path.name}", digit)
        return True

    def pick_random_sample(self) -> None:
        ds = self.dataset()
        if ds is not None:
            i = random.randrange(len(ds))
            self.set_input_image(ds.images[i] / 255.0, f"MNIST test #{i}", int(ds.labels[i]))
        else:
            self.pick_sample(random.randrange(10))

    def pick_test_image(self, index: int) -> bool:
        """MNIST test image number `index` (for scripted figures); False without the data set."""
        ds = self.dataset()
        if ds is None or not 0 <= index < len(ds):
            return False
        self.set_input_image(ds.images[index] / 255.0, f"MNIST test #{index}", int(ds.labels[index]))
        return True
