"""The app's own explanations: Help ▸ How IGC works (one page, with a figure of the run on screen), About."""

from __future__ import annotations

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QMessageBox, QTextBrowser, QVBoxLayout, QWidget

from igc_core import search

from .model.view import View, format_pair

PAPER = "the Inverted Generator Classifier (IGC) paper"
KEYS = ("<p><b>Keys</b> (whatever has the focus): Space play / pause, or replay a finished run · Return search "
        "again · → one step (or forward through a recorded run) · ← one step back · Esc stop · F11 presentation "
        "mode · Ctrl+1…5 the tabs · Ctrl+D differences in the grid · Ctrl+O open · Ctrl+S save.</p>")
HOW = (
    "<p><b>How it works.</b> For every digit class the generator searches for the latent code from which it "
    "redraws your input best (one row of the grid each), by Adam steps on L = L_DD + λ_LR·L_LR (Sec. 3.1). "
    "The class whose redrawing is closest in L_DD wins; that distance is the out-of-class (OOC) score "
    "(Sec. 3.2). Above the threshold, measured for the input's noise level, the input is out of class: not a "
    "digit this model knows. When the two best classes are closer than a small margin the verdict is "
    "<i>uncertain</i>. Parallel IGC searches several restarts per class (Sec. 3.3).</p>" + KEYS
)


def page(view: View, model_name: str, figure: bool) -> str:
    """The 'How IGC works' page as HTML, with the numbers of the run on screen when there is one."""
    one_digit = isinstance(view, View)  # a two-digit view (issue 11) gets the page without its numbers
    c = view.run.config if one_digit and view.run is not None else search.SearchConfig.from_preset(None)
    steps, lr, lam, restarts = c.steps, c.lr, c.lambda_lr, c.restarts
    run = ""
    if one_digit and view.has_run and view.leader is not None and view.run is not None:
        other = view.runner_up
        gap = (f", ahead of {other} ({view.score_name} {format_pair(float(view.distances[other]), float(view.distances[other]))[0]})"
               if other is not None else "")
        run = (f"<p><b>On screen now</b> ({view.run.name}, step {view.step} of {view.steps}): class {view.leader} "
               f"redraws the input most closely, {view.score_name} {view.shown_ooc}{gap}. The threshold "
               f"{view.shown_threshold} ({view.threshold.note}) decides whether it is a digit at all: "
               f"<i>{view.verdict.headline}</i>.</p>")
    pic = ('<p align="center"><img src="figure" width="720"></p><p align="center"><i>The run on screen: the input, '
           'the verdict, what each class draws, and its distance L_DD step by step.</i></p>') if figure else ""
    return f"""
<h2>How IGC works</h2>
<p>The <b>Inverted Generator Classifier</b> classifies an image without a classifier. It uses a conditional
generator G(c, z), trained to draw a digit of class c from a latent code z (here: {model_name or 'the loaded model'}),
and runs it backwards: for each class it asks <i>which z would make G draw this input?</i> The class that can
redraw the input best is the answer.</p>
<h3>The loss (paper Sec. 3.1)</h3>
<p>L(z; c, d) = L_DD(G(c, z), d) + λ_LR · L_LR(z). L_DD, the <b>image distance</b>, is {distance_words(c)}
between the drawing and the input d, pixel by pixel (the <i>G − d</i> view of the grid shows it). L_LR = mean |zscore(z)|
keeps z where the generator was trained, so that it cannot scribble just any shape; λ_LR (now {lam:g}) weighs it.</p>
<h3>The search</h3>
<p>Every class's latent starts at the mean of the latents the generator was trained on (the grid before a run shows
what it draws from there) and takes {steps} Adam steps (learning rate {lr:g}) down L, with the generator's weights
frozen. Then the class with the smallest L_DD wins. The curves show L_DD falling class by class; replay them slowly
(Play on a finished run), and watch the latents move on the Latent path tab.</p>
<h3>Parallel IGC (Sec. 3.3)</h3>
<p>A search can get stuck in a poor local optimum. Parallel IGC starts R latents per class at different points
(now R = {restarts}) and keeps the best: the grid's columns. On the Latent path tab the restarts of a class
converge, or do not.</p>
<h3>Out of class (Sec. 3.2)</h3>
<p>The winner's distance is the <b>OOC score</b>. A digit of a class the generator knows can be redrawn closely;
a shoe or a scribble cannot, by any class. Above a threshold (measured on MNIST test digits so that 95 % of them
stay in class, per noise level) the input is called out of class: “?”. When the two best classes are nearly tied
the verdict is <i>uncertain</i>.</p>
{run}{pic}
<h3>Reference</h3>
<p>The Inverted Generator Classifier (IGC) paper: Sec. 3.1 the search and its loss, 3.2 OOC, 3.3 Parallel IGC,
4 the MNIST results.</p>
{KEYS}
"""


def distance_words(config) -> str:
    """L_DD of the search `config` in words, for the page: what it compares, as the search compares it."""
    words = {"mae": "the mean absolute difference (the paper's)", "mse": "the mean squared difference",
             "bce": "the binary cross-entropy"}.get(config.dif, str(config.dif))
    if config.intensity == "affine":
        words += (" (after fitting the drawing a contrast a and a brightness b: a·G + b, the default search's "
                  "intensity fit)")
    return words


def show_how(parent: QWidget, view: View, model_name: str = "") -> QDialog:
    """One page with the loss, the search, Parallel IGC and OOC, and a figure made from the run on screen."""
    from .export import render_figure

    dialog = QDialog(parent)
    dialog.setWindowTitle("How IGC works")
    dialog.resize(860, 720)
    lay = QVBoxLayout(dialog)
    text = QTextBrowser()
    text.setOpenExternalLinks(False)
    figure = isinstance(view, View) and view.has_run and view.run is not None
    if figure:
        text.document().addResource(QTextDocument.ResourceType.ImageResource, QUrl("figure"), render_figure(view, model_name))
    text.setHtml(page(view, model_name, figure))
    lay.addWidget(text)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    lay.addWidget(buttons)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
    return dialog


def show_about(parent: QWidget, model_name: str | None) -> None:
    QMessageBox.about(parent, "About IGC", f"<h2>IGC: Inverted Generator Classifier</h2>"
                      f"<p>A desktop demonstration of {PAPER}.</p>{HOW}"
                      f"<p>Model: {model_name or 'none'}</p>")
