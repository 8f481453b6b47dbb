"""Play, step, stop, reset and the timeline: buttons that emit intents, drawn from the session's view."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

from ..style import TIPS
from ..view import View


class Transport(QFrame):
    play = Signal()
    step = Signal()
    stop = Signal()
    reset = Signal()
    scrub = Signal(int)  # a frame index chosen on the timeline

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        big = QFont()
        big.setPointSize(12)

        def button(text: str, tip: str, signal) -> QPushButton:
            b = QPushButton(text, toolTip=tip)
            b.setFont(big)
            b.setMinimumHeight(34)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the keys stay the window's
            b.clicked.connect(signal)
            row.addWidget(b)
            return b

        self.play_button = button("▶ Play", TIPS["play"], self.play)
        self.play_button.setMinimumWidth(QFontMetrics(big).horizontalAdvance("❚❚ Resume") + 24)
        self.step_button = button("▶❙ Step", TIPS["step"], self.step)
        self.stop_button = button("■ Stop", TIPS["stop"], self.stop)
        self.reset_button = button("⟲ Reset", TIPS["reset"], self.reset)
        self.timeline = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=0, toolTip=TIPS["timeline"])
        self.timeline.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.timeline.valueChanged.connect(self._on_timeline)
        row.addWidget(self.timeline, 1)
        self.step_label = QLabel("step – / –")
        self.step_label.setFont(big)
        self.step_label.setMinimumWidth(QFontMetrics(big).horizontalAdvance("step 100000 / 100000") + 8)
        self.step_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        row.addWidget(self.step_label)
        self._quiet = False

    def _on_timeline(self, value: int) -> None:
        if not self._quiet:
            self.scrub.emit(value)

    def render(self, v: View, has_model: bool) -> None:  # noqa: A003
        self.play_button.setText({"running": "❚❚ Pause", "paused": "▶ Resume"}.get(v.status, "▶ Play"))
        self.play_button.setEnabled(has_model)
        self.step_button.setEnabled(has_model)
        self.stop_button.setEnabled(v.status != "idle")
        self._quiet = True
        try:
            self.timeline.setMaximum(max(0, v.frames - 1))
            self.timeline.setValue(v.index)
        finally:
            self._quiet = False
        self.step_label.setText(f"step {v.step} / {v.steps}" if v.has_run else "step – / –")
