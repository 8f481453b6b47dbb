"""Play, step, stop, reset, search again, the replay speed, the timeline and the narration line: widgets that emit
intents, drawn from the session's view."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (
    QComboBox, QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QSlider, QStyle, QStyleOptionSlider, QVBoxLayout,
    QWidget,
)

from .. import style
from ..model.narration import narrate
from ..model.replay import SPEED_NAMES, SPEEDS
from ..model.view import View
from ..style import TIPS


class Timeline(QSlider):
    """A slider that jumps to where it is clicked (a plain QSlider only pages towards the click)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(Qt.Orientation.Horizontal, parent)

    def value_at(self, x: float) -> int:
        opt = QStyleOptionSlider()
        self.initStyleOption(opt)
        groove = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderGroove, self)
        handle = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderHandle, self)
        span = groove.width() - handle.width()
        return QStyle.sliderValueFromPosition(self.minimum(), self.maximum(), int(x - groove.x() - handle.width() / 2), max(span, 1))

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.maximum() > self.minimum():
            self.setValue(self.value_at(event.position().x()))
            self.setSliderDown(True)  # a drag goes on from here
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self.isSliderDown():
            self.setValue(self.value_at(event.position().x()))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if self.isSliderDown():
            self.setSliderDown(False)
            event.accept()
            return
        super().mouseReleaseEvent(event)


class Narration(QLabel):
    """The narration line under the pictures (two lines kept free, so nothing moves when it grows)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWordWrap(True)
        self.setObjectName("narration")
        self.setStyleSheet("#narration { background: white; border: 1px solid #cbd2d9; border-radius: 6px; padding: 2px 8px; color: #111827; }")
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setToolTip("What happens at the step shown, in words (the same facts as the verdict, the bars and the curves).")
        self.lines = 2
        self.rescale()

    def set_lines(self, lines: int) -> None:
        """Keep room for this many lines (three beside the verdict on a projector, where the line is narrower)."""
        self.lines = lines
        self.rescale()

    def rescale(self) -> None:
        self.setFont(style.font(13))
        self.setFixedHeight(self.lines * QFontMetrics(self.font()).lineSpacing() + 10)
        self._fit()

    def setText(self, text: str) -> None:
        super().setText(text)
        self._fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        """A text longer than the lines kept for it is set a little smaller (down to 70 %), never cut."""
        full = style.font(13)
        f = QFont(full)
        room = self.height() - 10
        width = max(50, self.contentsRect().width() - 16)
        while f.pointSizeF() > 0.7 * full.pointSizeF():
            needed = QFontMetrics(f).boundingRect(0, 0, width, 10_000, Qt.TextFlag.TextWordWrap, self.text()).height()
            if needed <= room:
                break
            f.setPointSizeF(f.pointSizeF() - 0.5)
        if f != self.font():
            self.setFont(f)


class Transport(QFrame):
    play = Signal()
    step = Signal()
    stop = Signal()
    reset = Signal()
    run = Signal()
    speed = Signal(str)
    scrub = Signal(int)  # a frame index chosen on the timeline

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(4)
        self.narration = Narration()
        col.addWidget(self.narration)
        row = QHBoxLayout()
        col.addLayout(row)
        self.buttons: list[QPushButton] = []

        def button(text: str, tip: str, signal) -> QPushButton:
            b = QPushButton(text, toolTip=tip)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the keys stay the window's
            b.clicked.connect(signal)
            row.addWidget(b)
            self.buttons.append(b)
            return b

        self.play_button = button("▶ Play", TIPS["play"], self.play)
        self.run_button = button("⏎ Search", TIPS["run"], self.run)
        self.step_button = button("▶❙ Step", TIPS["step"], self.step)
        self.stop_button = button("■ Stop", TIPS["stop"], self.stop)
        self.reset_button = button("⟲ Reset", TIPS["reset"], self.reset)
        self._texts = {b: b.text() for b in self.buttons[1:]}  # presentation mode shows their symbols only
        self.speed_box = QComboBox(toolTip=TIPS["speed"])
        for s in SPEEDS:
            self.speed_box.addItem(SPEED_NAMES.get(s, f"replay {s}"), s)
        self.speed_box.setCurrentIndex(SPEEDS.index("1x"))
        self.speed_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.speed_box.currentIndexChanged.connect(lambda _i: self.speed.emit(self.speed_box.currentData()))
        row.addWidget(self.speed_box)
        self.timeline = Timeline()
        self.timeline.setRange(0, 0)
        self.timeline.setToolTip(TIPS["timeline"])
        self.timeline.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.timeline.valueChanged.connect(self._on_timeline)
        row.addWidget(self.timeline, 1)
        self.step_label = QLabel("step – / –")
        self.step_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        row.addWidget(self.step_label)
        self._quiet = False
        self._hint: str | None = None
        self._view: View | None = None
        self.rescale()

    def take_back_narration(self) -> None:
        """Put the narration line back above the buttons (the window lends it to the result panel while presenting)."""
        if self.narration.parentWidget() is not self:
            self.layout().insertWidget(0, self.narration)
            self.narration.show()
        self.narration.set_lines(2)

    def set_hint(self, text: str | None) -> None:
        """A first-start hint shown in the narration line until there is something to narrate (None: gone)."""
        self._hint = text
        if text:
            self.narration.setText(text)
        elif isinstance(self._view, View):
            self.narration.setText(narrate(self._view))

    def rescale(self) -> None:
        big = style.font(12)
        for b in self.buttons:
            b.setFont(big)
            b.setMinimumHeight(style.px(34))
        compact = style.scale() > 1
        for b, text in self._texts.items():
            b.setText(text.split()[0] if compact else text)
        for i, s in enumerate(SPEEDS):
            self.speed_box.setItemText(i, ("key" if s == "key" else s) if compact else SPEED_NAMES.get(s, f"replay {s}"))
        self.speed_box.setFont(big)
        self.step_label.setFont(big)
        self.play_button.setMinimumWidth(QFontMetrics(big).horizontalAdvance("❚❚ Replay") + style.px(24))
        self.step_label.setMinimumWidth(QFontMetrics(big).horizontalAdvance("step 100000 / 100000") + 8)
        self.narration.rescale()

    def set_speed(self, speed: str) -> None:
        i = self.speed_box.findData(speed)
        if i >= 0 and i != self.speed_box.currentIndex():
            self.speed_box.setCurrentIndex(i)

    def _on_timeline(self, value: int) -> None:
        if not self._quiet:
            self.scrub.emit(value)

    def render(self, v: View, has_model: bool, replay_ready: bool = False) -> None:
        """`replay_ready`: the shown run is finished and Play would replay it (the input and settings are its own)."""
        replay, speed = getattr(v, "replay", "off"), getattr(v, "speed", "1x")  # a two-digit view has neither
        if replay == "playing":
            text = "❚❚ Pause"
        elif replay == "paused":
            text = "▶ Next step" if speed == "key" else "▶ Resume"
        elif v.status in ("running", "paused"):
            text = {"running": "❚❚ Pause", "paused": "▶ Resume"}[v.status]
        else:
            text = "▶ Replay" if replay_ready else "▶ Play"
        self.play_button.setText(text)
        self.play_button.setEnabled(has_model)
        self.run_button.setEnabled(has_model)
        self.step_button.setEnabled(has_model)
        self.stop_button.setEnabled(v.status != "idle" or replay != "off")
        self.set_speed(speed)
        self._quiet = True
        try:
            self.timeline.setMaximum(max(0, v.frames - 1))
            self.timeline.setValue(v.index)
        finally:
            self._quiet = False
        self.step_label.setText(f"step {v.step} / {v.steps}" if v.has_run else "step – / –")
        self._view = v
        if v.has_run:
            self._hint = None
        said = self._hint or (narrate(v) if isinstance(v, View) else f"step {v.step}: {v.verdict.headline}")
        if said != self.narration.text():
            self.narration.setText(said)
