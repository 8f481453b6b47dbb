"""The attack demo: make an adversarial version of the input, see the CNN's answer beside IGC's, search it."""

from __future__ import annotations

import threading

import numpy as np
from PySide6.QtCore import QObject, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPen, QTextDocumentFragment
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QSlider, QVBoxLayout, QWidget,
)

from .. import style
from ..attack_demo import EPS_MAX, METHODS, AttackOutcome, Cancelled, make_adversarial
from ..model.explain import diverging_rgb
from ..model.view import View
from ..style import INK, MUTED
from ..widgets import gray_image, rgb_image


class _Relay(QObject):
    progress = Signal(int, int)
    done = Signal(object)  # AttackOutcome, or an error message (str), or None when cancelled


class AttackImages(QWidget):
    """The clean input, the perturbation (scaled to the budget) and the adversarial, with their captions."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(240, 120)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.outcome: AttackOutcome | None = None
        self.elided: list[str] = []

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("white"))
        small = style.font(11)
        fm = QFontMetrics(small)
        p.setFont(small)
        o = self.outcome
        if o is None:
            p.setPen(QColor(MUTED))
            p.drawText(self.rect().adjusted(10, 0, -10, 0), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       "Choose an attack and a budget ε, then press Make adversarial. The adversarial differs from the "
                       "input by at most ε per pixel (on the 0-1 scale).")
            p.end()
            return
        gap = style.px(12)
        cap = fm.height() + 4
        self.elided: list[str] = []  # captions shortened at this paint (tests: none)
        side = max(40.0, min((self.width() - 2 * gap - 16) / 3, self.height() - cap - 8))
        x0 = (self.width() - 3 * side - 2 * gap) / 2
        delta = o.adversarial - o.clean
        words = ("input", f"±{o.eps:.2f}", "adversarial") if style.scale() > 1 else (
            "the input", f"the change ±{o.eps:.2f}", "the adversarial")  # short words in large letters
        cells = ((gray_image(o.clean), words[0]),
                 (rgb_image(diverging_rgb(delta, scale=max(o.eps, 1e-6))), words[1]),
                 (gray_image(o.adversarial), words[2]))
        for k, (image, caption) in enumerate(cells):
            rect = QRectF(x0 + k * (side + gap), 4, side, side)
            p.drawImage(rect, image)
            p.setPen(QPen(QColor(MUTED), 1))
            p.drawRect(rect)
            p.setPen(QColor(INK))
            box = QRectF(rect.left() - gap / 2, rect.bottom() + 3, side + gap, cap)
            shown = fm.elidedText(caption, Qt.TextElideMode.ElideRight, int(box.width()))  # one line, never onto the next
            self.elided += [caption] if shown != caption else []
            p.drawText(box, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, shown)
        p.end()


class AttackPanel(QWidget):
    """Controls, the three pictures and the two classifiers' answers; the attack runs in a thread of its own."""

    make_requested = Signal()  # the window answers with start(...) (it knows the input, the CNN, the model)
    search_requested = Signal(object)  # AttackOutcome: search the adversarial with IGC

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.method_box = QComboBox(toolTip="FGSM and PGD attack the CNN baseline (assets/cnn): does IGC fall for an\n"
                                            "adversarial made for another classifier? 'Through IGC's search' attacks\n"
                                            "IGC itself, with the gradient at its search's optimum (slower).")
        for key, text in METHODS.items():
            self.method_box.addItem(text, key)
        self.method_box.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.method_box.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        row.addWidget(self.method_box, 1)
        self.make_button = QPushButton("Make adversarial")
        self.make_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.make_button.clicked.connect(self._on_make)
        row.addWidget(self.make_button)
        col.addLayout(row)
        row = QHBoxLayout()  # the budget on a row of its own: the slider keeps a usable length on a projector
        self.eps_label = QLabel()
        row.addWidget(self.eps_label)
        self.eps_slider = QSlider(Qt.Orientation.Horizontal, minimum=1, maximum=int(EPS_MAX * 100), value=15,
                                  toolTip="The budget ε: no pixel changes by more than this (0-1 scale).")
        self.eps_slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.eps_slider.valueChanged.connect(self._eps_text)
        self.eps_slider.setMinimumWidth(120)
        row.addWidget(self.eps_slider, 1)
        self.search_button = QPushButton("Search the adversarial with IGC")
        self.search_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.search_button.setEnabled(False)
        self.search_button.clicked.connect(lambda: self.search_requested.emit(self.outcome))
        row.addWidget(self.search_button)
        col.addLayout(row)
        self.progress = QProgressBar()
        self.progress.setMaximumHeight(style.px(10))
        self.progress.setTextVisible(False)
        self.progress.hide()
        col.addWidget(self.progress)
        self.images = AttackImages()
        col.addWidget(self.images, 1)
        self.cnn_label = QLabel("")
        self.igc_label = QLabel("")
        for label in (self.cnn_label, self.igc_label):
            label.setWordWrap(True)
            label.setFont(style.font(12))
            col.addWidget(label)
        self._said: dict[QLabel, tuple[str, str]] = {}  # label -> (full text, projector text)
        self.outcome: AttackOutcome | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._relay = _Relay()
        self._relay.progress.connect(lambda done, total: (self.progress.setMaximum(total), self.progress.setValue(done)))
        self._relay.done.connect(self._on_done)
        self._eps_text()

    # ------------------------------------------------------------------------------------ settings
    @property
    def method(self) -> str:
        return self.method_box.currentData()

    @property
    def eps(self) -> float:
        return self.eps_slider.value() / 100

    def set_choice(self, method: str, eps: float) -> None:
        i = self.method_box.findData(method)
        if i >= 0:
            self.method_box.setCurrentIndex(i)
        self.eps_slider.setValue(int(round(eps * 100)))

    def _eps_text(self) -> None:
        self.eps_label.setText(f"ε {self.eps:.2f}")

    def rescale(self) -> None:
        for label in (self.cnn_label, self.igc_label):
            label.setFont(style.font(12))
            self._say(label, *self._said.get(label, ("", "")))
        self.search_button.setText("Search with IGC" if style.scale() > 1 else "Search the adversarial with IGC")

    def _say(self, label: QLabel, full: str, short: str = "") -> None:
        """On a projector the short answer, read from the back of a room; the whole sentence is the tooltip."""
        self._said[label] = (full, short)
        label.setText(short if short and style.scale() > 1 else full)
        label.setToolTip(QTextDocumentFragment.fromHtml(full).toPlainText() if full else "")

    # ------------------------------------------------------------------------------------ the work
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _on_make(self) -> None:
        if self.busy():
            self._stop.set()  # the button reads "Cancel" while it works
            return
        self.make_requested.emit()

    def start(self, image: np.ndarray, label: int | None, cnn, generator, config) -> None:
        """Make the adversarial in a thread (never on the GUI thread); the result arrives through a signal."""
        if self.busy():
            return
        self._stop.clear()
        method, eps = self.method, self.eps
        self.make_button.setText("Cancel")
        self.progress.setValue(0)
        self.progress.show()
        self._say(self.cnn_label, f"Making the adversarial: {METHODS[method]}, ε {eps:.2f}…", f"Making it (ε {eps:.2f})…")
        relay, stop = self._relay, self._stop

        def work() -> None:
            try:
                out = make_adversarial(image, label, method, eps, cnn, generator, config,
                                       progress=relay.progress.emit, should_stop=stop.is_set)
            except Cancelled:
                out = None
            except (ValueError, RuntimeError) as exc:
                out = f"The attack failed: {exc}"
            relay.done.emit(out)

        self._thread = threading.Thread(target=work, name="igc-attack", daemon=True)
        self._thread.start()

    def stop(self, wait: float = 5.0) -> None:
        """Stop a running attack (on close)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(wait)

    def _on_done(self, out) -> None:
        self.make_button.setText("Make adversarial")
        self.progress.hide()
        if out is None:
            self._say(self.cnn_label, "Cancelled.")
            return
        if isinstance(out, str):
            self._say(self.cnn_label, out)
            return
        self.outcome = out
        self.images.outcome = out
        self.images.update()
        self.search_button.setEnabled(True)
        c0, p0 = out.cnn_clean
        c1, p1 = out.cnn_adversarial
        truth = "true label" if out.label_known else "the CNN's answer on the input"
        verdict = "fooled" if out.cnn_fooled else "not fooled"
        self._say(self.cnn_label, f"CNN: {c0} ({100 * p0:.0f} %) on the input → {c1} ({100 * p1:.0f} %) on the adversarial: "
                                  f"<b>{verdict}</b> (attacked {truth} {out.label}; max change {out.linf:.3f}, {out.seconds:.1f} s)",
                  f"CNN: {c0} → {c1}, <b>{verdict}</b> (max change {out.linf:.2f})")
        self._say(self.igc_label, "IGC: search the adversarial (the button above) to see IGC's answer beside the CNN's.",
                  "IGC: press Search with IGC")

    def render(self, v: View) -> None:
        o = self.outcome
        if o is None or v.run is None or v.run.name != f"adversarial: {o.name}":
            return
        if not v.final:
            self._say(self.igc_label, f"IGC is searching the adversarial… {v.verdict.headline}", "IGC is searching…")
            return
        kind, leader = v.verdict.kind, v.leader
        if kind == "out":  # a reject is not a correct answer: say which it is (GUIDE: "correct or rejected" apart)
            wrong = "" if leader == o.label else ", a wrong class"
            said = f"rejects it as out of class (closest {leader}{wrong}): <b>rejected</b>, not fooled but no answer either"
            short = "?, <b>rejected</b>"
        elif leader == o.label:
            said = f"still says {leader}" + (" (uncertain)" if kind == "uncertain" else "") + ": <b>not fooled</b>"
            short = f"{v.verdict.big}, <b>not fooled</b>"
        else:
            said = f"says {v.verdict.big}: <b>fooled too</b>"
            short = f"{v.verdict.big}, <b>fooled too</b>"
        self._say(self.igc_label, f"IGC on the adversarial {said} (attacked label {o.label}).", f"IGC: {short}")
