"""The look of the app: tooltips for every control, the message banner and a projector-friendly theme."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

TIPS = {
    "preset": "Named search settings. 'paper' and 'paper-parallel' are the IGC paper's protocol\n"
              "(100 Adam steps, lr 0.001, lambda_LR 0.03, MAE; parallel = 5 restarts per class);\n"
              "'igc' is this project's tuned default.",
    "steps": "How many Adam steps each latent takes while searching for the input.",
    "lr": "Adam's learning rate for the latents. Too large and the search diverges.",
    "lambda_lr": "Weight of the latent regulariser L_LR, which keeps latents close to the\n"
                 "generator's prior so it cannot draw just any shape (IGC paper, Sec. 3.1).",
    "restarts": "Latents per class, each from its own starting point (Parallel IGC, Sec. 3.3);\n"
                "the best one counts. One column of the grid per restart.",
    "dif": "Image distance L_DD between the reconstruction and the input:\n"
           "mae (the paper's), mse or bce (binary cross-entropy).",
    "init": "Where restart 0 starts: the prior mean, or the CVAE encoder's guess (CVAE models only).",
    "seed": "Random seed for the restarts' starting points and the noise pattern: same seed, same run.",
    "device": "Where the search runs: cpu, cuda (an NVIDIA GPU) or auto (cuda when available).",
    "autorun": "Search again automatically when a stroke ends, an input is picked or a setting changes.",
    "noise": "Adds Gaussian noise of this standard deviation to the input, as in the paper's\n"
             "robustness test (Sec. 4.2), to watch the classifier cope with corrupted digits.",
    "threshold": "Out-of-class threshold: an input whose OOC score is above it is called out-of-class\n"
                 "(not a digit this generator knows). The default comes from the model's benchmarks.",
    "brush": "Brush diameter.",
    "eraser": "Erase instead of drawing (the right mouse button erases too).",
    "undo": "Undo the last stroke (Ctrl+Z).",
    "clear": "Clear the canvas (Delete).",
    "open": "Open an image file (PNG, JPEG, BMP, anything Pillow reads; Ctrl+O). You can also drop a file on the window.",
    "random": "Pick a random digit from the MNIST test set (or from the shipped samples).",
    "digit": "Show an example of this digit from the MNIST test set (or the shipped sample);\nclick again for another one.",
    "play": "Start the search, pause it, or resume it (Space).",
    "step": "Do exactly one search step, then pause (Right arrow).",
    "stop": "Stop the search here; what was recorded stays on the timeline.",
    "reset": "Stop and clear the results.",
    "timeline": "Scrub back through the recorded steps of the search; grid, bars and curves follow.\n(Left arrow: one step back.)",
    "engine": "Exactly what the search receives: the input framed like MNIST (20x20 box, centred\nin 28x28), with the noise added.",
}


class Banner(QFrame):
    """An in-window message strip (info / warning / error) with a close button."""

    COLOURS = {"info": ("#e0f2fe", "#075985"), "warning": ("#fef3c7", "#92400e"), "error": ("#fee2e2", "#991b1b")}

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 6, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        font = self.label.font()
        font.setPointSize(13)
        self.label.setFont(font)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Dismiss this message")
        close.clicked.connect(self.hide)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self.level = "info"
        self.hide()

    def show_message(self, text: str, level: str = "info") -> None:
        bg, fg = self.COLOURS.get(level, self.COLOURS["info"])
        self.level = level
        self.setStyleSheet(f"Banner {{ background: {bg}; border: 1px solid {fg}; border-radius: 6px; }} QLabel {{ color: {fg}; }}")
        self.label.setText(text)
        self.show()
        self.label.ensurePolished()  # the 13pt font from the style sheet must count in the height
        width = max(300, (self.parentWidget().width() if self.parentWidget() else 1200) - 80)
        self.label.setMinimumHeight(self.label.heightForWidth(width) + 4)

    @property
    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""


def apply_theme(app: QApplication) -> None:
    """A light, high-contrast look with large fonts: readable on a projector."""
    app.setStyle("Fusion")
    font = app.font()
    font.setPointSize(11)
    app.setFont(font)
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
    app.setStyleSheet("QGroupBox { font-weight: bold; } QToolTip { font-size: 11pt; }")
