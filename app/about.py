"""The app's own explanations: how IGC works, the keys, the paper (the teaching mode will grow this)."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

PAPER = "Inverted Generator Classifier (IGC): classifying an image by inverting a conditional generator"
HOW = (
    "<p><b>How it works.</b> For every digit class the generator searches for the latent code from which it "
    "redraws your input best (one row of the grid each), by Adam steps on L = L_DD + λ_LR·L_LR (Sec. 3.1). "
    "The class whose redrawing is closest in L_DD wins; that distance is the out-of-class (OOC) score "
    "(Sec. 3.2). Above the threshold, measured for the input's noise level, the input is out of class: not a "
    "digit this model knows. When the two best classes are closer than a small margin the verdict is "
    "<i>uncertain</i>. Parallel IGC searches several restarts per class (Sec. 3.3).</p>"
    "<p><b>Keys</b> (whatever has the focus): Space run / pause / resume · Return search again · → one step "
    "(or forward through a finished run) · ← one step back · Esc stop · Ctrl+O open · Ctrl+S save.</p>"
)


def show_how(parent: QWidget) -> None:
    QMessageBox.information(parent, "How IGC works", HOW)


def show_about(parent: QWidget, model_name: str | None) -> None:
    QMessageBox.about(parent, "About IGC", f"<h2>IGC: Inverted Generator Classifier</h2>"
                      f"<p>A desktop demonstration of the paper <i>{PAPER}</i>.</p>{HOW}"
                      f"<p>Model: {model_name or 'none'}</p>")
