"""The result: the verdict header with the OOC gauge, the reconstruction grid, the ranked bars and the curves.

It renders a `View` and nothing else, so the verdict, the bars, the curves and the grid's frame always tell
the same story. The header has a fixed height and single-line, elided texts: nothing moves between states.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (
    QButtonGroup, QFrame, QGridLayout, QHBoxLayout, QLabel, QPushButton, QScrollArea, QSizePolicy, QSplitter,
    QTabWidget, QVBoxLayout, QWidget,
)

from . import style
from .curves import CurvesView
from .model.threshold import in_distance
from .model.view import View
from .panels.attack_panel import AttackPanel
from .panels.compare_panel import ComparePanel
from .panels.latent_panel import LatentPanel
from .panels.why_panel import WhyView
from .style import INK, MUTED, TIPS, VERDICT_MARKS, VERDICT_TINTS
from .widgets import DistanceBars, OOCGauge, ReconstructionGrid

TABS = ("distances", "why", "latent", "compare", "attack")
TAB_TITLES = {"distances": "Distances", "why": "Why this class", "latent": "Latent path", "compare": "Compare runs",
              "attack": "Attack"}
# where the full titles do not fit (the full one is each tab's tooltip): short enough that all five always fit
SHORT_TITLES = {"distances": "L_DD", "why": "Why", "latent": "Map", "compare": "Runs", "attack": "Attack"}


class ElidedLabel(QLabel):
    """A one-line label that shortens its text with '…' instead of wrapping (the full text is its tooltip)."""

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setText(text)

    def setText(self, text: str) -> None:  # camelCase: Qt's name
        if text == self._full and self.text():
            return
        self._full = text
        self.setToolTip(text)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def set_two_lines(self, on: bool) -> None:
        """Wrap onto a second line instead of shortening (presentation mode's large fonts on a small screen)."""
        self.setWordWrap(on)
        if on:
            self.setFixedHeight(2 * QFontMetrics(self.font()).lineSpacing() + 2)
        else:
            self.setMinimumHeight(0)
            self.setMaximumHeight(16777215)
        self._elide()

    def _elide(self) -> None:
        if self.wordWrap():
            super().setText(self._full)
            return
        fm = QFontMetrics(self.font())
        super().setText(fm.elidedText(self._full, Qt.TextElideMode.ElideRight, max(10, self.width())))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == event.Type.FontChange:
            self._elide()


def _font(points: float, bold: bool = False) -> QFont:
    return style.font(points, bold)


class ResultPanel(QWidget):
    threshold_dragged = Signal(float)
    threshold_reset = Signal()
    class_clicked = Signal(int)  # compare this class with the leader
    grid_mode = Signal(str)  # "images" or "differences"
    tab_changed = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.layout_grid = QGridLayout(self)
        self.layout_grid.setContentsMargins(0, 0, 0, 0)
        self.layout_grid.setSpacing(6)
        self._build_header()

        self.grid_view = ReconstructionGrid()
        self.grid_view.class_clicked.connect(self.class_clicked)
        self.grid_scroll = QScrollArea()
        self.grid_scroll.setWidget(self.grid_view)
        self.grid_scroll.setWidgetResizable(True)
        self.grid_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.grid_scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.grid_box = QFrame()
        self.grid_box.setObjectName("gridbox")
        self.grid_box.setStyleSheet("#gridbox { border: 1px solid #cbd2d9; border-radius: 4px; }")
        glay = QVBoxLayout(self.grid_box)
        glay.setContentsMargins(4, 2, 4, 4)
        glay.setSpacing(2)
        self.grid_title = ElidedLabel("Reconstructions")
        self.grid_title.setToolTip("What the grid shows at the step shown.")
        glay.addWidget(self.grid_title)
        modes = QHBoxLayout()
        modes.setSpacing(0)
        self.mode_buttons = QButtonGroup(self)
        for i, (key, text, tip) in enumerate((
                ("images", "G(c, z)", "Show what each class's generator draws."),
                ("differences", "G − d", "Show each drawing's difference from the input: red, ink the generator adds;\n"
                                         "blue, ink of the input it misses. Their mean size is L_DD."))):
            b = QPushButton(text, toolTip=tip, checkable=True, checked=i == 0)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.setProperty("mode", key)
            b.setMinimumWidth(b.fontMetrics().horizontalAdvance(text) + 20)  # not the style's 80 px: a narrow window
            self.mode_buttons.addButton(b)
            modes.addWidget(b)
        self.mode_buttons.setExclusive(True)
        self.mode_buttons.buttonClicked.connect(lambda b: self.grid_mode.emit(b.property("mode")))
        glay.addLayout(modes)
        glay.addWidget(self.grid_scroll, 1)
        self.grid_scroll.viewport().installEventFilter(self)
        self.bars = DistanceBars()
        self.bars.class_clicked.connect(self.class_clicked)
        self.curves = CurvesView()
        plots = QSplitter(Qt.Orientation.Vertical)
        plots.setChildrenCollapsible(False)
        plots.addWidget(self.bars)
        plots.addWidget(self.curves)
        plots.setSizes([1, 1])
        self.why = WhyView()
        self.latent = LatentPanel()
        self.latent.class_clicked.connect(self.class_clicked)
        self.compare = ComparePanel()
        self.attack = AttackPanel()
        self.tabs = QTabWidget()
        self.tabs.setMinimumWidth(280)
        self.tabs.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.tabs.tabBar().setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.pages = {"distances": plots, "why": self.why, "latent": self.latent, "compare": self.compare, "attack": self.attack}
        for key in TABS:
            self.tabs.addTab(self.pages[key], TAB_TITLES[key])
        self.tabs.currentChanged.connect(self._on_tab)
        self.tabs.installEventFilter(self)  # its titles follow its width
        # presentation mode: a place beside the header for what the window puts there (the narration)
        self.side_slot = QWidget()
        QVBoxLayout(self.side_slot).setContentsMargins(0, 0, 0, 0)
        self.side_slot.hide()
        self.presenting = False
        self._arrange()
        self._view: View | None = None
        self._restarts, self._steps = 1, 100
        self._input_sigma: float | None = None

    def _build_header(self) -> QFrame:
        head = QFrame(self)
        head.setObjectName("head")
        self.head = head
        head.setFixedHeight(style.px(122))
        lay = QGridLayout(head)
        lay.setContentsMargins(12, 6, 12, 6)
        lay.setHorizontalSpacing(12)
        lay.setVerticalSpacing(2)
        self.prediction_label = QLabel("–")
        self.prediction_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.prediction_label.setToolTip("The class whose generator redraws the input most closely ('?': out of class).")
        lay.addWidget(self.prediction_label, 0, 0, 3, 1)
        self.verdict_label = ElidedLabel("no search yet")
        lay.addWidget(self.verdict_label, 0, 1)
        self.detail_label = ElidedLabel("")
        lay.addWidget(self.detail_label, 1, 1)
        self.gauge = OOCGauge()
        self.gauge.setToolTip(TIPS["threshold"])
        self.gauge.threshold_dragged.connect(self.threshold_dragged)
        self.gauge.threshold_reset.connect(self.threshold_reset)
        lay.addWidget(self.gauge, 2, 1)
        lay.setColumnStretch(1, 1)
        self._tint = None
        self._colour = None
        self._set_tint("none")
        self._header_fonts()
        return head

    def _header_fonts(self) -> None:
        self.prediction_label.setFont(_font(52 / style.scale() ** 0.5, True))  # the digit is big already: it grows less
        self.prediction_label.setFixedWidth(QFontMetrics(self.prediction_label.font()).horizontalAdvance("8?") + 16)
        self.verdict_label.setFont(_font(18, True))
        self.detail_label.setFont(_font(12))
        self.detail_label.set_two_lines(style.scale() > 1)  # large letters: the detail wraps rather than being cut
        self.gauge.rescale()
        lines = QFontMetrics(self.verdict_label.font()).height() + (
            self.detail_label.height() if style.scale() > 1 else QFontMetrics(self.detail_label.font()).height())
        self.head.setFixedHeight(max(122, lines + self.gauge.height() + 18))

    def _arrange(self) -> None:
        """The header spans the top; the grid and the tabs share the row below (up to 60 % for the grid, never more
        than its cells need). Presenting, the slot under the header holds the narration (the transport keeps only its
        buttons), and with one or two restarts the grid shows the classes in two blocks (0-4, 5-9) of cells twice as
        large: the picture the demo is about is the largest thing on screen."""
        lay = self.layout_grid
        for w in (self.head, self.grid_box, self.side_slot, self.tabs):
            lay.removeWidget(w)
        if self.presenting:
            lay.addWidget(self.head, 0, 0, 1, 2)
            lay.addWidget(self.side_slot, 1, 0, 1, 2)
            lay.addWidget(self.grid_box, 2, 0)
            lay.addWidget(self.tabs, 2, 1)
            stretches = (0, 0, 1)
        else:
            lay.addWidget(self.head, 0, 0, 1, 2)
            lay.addWidget(self.grid_box, 1, 0)
            lay.addWidget(self.tabs, 1, 1)
            stretches = (0, 1, 0)
        for row, stretch in enumerate(stretches):
            lay.setRowStretch(row, stretch)
        lay.setColumnStretch(0, 3)
        lay.setColumnStretch(1, 2)
        self.side_slot.setVisible(self.presenting and self.side_slot.layout().count() > 0)

    def set_presenting(self, on: bool, side: QWidget | None = None) -> None:
        """Lay out for a projector (or back for a desk); `side` is shown beside the header while presenting."""
        slot = self.side_slot.layout()
        if side is not None and on:
            slot.addWidget(side)
        self.presenting = bool(on)
        self._arrange()
        self._grid_blocks()

    def _grid_blocks(self) -> None:
        self.grid_view.set_blocks(2 if self.presenting and self.grid_view.restarts <= 2 else 1)

    def rescale(self) -> None:
        """Fonts and text-bound sizes again, at the current scale (presentation mode)."""
        for b in self.mode_buttons.buttons():
            b.setMinimumWidth(QFontMetrics(b.font()).horizontalAdvance(b.text()) + style.px(20))
        self._header_fonts()
        self.grid_view.rescale()
        self.attack.rescale()
        self.compare.rescale()
        self.grid_title.setFont(_font(11, True))
        self.grid_title.setVisible(style.scale() == 1)  # on a projector the buttons G(c, z) | G − d say it
        self._tab_titles()
        self._orient()
        self._fit_grid()

    def eventFilter(self, obj, event) -> bool:  # camelCase: Qt's name
        if obj is self.tabs and event.type() == event.Type.Resize:
            self._tab_titles()
        elif obj is self.grid_scroll.viewport() and event.type() == event.Type.Resize and event.size().height() != event.oldSize().height():
            self._fit_grid()  # the grid's height changed (a header or a mode change): its width follows
        return super().eventFilter(obj, event)

    def _tab_titles(self) -> None:
        """The full tab titles where they fit side by side, else the short ones (no tab hides behind scroll arrows)."""
        fm = QFontMetrics(self.tabs.tabBar().font())
        need = sum(fm.horizontalAdvance(TAB_TITLES[k]) + style.px(28) for k in TABS)
        titles = TAB_TITLES if style.scale() == 1 and need <= self.tabs.width() else SHORT_TITLES
        for i, key in enumerate(TABS):
            if self.tabs.tabText(i) != titles[key]:
                self.tabs.setTabText(i, titles[key])
                self.tabs.setTabToolTip(i, TAB_TITLES[key])
        # the short titles always fit: a wide grid (20 restarts) scrolls sideways rather than hide a tab
        bar = self.tabs.tabBar()
        short = sum(fm.horizontalAdvance(SHORT_TITLES[k]) + bar.tabSizeHint(i).width() - fm.horizontalAdvance(bar.tabText(i))
                    for i, k in enumerate(TABS)) + 6
        if self.tabs.minimumWidth() != max(280, short):
            self.tabs.setMinimumWidth(max(280, short))

    def _orient(self) -> None:
        """Bars above the curves, or beside them when the tab is much wider than tall (a projector's 16:9)."""
        page = self.pages["distances"]
        wide = self.tabs.width() > 1.5 * self.tabs.height()
        want = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if page.orientation() != want:
            page.setOrientation(want)
            page.setSizes([2, 3] if wide else [1, 1])

    def current_tab(self) -> str:
        return TABS[self.tabs.currentIndex()]

    def show_tab(self, name: str) -> None:
        self.tabs.setCurrentIndex(TABS.index(name))

    def _on_tab(self, _index: int) -> None:
        self.tab_changed.emit(self.current_tab())
        if self._view is not None:
            self._render_tab(self._view)

    def _set_tint(self, kind: str) -> None:
        tint = VERDICT_TINTS.get(kind, "white")
        if tint != self._tint:
            self._tint = tint
            self.head.setStyleSheet(f"#head {{ background: {tint}; border: 1px solid #cbd2d9; border-radius: 8px; }}")

    def set_input_sigma(self, sigma: float) -> None:
        """The noise the input carries now: when it is not the shown run's, the gauge's caption says whose σ it shows."""
        if sigma != self._input_sigma:
            self._input_sigma = float(sigma)
            if self._view is not None:
                self.render(self._view)

    def set_planned(self, restarts: int, steps: int) -> None:
        """The grid's columns and the curves' step axis before a run (from the settings): the first run moves nothing."""
        self._restarts, self._steps = restarts, steps
        if self.grid_view.current is None:
            self.grid_view.set_shape(10, restarts)
            self._grid_blocks()
            self._fit_grid()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_grid()
        self._orient()
        self._tab_titles()

    def _fit_grid(self) -> None:
        """The grid gets no more width than its cells need at this height; the plots get the rest."""
        height = self.grid_scroll.viewport().height() or 400
        title = max(b.minimumWidth() for b in self.mode_buttons.buttons()) * 2 + 12
        self.grid_box.setMaximumWidth(max(self.grid_view.width_for_height(height) + 10, title))
        self.grid_box.setMinimumWidth(title)

    # ------------------------------------------------------------------------------------ rendering
    def render(self, v: View) -> None:
        verdict = v.verdict
        final = verdict.kind not in ("provisional", "none")
        self._set_tint(verdict.kind if final else "none")
        if self.prediction_label.text() != verdict.big:
            self.prediction_label.setText(verdict.big)
        colour = INK if final else MUTED
        if colour != self._colour:  # style sheets are costly to re-apply: only on a change
            self._colour = colour
            self.prediction_label.setStyleSheet(f"color: {colour};")
            self.verdict_label.setStyleSheet(f"color: {colour};")
        mark = VERDICT_MARKS.get(verdict.kind, "")
        self.verdict_label.setText(f"{mark} {verdict.headline}" if mark else verdict.headline)
        self.detail_label.setText(verdict.detail)
        t = v.threshold
        score = " (OOC over √ink)" if t.score == "ink" else ""
        label = f"threshold {v.shown_threshold}{score} {t.note}" if t.comparable else t.note
        if v.run is not None and self._input_sigma is not None and abs(v.run.sigma - self._input_sigma) > 1e-9:
            # Space searches at the new noise: until then the gauge is the run's
            label = (f"threshold {v.shown_threshold} for the run's noise σ {v.run.sigma:.2f}, " if t.comparable
                     else f"{t.note}; the run's noise σ {v.run.sigma:.2f}, ") + f"not the input's σ {self._input_sigma:.2f}"
        outside = final and v.ooc is not None and v.ooc > t.value and t.comparable  # hatched: out of class
        self.gauge.set_data(v.ooc, t.value if t.comparable else None, v.gauge_max, outside, not final, label,
                            f"threshold {v.shown_threshold}" if t.comparable else "no out-of-class verdict")
        self.gauge.setToolTip(f"OOC score {v.shown_ooc}; {label}.\n\n{TIPS['threshold']}")

        restarts = v.grid.shape[1] if v.grid is not None else self._restarts
        if restarts != self.grid_view.restarts:
            self.grid_view.set_shape(10, restarts)
            self._grid_blocks()
            self._fit_grid()
        self.grid_view.show_frame(v.grid, v.leader, v.best_restart, v.differences, v.selected)
        self.grid_title.setText(v.grid_title)
        for b in self.mode_buttons.buttons():
            if b.property("mode") == v.grid_mode and not b.isChecked():
                b.setChecked(True)
        self._view = v
        self._render_tab(v)

    def _render_tab(self, v: View) -> None:
        """Only the tab on screen is drawn (the others catch up when they are shown)."""
        tab = self.current_tab()
        t = v.threshold
        if tab == "distances":
            title = f"{v.score_name} (decides)" + (f" · step {v.step}" if v.has_run else "")
            at = in_distance(t, v.run.image if v.run is not None else None)  # the score's line, in distances
            self.bars.set_data(v.distances, v.order, v.leader, at if t.comparable else None, v.bars_max, title)
            self.curves.set_title(v.curve_name, v.curve_decides)
            self.curves.set_smooth(v.status != "running")
            ghost = v.ghost if v.ghost is not None and v.curve_decides else None
            self.curves.set_ghost(ghost.curve_steps if ghost else None, ghost.curve_values if ghost else None,
                                  v.ghost_label if ghost else "")
            self.curves.set_curves(v.curve_steps, v.curve_values, v.leader, max(v.steps if v.has_run else self._steps, 1))
            self.curves.set_cursor(v.step)
        elif tab == "why":
            self.why.render(v)
        elif tab == "latent":
            self.latent.render(v)
        elif tab == "compare":
            self.compare.render(v)
        elif tab == "attack":
            self.attack.render(v)
