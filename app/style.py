"""The look of the app: colours, tooltips for every control, the message banner and a projector-friendly theme."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication, QFrame, QHBoxLayout, QLabel, QToolButton, QToolTip, QWidget

# ten distinct colours (Tableau 10), one per class, used for the curves, the bars and the grid's labels alike
CLASS_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
INK = "#111827"  # text, the winner's frame, the verdict: no class uses black
MUTED = "#64748b"  # provisional (mid-search) text
# The verdict is told by words, a symbol and a pale tint behind the header, never by a class's colour
# (green and red are classes 2 and 3): in class, uncertain, out of class.
VERDICT_TINTS = {"in": "#eef6ff", "uncertain": "#fff7db", "out": "#f1f1f4", "ranked": "#ffffff", "diverged": "#fdecec",
                 "failed": "#fdecec"}
VERDICT_MARKS = {"in": "✓", "uncertain": "≈", "out": "✗", "diverged": "⚠", "failed": "⚠"}


def class_colour(c: int) -> str:
    return CLASS_COLOURS[c % len(CLASS_COLOURS)]


# One font scale for the whole window: 1 on a desk, PRESENTATION_SCALE in presentation mode (read from the
# back of a room). Every widget takes its fonts and text-bound sizes from `font()` and `px()`, and re-reads
# them in `rescale()` when the mode changes.
BASE_POINTS = 11
PRESENTATION_SCALE = 1.6
_scale = 1.0


def scale() -> float:
    return _scale


def set_scale(value: float) -> None:
    global _scale
    if not 0.5 <= value <= 4:
        raise ValueError("the font scale must be between 0.5 and 4")
    _scale = float(value)


def font(points: float, bold: bool = False) -> QFont:
    """A font of `points` at the current scale."""
    f = QFont()
    f.setPointSizeF(points * _scale)
    f.setBold(bold)
    return f


def px(pixels: float) -> int:
    """A size tied to text (a header's height, a label's width) at the current scale."""
    return int(round(pixels * _scale))


TIPS = {
    "preset": "Named search settings, matched on every setting: 'robust' (the default) fits a contrast and\n"
              "brightness to every reconstruction and uses MSE, lambda_LR 0.01 (reads more digits, harder to\n"
              "attack: ROBUSTNESS.md); 'igc' is the paper's search with precision and threads chosen for this\n"
              "machine; 'paper' and 'paper-parallel' are the paper's protocol in float32 (100 Adam steps,\n"
              "lr 0.001, lambda_LR 0.03, MAE; parallel = 5 restarts). Any other combination shows as 'custom'.",
    "threshold": "Out-of-class threshold: an input whose OOC score is above it is called out of class (not a\n"
                 "digit this model knows). It is measured per noise level on MNIST test digits and follows the\n"
                 "noise of the input. Drag the marker to set your own; double-click for the measured one.",
    "noise": "Adds Gaussian noise of this standard deviation to the input, as in the paper's\n"
             "robustness test (Sec. 4.2), to watch the classifier cope with corrupted digits.",
    "brush": "Brush diameter.",
    "eraser": "Erase instead of drawing while this is pressed (the right mouse button erases too).",
    "undo": "Undo the last stroke (Ctrl+Z).",
    "clear": "Clear the canvas (Delete).",
    "open": "Open an image file (PNG, JPEG, BMP, anything Pillow reads; Ctrl+O). You can also drop a file on the window.",
    "random": "Pick a random digit from the MNIST test set (or from the shipped samples).",
    "digit": "Show an example of this digit from the MNIST test set (or the shipped sample);\nclick again for another one.",
    "play": "Start the search, pause it, or resume it (Space). On a finished run whose input and settings have\n"
            "not changed, Play replays the recorded run at the replay speed without searching again.",
    "run": "Search the current input again from the start (Return), even when a replay would do.",
    "speed": "How fast a replay goes: 1x shows 10 search steps a second (a 100-step run in 10 s); 'one step per\n"
             "key' waits for Space or → before each step. A replay never searches again.",
    "step": "Do exactly one search step, then pause (Right arrow). After scrubbing back in a finished\nrun it moves one recorded step forward.",
    "stop": "Stop the search here; what was recorded stays on the timeline.",
    "reset": "Stop and clear the results.",
    "timeline": "Click or drag to any recorded step of the search; grid, bars, curves and the narration follow.\n(Left arrow: one step back.)",
    "engine": "Exactly what the search receives: the input framed like MNIST (20x20 box, centred\nin 28x28), with the noise added.",
}


class Banner(QFrame):
    """An in-window message strip (info / warning / error) with a close button. It floats over the top of its parent
    (`place`), outside every layout: showing or hiding it moves nothing under it."""

    COLOURS = {"info": ("#e0f2fe", "#075985"), "warning": ("#fef3c7", "#92400e"), "error": ("#fee2e2", "#991b1b")}

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 6, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setFont(font(13))
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Dismiss this message")
        close.clicked.connect(self.hide)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self.level = "info"
        self.hide()

    def rescale(self) -> None:
        self.label.setFont(font(13))
        if self.isVisible():
            self.show_message(self.label.text(), self.level)

    def show_message(self, text: str, level: str = "info") -> None:
        bg, fg = self.COLOURS.get(level, self.COLOURS["info"])
        self.level = level
        self.setStyleSheet(f"Banner {{ background: {bg}; border: 1px solid {fg}; border-radius: 6px; }} QLabel {{ color: {fg}; }}")
        self.label.setText(text)
        self.show()
        self.label.ensurePolished()  # the 13pt font from the style sheet must count in the height
        width = max(300, (self.parentWidget().width() if self.parentWidget() else 1200) - 80)
        self.label.setMinimumHeight(self.label.heightForWidth(width) + 4)
        self.place()

    def place(self) -> None:
        """Lie over the top of the parent, as wide as it less a margin, as tall as the text needs."""
        parent = self.parentWidget()
        if parent is None or not self.isVisible():
            return
        width = max(200, parent.width() - 16)
        height = min(self.heightForWidth(width) if self.hasHeightForWidth() else self.sizeHint().height(),
                     max(60, parent.height() // 2))
        self.setGeometry(8, 4, width, max(height, self.minimumSizeHint().height()))
        self.raise_()

    @property
    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""


def apply_theme(app: QApplication) -> None:
    """A light, high-contrast look with large fonts: readable on a projector."""
    app.setStyle("Fusion")
    base = app.font()
    base.setPointSizeF(BASE_POINTS * _scale)
    app.setFont(base)
    pal = QPalette()
    pal.setColor(QPalette.ColorRole.Window, QColor("#f5f7fa"))
    pal.setColor(QPalette.ColorRole.WindowText, QColor("#1f2933"))
    pal.setColor(QPalette.ColorRole.Base, QColor("white"))
    pal.setColor(QPalette.ColorRole.AlternateBase, QColor("#eef2f6"))
    pal.setColor(QPalette.ColorRole.Text, QColor("#1f2933"))
    pal.setColor(QPalette.ColorRole.Button, QColor("#e4e7eb"))
    pal.setColor(QPalette.ColorRole.ButtonText, QColor("#1f2933"))
    pal.setColor(QPalette.ColorRole.Highlight, QColor("#2563eb"))
    pal.setColor(QPalette.ColorRole.HighlightedText, QColor("white"))
    pal.setColor(QPalette.ColorRole.ToolTipBase, QColor("#fffbea"))
    pal.setColor(QPalette.ColorRole.ToolTipText, QColor("#1f2933"))
    app.setPalette(pal)
    sheet = "QGroupBox { font-weight: bold; }"
    if app.styleSheet() != sheet:  # setting it again would re-polish every widget and undo their own fonts
        app.setStyleSheet(sheet)
    QToolTip.setFont(font(BASE_POINTS))
