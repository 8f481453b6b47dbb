"""The main window: draw or open a digit, run the search live, scrub through it, save it."""

from __future__ import annotations

import csv
import json
import random
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QFont, QKeySequence
from PySide6.QtWidgets import (
    QApplication, QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QFrame, QGridLayout,
    QGroupBox, QHBoxLayout, QLabel, QMainWindow, QMessageBox, QPushButton, QSlider, QSpinBox,
    QSplitter, QToolButton, QVBoxLayout, QWidget,
)

from igc_core import checkpoints, data, search

from .canvas import DigitView, DrawingCanvas
from .history import Frame, History
from .plots import IN_CLASS, OUT_OF_CLASS, DistanceBars, LossCurves, OOCGauge, ReconstructionGrid
from .style import TIPS, Banner, apply_theme  # noqa: F401 - apply_theme is re-exported for main and tests
from .worker import SearchRunner

REPO = Path(__file__).resolve().parent.parent
SAMPLES = checkpoints.ASSETS / "samples"
FALLBACK_THRESHOLD = 0.12  # MAE scale; used when the model's sidecar has no measured threshold
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp *.pgm *.ppm);;All files (*)"
MODEL_FILTER = "igc checkpoints (*.safetensors *.json);;All files (*)"
MAX_RESTARTS_SHOWN = 64
DIVERGED = "the search diverged: lower the learning rate"
PAPER = "Inverted Generator Classifier (IGC): classifying an image by inverting a conditional generator"

class MainWindow(QMainWindow):
    """Draw a digit and watch the generator find it."""

    result_shown = Signal()  # a run finished and its result is drawn (tests wait on it)

    def __init__(self, model_path: str | None = None, device: str | None = None, data_dir: str | None = None,
                 image_path: str | None = None, settings: QSettings | None = None, load_model: bool = True):
        super().__init__()
        self.settings = settings if settings is not None else QSettings("igc", "igc")
        self.data_dir = data_dir
        self.model = None
        self.meta: dict = {}
        self.model_path: str | None = None
        self.history = History()
        self.result = None
        self.run_config: search.SearchConfig | None = None
        self.run_seconds: float | None = None
        self._exact_input: np.ndarray | None = None  # a loaded image/sample, exact until the user draws on it
        self._input_name = "canvas"
        self._true_label: int | None = None
        self._dataset = None
        self._dataset_tried = False
        self._sample_cursor: dict[int, int] = {}
        self._follow = True  # the timeline follows the newest frame
        self._updating = False  # guards programmatic widget changes
        self._run_started = 0.0
        self._threshold = FALLBACK_THRESHOLD

        self.runner = SearchRunner(self)
        self.runner.frames.connect(self._on_frames)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        self.runner.state_changed.connect(self._on_state)
        self.runner.paused_at.connect(self._on_paused)

        self._auto_timer = QTimer(self, singleShot=True, interval=350)
        self._auto_timer.timeout.connect(self._auto_run)
        self._preview_timer = QTimer(self, singleShot=True, interval=30)
        self._preview_timer.timeout.connect(self.update_preview)

        self.setWindowTitle("IGC: draw a digit and watch the generator find it")
        self.setAcceptDrops(True)
        self._build_ui()
        self._build_actions()
        self._restore_settings()
        if device:
            self._set_combo(self.device_box, device)
        if not self.settings.contains("window/geometry"):
            self.resize(QSize(1400, 900))
        if load_model:
            remembered = self.settings.value("model/path", "", type=str)
            if model_path:
                self.load_model(model_path)
            elif not (remembered and self.load_model(remembered)):
                self.load_model(None)  # the remembered model is gone: fall back to the shipped one
        self._on_state("idle")
        if image_path:
            self.open_image(image_path)
        self.update_preview()

    # ================================================================== building
    def _build_ui(self) -> None:
        central = QWidget()
        self.setCentralWidget(central)
        outer = QVBoxLayout(central)
        outer.setContentsMargins(10, 8, 10, 6)
        outer.setSpacing(8)
        self.banner = Banner()
        outer.addWidget(self.banner)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.setChildrenCollapsible(False)
        split.addWidget(self._build_input_panel())
        split.addWidget(self._build_result_panel())
        split.addWidget(self._build_settings_panel())
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setStretchFactor(2, 0)
        split.setSizes([370, 740, 290])
        outer.addWidget(split, 1)
        outer.addWidget(self._build_transport())
        self.statusBar().showMessage("Draw a digit, open an image or pick a sample, then press Space.")

    def _group(self, title: str) -> tuple[QGroupBox, QVBoxLayout]:
        box = QGroupBox(title)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(8, 14, 8, 8)
        return box, layout

    def _build_input_panel(self) -> QWidget:
        panel = QWidget()
        col = QVBoxLayout(panel)
        col.setContentsMargins(0, 0, 0, 0)
        box, lay = self._group("Input")
        self.canvas = DrawingCanvas()
        self.canvas.changed.connect(self._on_canvas_changed)
        self.canvas.stroke_finished.connect(self._on_stroke_finished)
        lay.addWidget(self.canvas, 1)

        tools = QHBoxLayout()
        self.pen_button = QToolButton(text="✎ Pen", checkable=True, checked=True, toolTip="Draw with the brush.")
        self.eraser_button = QToolButton(text="⌫ Eraser", checkable=True, toolTip=TIPS["eraser"])
        self.pen_button.toggled.connect(lambda on: self._set_eraser(not on))
        self.eraser_button.toggled.connect(lambda on: self._set_eraser(on))
        self.undo_button = QToolButton(text="↶ Undo", toolTip=TIPS["undo"])
        self.undo_button.clicked.connect(self.canvas.undo)
        self.clear_button = QToolButton(text="Clear", toolTip=TIPS["clear"])
        self.clear_button.clicked.connect(self.clear_canvas)
        for b in (self.pen_button, self.eraser_button, self.undo_button, self.clear_button):
            tools.addWidget(b)
        lay.addLayout(tools)
        brush_row = QHBoxLayout()
        brush_row.addWidget(QLabel("Brush"))
        self.brush_slider = QSlider(Qt.Orientation.Horizontal, minimum=4, maximum=60, value=22, toolTip=TIPS["brush"])
        self.brush_slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.brush_slider.valueChanged.connect(lambda v: self.canvas.set_brush_size(v))
        brush_row.addWidget(self.brush_slider, 1)
        lay.addLayout(brush_row)

        file_row = QHBoxLayout()
        self.open_button = QPushButton("Open image…", toolTip=TIPS["open"])
        self.open_button.clicked.connect(self.open_image_dialog)
        self.random_button = QPushButton("Random digit", toolTip=TIPS["random"])
        self.random_button.clicked.connect(self.pick_random_sample)
        file_row.addWidget(self.open_button)
        file_row.addWidget(self.random_button)
        lay.addLayout(file_row)
        digits = QGridLayout()
        digits.setSpacing(3)
        self.digit_buttons = []
        for d in range(10):
            b = QPushButton(str(d), toolTip=TIPS["digit"])
            b.setMinimumWidth(28)
            b.clicked.connect(lambda _=False, d=d: self.pick_sample(d))
            digits.addWidget(b, 0, d)
            self.digit_buttons.append(b)
        lay.addLayout(digits)
        noise_row = QHBoxLayout()
        self.noise_label = QLabel("noise σ = 0.00")
        self.noise_label.setToolTip(TIPS["noise"])
        self.noise_slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100, value=0, toolTip=TIPS["noise"])
        self.noise_slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.noise_slider.valueChanged.connect(self._on_noise)
        noise_row.addWidget(self.noise_label)
        noise_row.addWidget(self.noise_slider, 1)
        lay.addLayout(noise_row)
        col.addWidget(box, 1)

        ebox, elay = self._group("What the model sees (28×28)")
        ebox.setToolTip(TIPS["engine"])
        row = QHBoxLayout()
        self.engine_view = DigitView()
        self.engine_view.setToolTip(TIPS["engine"])
        self.engine_view.setFixedSize(150, 150)
        row.addWidget(self.engine_view)
        self.source_label = QLabel("canvas")
        self.source_label.setWordWrap(True)
        self.source_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        row.addWidget(self.source_label, 1)
        elay.addLayout(row)
        col.addWidget(ebox, 0)
        panel.setMinimumWidth(340)
        return panel

    def _build_result_panel(self) -> QWidget:
        panel = QWidget()
        grid = QGridLayout(panel)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(8)

        head = QFrame()
        head.setObjectName("head")
        head.setStyleSheet("#head { background: white; border: 1px solid #cbd2d9; border-radius: 8px; }")
        hl = QGridLayout(head)
        hl.setContentsMargins(14, 6, 14, 6)
        self.prediction_label = QLabel("–")
        f = QFont()
        f.setPointSize(64)
        f.setBold(True)
        self.prediction_label.setFont(f)
        self.prediction_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.prediction_label.setMinimumWidth(120)
        self.prediction_label.setToolTip("The predicted class: the one whose generator reconstructs the input best.")
        hl.addWidget(self.prediction_label, 0, 0, 3, 1)
        self.verdict_label = QLabel("no search yet")
        vf = QFont()
        vf.setPointSize(20)
        vf.setBold(True)
        self.verdict_label.setFont(vf)
        self.verdict_label.setWordWrap(True)
        self.verdict_label.setToolTip("In-class: the input looks like a digit this generator knows. Out-of-class: it does not.")
        hl.addWidget(self.verdict_label, 0, 1)
        self.detail_label = QLabel("")
        df = QFont()
        df.setPointSize(13)
        self.detail_label.setFont(df)
        self.detail_label.setWordWrap(True)
        hl.addWidget(self.detail_label, 1, 1)
        self.gauge = OOCGauge()
        self.gauge.threshold_changed.connect(self._on_threshold_dragged)
        self.gauge.line.sigPositionChangeFinished.connect(lambda *_: self.gauge._update_range())
        hl.addWidget(self.gauge, 2, 1)
        hl.setColumnStretch(1, 1)
        grid.addWidget(head, 0, 0, 1, 2)

        self.grid_view = ReconstructionGrid()
        self.grid_view.setMinimumSize(200, 300)
        gbox, glay = self._group("Reconstructions")
        glay.setContentsMargins(2, 12, 2, 2)
        glay.addWidget(self.grid_view)
        self.grid_box = gbox
        self.grid_view.layout_changed.connect(self._fit_grid_box)
        self.bars = DistanceBars()
        self.curves = LossCurves()
        plots = QSplitter(Qt.Orientation.Vertical)
        plots.addWidget(self.bars)
        plots.addWidget(self.curves)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setChildrenCollapsible(False)
        split.addWidget(gbox)
        split.addWidget(plots)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([330, 420])
        grid.addWidget(split, 1, 0, 1, 2)
        grid.setRowStretch(1, 1)
        return panel

    def _build_settings_panel(self) -> QWidget:
        box = QGroupBox("Search settings")
        form = QFormLayout(box)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.preset_box = QComboBox(toolTip=TIPS["preset"])
        self.preset_box.addItems([*search.PRESETS, "custom"])
        self.preset_box.currentTextChanged.connect(self._on_preset)
        form.addRow("Preset", self.preset_box)
        self.steps_box = QSpinBox(minimum=1, maximum=100_000, value=100, toolTip=TIPS["steps"])
        self.steps_box.setSingleStep(10)
        form.addRow("Steps", self.steps_box)
        self.lr_box = QDoubleSpinBox(decimals=4, minimum=0.0001, maximum=100.0, value=0.05, toolTip=TIPS["lr"])
        self.lr_box.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        form.addRow("Learning rate", self.lr_box)
        self.lambda_box = QDoubleSpinBox(decimals=3, minimum=0.0, maximum=10.0, value=0.03, singleStep=0.01, toolTip=TIPS["lambda_lr"])
        form.addRow("λ_LR", self.lambda_box)
        self.restarts_box = QSpinBox(minimum=1, maximum=MAX_RESTARTS_SHOWN, value=1, toolTip=TIPS["restarts"])
        form.addRow("Restarts", self.restarts_box)
        self.dif_box = QComboBox(toolTip=TIPS["dif"])
        self.dif_box.addItems(list(search.DIFS))
        form.addRow("Distance", self.dif_box)
        self.init_box = QComboBox(toolTip=TIPS["init"])
        self.init_box.addItems(list(search.INITS))
        form.addRow("Start at", self.init_box)
        self.seed_box = QSpinBox(minimum=0, maximum=2**31 - 1, value=0, toolTip=TIPS["seed"])
        form.addRow("Seed", self.seed_box)
        self.device_box = QComboBox(toolTip=TIPS["device"])
        self.device_box.addItems(["cpu", "auto", "cuda"])
        form.addRow("Device", self.device_box)
        self.autorun_box = QCheckBox("Re-run automatically", toolTip=TIPS["autorun"])
        form.addRow(self.autorun_box)
        self.threshold_box = QDoubleSpinBox(decimals=4, minimum=0.0, maximum=10.0, value=FALLBACK_THRESHOLD, singleStep=0.005, toolTip=TIPS["threshold"])
        self.threshold_box.valueChanged.connect(self._on_threshold_box)
        form.addRow("OOC threshold", self.threshold_box)
        self.model_label = QLabel("no model")
        self.model_label.setWordWrap(True)
        self.model_label.setToolTip("The generator checkpoint the search inverts.")
        form.addRow(self.model_label)
        load = QPushButton("Load model…", toolTip="Load another generator checkpoint (.safetensors with its .json sidecar), e.g. a cGAN instead of a CVAE.")
        load.clicked.connect(self.open_model_dialog)
        form.addRow(load)
        how = QLabel(
            "<p><b>How it works.</b> For every digit class the generator searches for the code from which it "
            "redraws your input best (one row of the grid each). The class that redraws it most closely wins. "
            "If even the best redrawing is far off (OOC score above the threshold), the input is out-of-class: "
            "not a digit this model knows.</p>"
            "<p><b>Keys:</b> Space play/pause, → step, ← back, Esc stop, Ctrl+O open, Ctrl+S save.</p>"
        )
        how.setWordWrap(True)
        how.setStyleSheet("color: #52606d; font-weight: normal;")
        form.addRow(how)
        for w in (self.steps_box, self.lr_box, self.lambda_box, self.restarts_box, self.seed_box):
            w.valueChanged.connect(self._on_setting)
        for w in (self.dif_box, self.init_box, self.device_box):
            w.currentTextChanged.connect(self._on_setting)
        box.setMinimumWidth(280)
        return box

    def _build_transport(self) -> QWidget:
        bar = QFrame()
        row = QHBoxLayout(bar)
        row.setContentsMargins(0, 0, 0, 0)
        big = QFont()
        big.setPointSize(13)

        def button(text, tip, slot):
            b = QPushButton(text, toolTip=tip)
            b.setFont(big)
            b.setMinimumHeight(38)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # Space and arrows stay window shortcuts
            b.clicked.connect(slot)
            row.addWidget(b)
            return b

        self.play_button = button("▶ Play", TIPS["play"], self.toggle_play)
        self.play_button.setMinimumWidth(120)
        self.step_button = button("▶❙ Step", TIPS["step"], self.single_step)
        self.stop_button = button("■ Stop", TIPS["stop"], self.stop_search)
        self.reset_button = button("⟲ Reset", TIPS["reset"], self.reset)
        self.timeline = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=0, toolTip=TIPS["timeline"])
        self.timeline.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.timeline.valueChanged.connect(self._on_timeline)
        row.addWidget(self.timeline, 1)
        self.step_label = QLabel("step – / –")
        self.step_label.setFont(big)
        self.step_label.setMinimumWidth(150)
        row.addWidget(self.step_label)
        return bar

    def _build_actions(self) -> None:
        def action(menu, text, shortcut, slot, tip=""):
            a = QAction(text, self)
            if shortcut:
                a.setShortcut(QKeySequence(shortcut))
                a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            a.setStatusTip(tip)
            a.triggered.connect(slot)
            menu.addAction(a)
            self.addAction(a)
            return a

        m = self.menuBar().addMenu("&File")
        action(m, "Open image…", QKeySequence.StandardKey.Open, self.open_image_dialog, TIPS["open"])
        action(m, "Load model…", "Ctrl+M", self.open_model_dialog, "Load another generator checkpoint")
        action(m, "Load the default model", None, lambda: self.load_model(None), "Load the shipped default generator")
        action(m, "Save results…", QKeySequence.StandardKey.Save, self.save_results_dialog,
               "Save the grid as PNG, the loss history as CSV and the settings as JSON")
        m.addSeparator()
        action(m, "Quit", QKeySequence.StandardKey.Quit, self.close)
        m = self.menuBar().addMenu("&Edit")
        action(m, "Undo stroke", QKeySequence.StandardKey.Undo, self.canvas.undo, TIPS["undo"])
        action(m, "Clear canvas", QKeySequence.StandardKey.Delete, self.clear_canvas, TIPS["clear"])
        m = self.menuBar().addMenu("&Search")
        self.play_action = action(m, "Play / pause", "Space", self.toggle_play, TIPS["play"])
        action(m, "Single step", "Right", self.single_step, TIPS["step"])
        action(m, "Back one recorded step", "Left", self.scrub_back, "Show the previous recorded step")
        action(m, "Stop", "Esc", self.stop_search, TIPS["stop"])
        action(m, "Reset", "Ctrl+R", self.reset, TIPS["reset"])
        m.addSeparator()
        for name in search.PRESETS:
            action(m, f"Preset: {name}", None, lambda _=False, n=name: self._set_combo(self.preset_box, n), TIPS["preset"])
        m = self.menuBar().addMenu("&Help")
        action(m, "About IGC", None, self.show_about)
        action(m, "About Qt", None, QApplication.aboutQt)

    # ================================================================== settings
    def _restore_settings(self) -> None:
        s = self.settings
        self._updating = True
        try:
            geometry = s.value("window/geometry")
            if geometry is not None:
                self.restoreGeometry(geometry)
            d = search.PRESETS[search.DEFAULT_PRESET]
            self.steps_box.setValue(s.value("search/steps", d.steps, type=int))
            self.lr_box.setValue(s.value("search/lr", d.lr, type=float))
            self.lambda_box.setValue(s.value("search/lambda_lr", d.lambda_lr, type=float))
            self.restarts_box.setValue(s.value("search/restarts", d.restarts, type=int))
            self._set_combo(self.dif_box, s.value("search/dif", d.dif, type=str))
            self._set_combo(self.init_box, s.value("search/init", d.init, type=str))
            self.seed_box.setValue(s.value("search/seed", 0, type=int))
            self._set_combo(self.device_box, s.value("search/device", "cpu", type=str))
            self.autorun_box.setChecked(s.value("search/autorun", False, type=bool))
            self.brush_slider.setValue(s.value("canvas/brush", 22, type=int))
            self.noise_slider.setValue(s.value("input/noise", 0, type=int))
        finally:
            self._updating = False
        preset = s.value("search/preset", None, type=str)
        if preset and preset in search.PRESETS and self._preset_matches(preset):
            self._set_combo(self.preset_box, preset)
        elif preset is None:
            self._set_combo(self.preset_box, search.DEFAULT_PRESET)
        else:
            self._sync_preset()

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("search/steps", self.steps_box.value())
        s.setValue("search/lr", self.lr_box.value())
        s.setValue("search/lambda_lr", self.lambda_box.value())
        s.setValue("search/restarts", self.restarts_box.value())
        s.setValue("search/dif", self.dif_box.currentText())
        s.setValue("search/init", self.init_box.currentText())
        s.setValue("search/seed", self.seed_box.value())
        s.setValue("search/device", self.device_box.currentText())
        s.setValue("search/autorun", self.autorun_box.isChecked())
        s.setValue("search/preset", self.preset_box.currentText())
        s.setValue("canvas/brush", self.brush_slider.value())
        s.setValue("input/noise", self.noise_slider.value())
        s.setValue("model/path", self.model_path or "")
        s.sync()

    @staticmethod
    def _set_combo(box: QComboBox, text: str) -> None:
        i = box.findText(text)
        if i >= 0:
            box.setCurrentIndex(i)

    # ================================================================== search settings
    def search_config(self) -> search.SearchConfig:
        """The settings in the panel as a SearchConfig (raises ValueError with a readable message).

        What the panel does not show (precision, score, restart spread) comes from the chosen preset,
        or from the default preset for custom settings.
        """
        base = search.PRESETS.get(self.preset_box.currentText(), search.PRESETS[search.DEFAULT_PRESET])
        return base.with_(
            steps=self.steps_box.value(), lr=float(self.lr_box.value()), lambda_lr=float(self.lambda_box.value()),
            restarts=self.restarts_box.value(), dif=self.dif_box.currentText(), init=self.init_box.currentText(),
            seed=self.seed_box.value(), device=self.device_box.currentText(),
        )

    def _preset_matches(self, name: str) -> bool:
        p = search.PRESETS[name]
        return (p.steps == self.steps_box.value() and abs(p.lr - self.lr_box.value()) < 1e-9
                and abs(p.lambda_lr - self.lambda_box.value()) < 1e-9 and p.restarts == self.restarts_box.value()
                and p.dif == self.dif_box.currentText() and p.init == self.init_box.currentText())

    def _sync_preset(self) -> None:
        name = next((n for n in search.PRESETS if self._preset_matches(n)), "custom")
        self.preset_box.blockSignals(True)
        self._set_combo(self.preset_box, name)
        self.preset_box.blockSignals(False)

    def _on_preset(self, name: str) -> None:
        if name not in search.PRESETS or self._updating:
            return
        p = search.PRESETS[name]
        self._updating = True
        try:
            self.steps_box.setValue(p.steps)
            self.lr_box.setValue(p.lr)
            self.lambda_box.setValue(p.lambda_lr)
            self.restarts_box.setValue(p.restarts)
            self._set_combo(self.dif_box, p.dif)
            self._set_combo(self.init_box, p.init)
        finally:
            self._updating = False
        self._schedule_auto()

    def _on_setting(self, *_) -> None:
        if self._updating:
            return
        self._sync_preset()
        if self.sender() is self.seed_box:
            self.update_preview()  # the noise pattern follows the seed
        self._schedule_auto()

    # ================================================================== the input
    def current_input(self) -> tuple[np.ndarray, np.ndarray]:
        """(framed [0,1] (28, 28), model input [-0.5, 0.5] with noise); raises data.DataError when empty."""
        if self._exact_input is not None:
            framed = self._exact_input
        else:
            if self.canvas.is_empty():
                raise data.DataError("the canvas is empty: draw a digit first (or open an image, or pick a sample)")
            framed = data.frame_digit(self.canvas.to_array())
        x = data.to_model_range(framed)
        sigma = self.noise_sigma
        if sigma > 0:
            x = data.add_noise(x, sigma, np.random.default_rng(self.seed_box.value()))
        return framed, x

    @property
    def noise_sigma(self) -> float:
        return self.noise_slider.value() / 100.0

    def update_preview(self) -> None:
        try:
            _, x = self.current_input()
        except data.DataError:
            self.engine_view.set_image(None)
            return
        self.engine_view.set_image(x + 0.5)

    def _set_source(self, name: str, true_label: int | None = None) -> None:
        self._input_name = name
        self._true_label = true_label
        text = name if true_label is None else f"{name}\ntrue label: {true_label}"
        self.source_label.setText(text)

    def _on_canvas_changed(self) -> None:
        if self._updating:
            return
        if self._exact_input is not None or self._input_name != "canvas":
            self._exact_input = None
            self._set_source("canvas (edited)" if self._input_name != "canvas" else "canvas")
        self._preview_timer.start()

    def _on_stroke_finished(self) -> None:
        if self._updating:
            return
        self.update_preview()
        self._schedule_auto()

    def _set_eraser(self, on: bool) -> None:
        self.canvas.set_eraser(on)
        for b, checked in ((self.pen_button, not on), (self.eraser_button, on)):
            b.blockSignals(True)
            b.setChecked(checked)
            b.blockSignals(False)

    def clear_canvas(self) -> None:
        self._exact_input = None
        self._set_source("canvas")
        self.canvas.clear()
        self.update_preview()

    def _on_noise(self, value: int) -> None:
        self.noise_label.setText(f"noise σ = {value / 100:.2f}")
        self.update_preview()
        if not self._updating:
            self._schedule_auto()

    def set_input_image(self, framed01: np.ndarray, name: str, true_label: int | None = None) -> None:
        """Use an exact 28x28 image (a file or a sample) as the input; it shows on the canvas for editing."""
        self._updating = True
        try:
            self.canvas.set_array(framed01)
        finally:
            self._updating = False
        self._exact_input = np.asarray(framed01, dtype=np.float32).copy()
        self._set_source(name, true_label)
        self.update_preview()
        self._schedule_auto()

    def open_image(self, path: str) -> bool:
        """Load an image file; a bad file gives a message and changes nothing."""
        try:
            framed = data.load_image(path)
        except data.DataError as exc:
            self.show_message(f"Cannot open this image: {exc}", "error")
            return False
        self.set_input_image(framed, f"file: {Path(path).name}")
        self.settings.setValue("input/dir", str(Path(path).parent))
        self.statusBar().showMessage(f"Opened {path}", 5000)
        self.banner.hide()
        return True

    def open_image_dialog(self) -> None:
        start = self.settings.value("input/dir", str(SAMPLES), type=str)
        path, _ = QFileDialog.getOpenFileName(self, "Open an image of a digit", start, IMAGE_FILTER)
        if path:
            self.open_image(path)

    # ---------------------------------------------------------------- samples
    def _data_folders(self) -> list[Path]:
        folders = []
        if self.data_dir:
            folders.append(Path(self.data_dir))
        folders.append(data.default_data_dir())
        folders.append(REPO.parent / "shared" / "mnist")
        return folders

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
                k = self._sample_cursor.get(digit, 0) if index is None else index
                self._sample_cursor[digit] = k + 1
                i = int(where[k % len(where)])
                self.set_input_image(ds.images[i] / 255.0, f"MNIST test #{i}", int(ds.labels[i]))
                return True
        path = SAMPLES / f"{digit}.png"
        try:
            framed = data.load_image(path)
        except data.DataError as exc:
            self.show_message(f"No sample digits found (no MNIST data folder and {exc}).", "warning")
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

    # ================================================================== the model
    def load_model(self, path: str | None) -> bool:
        """Load a generator checkpoint (None: the shipped default). Stops a running search first."""
        self.runner.stop()
        try:
            model, meta = checkpoints.load(path, device="cpu")
        except (checkpoints.CheckpointError, OSError) as exc:
            where = path or str(checkpoints.DEFAULT_MODEL)
            level = "error"
            msg = f"Cannot load the model {where}: {exc}"
            if path is None:
                msg += "\nLoad a checkpoint with File ▸ Load model… (train one with `igc train`)."
            elif self.model is not None:
                msg += "\nThe previous model stays loaded."
            self.show_message(msg, level)
            self._update_model_label()
            self._on_state(self.runner.state)
            return False
        if not hasattr(model, "decode_logits"):
            self.show_message(f"{path}: this checkpoint is a {meta.get('kind')} classifier, not a generator the search can invert.", "error")
            return False
        self.model, self.meta = model, meta
        self.model_path = str(path) if path else None
        threshold = checkpoints.recommended_threshold(meta)
        self.set_threshold(threshold if threshold is not None else FALLBACK_THRESHOLD)
        cvae = meta.get("kind") == "cvae"
        self.init_box.model().item(search.INITS.index("encoder")).setEnabled(cvae)
        if not cvae and self.init_box.currentText() == "encoder":
            self._set_combo(self.init_box, "mean")
        self._update_model_label()
        self._clear_results()
        self.banner.hide()
        self.statusBar().showMessage(f"Loaded {self._model_name()}", 5000)
        self._on_state(self.runner.state)
        self._schedule_auto()
        return True

    def _model_name(self) -> str:
        if self.model is None:
            return "no model"
        name = Path(self.model_path).stem if self.model_path else "default"
        cfg = self.meta.get("model", {})
        return f"{name} ({self.meta.get('kind', '?')}, latent {cfg.get('latent_dim', '?')})"

    def _update_model_label(self) -> None:
        self.model_label.setText(f"Model: {self._model_name()}")
        self.setWindowTitle(f"IGC: draw a digit and watch the generator find it — {self._model_name()}")

    def open_model_dialog(self) -> None:
        start = str(Path(self.model_path).parent) if self.model_path else str(checkpoints.ASSETS)
        path, _ = QFileDialog.getOpenFileName(self, "Load a generator checkpoint", start, MODEL_FILTER)
        if path:
            self.load_model(path)

    # ================================================================== running
    def start_search(self, start_paused: bool = False) -> bool:
        """Start a new search of the current input; a message says why when it cannot."""
        self._auto_timer.stop()
        if self.model is None:
            self.show_message("No model is loaded: load a generator checkpoint first (File ▸ Load model…).", "error")
            return False
        try:
            _, x = self.current_input()
            config = self.search_config()
            search.resolve_device(config.device)
        except ValueError as exc:
            self.show_message(str(exc)[0].upper() + str(exc)[1:], "warning")
            return False
        self.banner.hide()
        self._clear_results()
        self.curves.clear_curves(config.steps)
        self.run_config = config
        self._run_started = time.perf_counter()
        self._follow = True
        self.runner.start(self.model, x, config, start_paused=start_paused)
        self.statusBar().showMessage(f"Searching {config.steps} steps × {config.restarts} restart(s) × 10 classes on {config.device}…")
        return True

    def toggle_play(self) -> None:
        state = self.runner.state
        if state == "running":
            self.runner.pause()
        elif state == "paused":
            self.runner.resume()
        else:
            self.start_search()

    def single_step(self) -> None:
        if self.runner.is_active():
            self.runner.step()
        else:
            self.start_search(start_paused=True)

    def stop_search(self) -> None:
        if self.runner.is_active():
            self.runner.stop()
            latest = self.history.latest
            self.statusBar().showMessage(f"Stopped at step {latest.step if latest else 0}.", 5000)
            self._show_index(self.timeline.value())

    def reset(self) -> None:
        self.runner.stop()
        self._clear_results()
        self.statusBar().showMessage("Reset.", 3000)

    def scrub_back(self) -> None:
        if len(self.history):
            self._follow = False
            self.timeline.setValue(max(0, self.timeline.value() - 1))

    def _schedule_auto(self) -> None:
        if self.autorun_box.isChecked() and not self._updating:
            self._auto_timer.start()

    def _auto_run(self) -> None:
        if not self.autorun_box.isChecked() or self.model is None:
            return
        try:
            self.current_input()
        except data.DataError:
            return  # nothing to search yet: no message while drawing
        self.start_search()

    def _clear_results(self) -> None:
        self.history.clear()
        self.result = None
        self.run_seconds = None
        self.grid_view.clear_grid()
        self.curves.clear_curves()
        self.bars.clear_bars()
        self.gauge.set_ooc(None)
        self._updating = True
        self.timeline.setMaximum(0)
        self.timeline.setValue(0)
        self._updating = False
        self.step_label.setText("step – / –")
        self.prediction_label.setText("–")
        self.prediction_label.setStyleSheet("")
        self.verdict_label.setText("no search yet" if self.model is not None else "no model loaded")
        self.verdict_label.setStyleSheet("")
        self.detail_label.setText("")

    # ---------------------------------------------------------------- from the runner
    def _on_state(self, state: str) -> None:
        has_model = self.model is not None
        self.play_button.setText({"running": "❚❚ Pause", "paused": "▶ Resume"}.get(state, "▶ Play"))
        self.play_button.setEnabled(has_model)
        self.step_button.setEnabled(has_model)
        self.stop_button.setEnabled(state != "idle")
        if state == "paused":
            latest = self.history.latest
            self.statusBar().showMessage(f"Paused at step {latest.step if latest else 0}: → steps once, Space resumes.")

    def _on_paused(self, step: int) -> None:
        self.statusBar().showMessage(f"Paused at step {step}: → steps once, Space resumes.")

    def _on_frames(self, frames: list[Frame]) -> None:
        for f in frames:
            self.history.append(f)
        n = len(self.history)
        at_end = self._follow or self.timeline.value() >= self.timeline.maximum()
        self._updating = True
        self.timeline.setMaximum(n - 1)
        if at_end:
            self.timeline.setValue(n - 1)
        self._updating = False
        latest = self.history.latest
        steps, values = self.history.curves("loss")
        self.curves.set_curves(steps, values, latest.best_class(self._score()))
        self._show_index(self.timeline.value())

    def _on_finished(self, result, seconds: float) -> None:
        self.result = result
        self.run_seconds = seconds
        self._show_index(len(self.history) - 1 if self._follow else self.timeline.value())
        if bool(result.diverged[0]):
            self.show_message(f"{DIVERGED[0].upper()}{DIVERGED[1:]} (it is {self.run_config.lr:g}) and search again.", "error")
            self.statusBar().showMessage(DIVERGED, 8000)
        else:
            rate = result.steps_done / seconds if seconds > 0 else float("inf")
            self.statusBar().showMessage(
                f"Done: {result.steps_done} steps in {seconds:.2f} s ({rate:.0f} steps/s) on {self.run_config.device}; "
                f"predicted {int(result.labels[0])}, OOC {float(result.ooc[0]):.4f}.", 10000)
        self.result_shown.emit()

    def _on_failed(self, message: str) -> None:
        self.show_message(f"The search failed: {message}", "error")
        self._show_index(self.timeline.value())

    def _on_timeline(self, value: int) -> None:
        if self._updating:
            return
        self._follow = value >= self.timeline.maximum()
        self._show_index(value)

    def _score(self) -> str:
        return self.run_config.score if self.run_config is not None else "dif"

    # ---------------------------------------------------------------- drawing a frame
    def _show_index(self, index: int) -> None:
        if not len(self.history):
            return
        index = int(np.clip(index, 0, len(self.history) - 1))
        frame = self.history[index]
        per_class, best_restart = frame.per_class(self._score())
        predicted: int | None = int(np.argmin(per_class)) if np.isfinite(per_class).any() else None
        final = self.result is not None and index == len(self.history) - 1
        diverged = final and bool(self.result.diverged[0])
        if final and not diverged:
            predicted = int(self.result.labels[0])
        ooc = float(per_class[predicted]) if predicted is not None else None
        in_class = None if ooc is None else ooc <= self.threshold
        self.grid_view.show_frame(frame, None if diverged else predicted, best_restart)
        self.bars.set_distances(per_class, None if diverged else predicted, in_class)
        self.curves.set_cursor(frame.step)
        self.gauge.set_ooc(None if diverged else ooc)
        self.step_label.setText(f"step {frame.step} / {frame.steps}")
        self._show_prediction(predicted, ooc, in_class, frame, final, diverged)

    def _show_prediction(self, predicted, ooc, in_class, frame: Frame, final: bool, diverged: bool) -> None:
        if diverged:
            self.prediction_label.setText("?")
            self.prediction_label.setStyleSheet(f"color: {OUT_OF_CLASS};")
            self.verdict_label.setText(DIVERGED)
            self.verdict_label.setStyleSheet(f"color: {OUT_OF_CLASS};")
            self.detail_label.setText(f"learning rate {self.run_config.lr:g}: try {self.run_config.lr / 10:g}")
            return
        if predicted is None:
            self.prediction_label.setText("–")
            return
        colour = IN_CLASS if in_class else OUT_OF_CLASS
        self.prediction_label.setText(str(predicted))
        self.prediction_label.setStyleSheet(f"color: {colour};" if final else "color: #52606d;")
        if not final:  # mid-search the verdict is not in yet: say where it stands
            state = "searching" if self.runner.state == "running" else "paused" if self.runner.state == "paused" else "stopped"
            self.verdict_label.setText(f"{state} at step {frame.step} of {frame.steps}: closest so far is {predicted}")
            self.verdict_label.setStyleSheet("color: #52606d;")
        elif in_class:
            self.verdict_label.setText(f"in-class: it looks like a {predicted}")
            self.verdict_label.setStyleSheet(f"color: {colour};")
        else:
            self.verdict_label.setText("out-of-class: not a digit this model knows")
            self.verdict_label.setStyleSheet(f"color: {colour};")
        detail = f"OOC score {ooc:.4f} {'≤' if in_class else '>'} threshold {self.threshold:.3f}"
        if self._true_label is not None:
            mark = "✓" if predicted == self._true_label else "✗"
            detail += f"   ·   true label {self._true_label} {mark}"
        self.detail_label.setText(detail)

    def _fit_grid_box(self, classes: int, restarts: int) -> None:
        """Give the grid about the width its columns need, the plots the rest."""
        height = max(self.grid_view.height(), 300)
        cell = (height - 60) / (classes * 31)
        self.grid_box.setMaximumWidth(int(min(1200, max(200, 90 + restarts * 31 * cell))))

    # ---------------------------------------------------------------- threshold
    @property
    def threshold(self) -> float:
        return self._threshold

    def set_threshold(self, value: float) -> None:
        self.threshold_box.setValue(value)  # -> _on_threshold_box
        self._on_threshold_box(value)  # also when the rounded box value did not change

    def _on_threshold_box(self, value: float) -> None:
        self._threshold = float(value)
        self.gauge.set_threshold(value)
        self.bars.set_threshold(value)
        self._show_index(self.timeline.value())

    def _on_threshold_dragged(self, value: float) -> None:
        self._threshold = float(value)
        self.threshold_box.blockSignals(True)
        self.threshold_box.setValue(value)
        self.threshold_box.blockSignals(False)
        self.bars.set_threshold(value)
        self._show_index(self.timeline.value())

    # ================================================================== saving
    def save_results(self, path: str | Path) -> list[Path]:
        """Write <base>.png (the grid), <base>-losses.csv (every recorded step) and <base>-settings.json."""
        if not len(self.history):
            raise ValueError("there is nothing to save yet: run a search first")
        base = Path(path)
        if base.suffix.lower() in (".png", ".csv", ".json"):
            base = base.with_suffix("")
        base.parent.mkdir(parents=True, exist_ok=True)
        png, csv_path, json_path = base.with_suffix(".png"), Path(f"{base}-losses.csv"), Path(f"{base}-settings.json")
        if not self.grid_view.grab().save(str(png)):
            raise OSError(f"could not write {png}")
        with csv_path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["step", "class", "restart", "loss", "dif"])
            for frame in self.history:
                C, R = frame.losses.shape
                for c in range(C):
                    for r in range(R):
                        w.writerow([frame.step, c, r, f"{frame.losses[c, r]:.6g}", f"{frame.difs[c, r]:.6g}"])
        doc = {
            "search": self.run_config.to_dict() if self.run_config else self.search_config().to_dict(),
            "model": self.model_path or str(checkpoints.DEFAULT_MODEL),
            "model_kind": self.meta.get("kind"),
            "input": self._input_name,
            "true_label": self._true_label,
            "noise_sigma": self.noise_sigma,
            "ooc_threshold": self.threshold,
            "recorded_steps": len(self.history),
        }
        if self.result is not None:
            doc["result"] = {
                "label": int(self.result.labels[0]), "ooc": float(self.result.ooc[0]),
                "distances": [float(d) for d in self.result.distances[0]],
                "best_restart": [int(r) for r in self.result.best_restart[0]],
                "diverged": bool(self.result.diverged[0]), "steps_done": int(self.result.steps_done),
                "stopped": bool(self.result.stopped), "seconds": self.run_seconds,
            }
        json_path.write_text(json.dumps(doc, indent=2) + "\n")
        return [png, csv_path, json_path]

    def save_results_dialog(self) -> None:
        if not len(self.history):
            self.show_message("There is nothing to save yet: run a search first (Space).", "warning")
            return
        start = self.settings.value("output/dir", str(Path.home()), type=str)
        path, _ = QFileDialog.getSaveFileName(self, "Save the grid (PNG), losses (CSV) and settings (JSON)",
                                              str(Path(start) / "igc-run.png"), "PNG image (*.png)")
        if not path:
            return
        try:
            written = self.save_results(path)
        except (OSError, ValueError) as exc:
            self.show_message(f"Could not save: {exc}", "error")
            return
        self.settings.setValue("output/dir", str(Path(path).parent))
        self.statusBar().showMessage("Saved " + ", ".join(p.name for p in written), 8000)

    # ================================================================== misc
    def show_message(self, text: str, level: str = "info") -> None:
        self.banner.show_message(text, level)
        self.statusBar().showMessage(text.splitlines()[0], 10000)

    def show_about(self) -> None:
        QMessageBox.about(
            self, "About IGC",
            f"<h2>IGC: Inverted Generator Classifier</h2>"
            f"<p>A desktop demonstration of the paper <i>{PAPER}</i>.</p>"
            "<p>For every class, the search looks for the latent code from which a conditional generator "
            "(a CVAE or a cGAN) draws the input best, by gradient descent on "
            "L = L_DD + λ_LR·L_LR (Sec. 3.1). The class whose reconstruction is closest wins; that "
            "distance is the out-of-class (OOC) score (Sec. 3.2). Parallel IGC runs several restarts per class (Sec. 3.3).</p>"
            f"<p>Model: {self._model_name()}</p>",
        )

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if not urls:
            return
        path = urls[0].toLocalFile()
        if Path(path).suffix.lower() in (".safetensors", ".json"):
            self.load_model(path)
        else:
            self.open_image(path)
        event.acceptProposedAction()

    def shutdown(self) -> None:
        """Stop the search and wait for its thread (idempotent)."""
        self._auto_timer.stop()
        self._preview_timer.stop()
        self.runner.stop()

    def closeEvent(self, event) -> None:
        self.shutdown()
        try:
            self.save_settings()
        except Exception:  # noqa: BLE001 - never block closing
            pass
        super().closeEvent(event)
