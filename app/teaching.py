"""The teaching mode's wiring: replay, the class compared, the latent map's axes, sweeps, the attack demo and
presentation mode, between the window's panels and its session. (The facts are in the view; this only turns
intents into session commands and shows the messages.)"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QApplication, QWidget

from igc_core import checkpoints

from . import style
from .model.compare import parse_values

if TYPE_CHECKING:
    from .attack_demo import AttackOutcome
    from .window import MainWindow


class Teaching(QObject):
    def __init__(self, window: "MainWindow"):
        super().__init__(window)
        self.w = window
        self.session = window.session
        self.presenting = False
        self._cnn = None
        self._inheriting: list | None = None
        rp = window.result_panel
        rp.class_clicked.connect(self.select_class)
        rp.grid_mode.connect(self.session.set_grid_mode)
        rp.tab_changed.connect(self._on_tab)
        rp.latent.axes_changed.connect(lambda _axes: self._on_tab(rp.current_tab()))
        rp.compare.sweep_requested.connect(self.sweep)
        rp.attack.make_requested.connect(self.make_adversarial)
        rp.attack.search_requested.connect(self.search_adversarial)
        window.transport.run.connect(lambda: window.start_search())
        window.transport.speed.connect(self.session.set_speed)

    # ------------------------------------------------------------------------------------ replay
    def replay_ready(self) -> bool:
        """Whether Play would replay: a finished run is shown and the input and settings are still its own."""
        s = self.session
        v = s.view
        if s.is_two_digit or s.is_active() or v.run is None or s.result is None or v.frames < 2:
            return False
        try:
            _, x = self.w.current_input()
            config = self.w.search_config()
        except ValueError:
            return True  # nothing else to search (an empty canvas): the shown run is what there is
        return config == v.run.config and x.shape == v.run.image.shape and np.array_equal(x, v.run.image)

    # ------------------------------------------------------------------------------------ the class compared
    def select_class(self, c: int) -> None:
        """Compare class `c` with the winner ('why this class'); clicking it again, or the winner, goes back to the runner-up."""
        v = self.session.view
        self.session.select_class(None if c == v.selected or c == v.leader else c)
        if c not in (v.leader, v.selected):
            self.w.flash(f"Comparing {v.leader} with {c}: see Why this class (click it again for the runner-up).", 4000)

    def _on_tab(self, tab: str) -> None:
        self.session.set_latent_axes(self.w.result_panel.latent.axes() if tab == "latent" else None)

    # ------------------------------------------------------------------------------------ sweeps
    def sweep(self, field: str, text: str) -> bool:
        try:
            values = parse_values(field, text)
            _, x = self.w.current_input()
            config = self.w.search_config()
            p = self.w.input_panel
            self.session.sweep(x, p.noise_sigma, config, field, values, name=p.input_name, true_label=p.true_label)
        except ValueError as exc:
            self.w.show_message(f"Cannot sweep: {exc}", "warning")
            return False
        self.w.banner.hide()
        return True

    # ------------------------------------------------------------------------------------ the attack demo
    def cnn(self):
        """The CNN baseline (assets/cnn), loaded the first time it is needed."""
        if self._cnn is None:
            self._cnn, _ = checkpoints.load_classifier(checkpoints.ASSETS / "cnn")
        return self._cnn

    def make_adversarial(self) -> None:
        s = self.session
        try:
            _, x = self.w.current_input()
            cnn = self.cnn()
        except (ValueError, OSError, checkpoints.CheckpointError) as exc:
            self.w.show_message(f"Cannot make an adversarial: {exc}", "warning")
            return
        if s.model is None:
            self.w.show_message("Cannot make an adversarial: no model is loaded.", "warning")
            return
        self.w.result_panel.attack.start(x, self.w.input_panel.true_label, cnn, s.model, self.w.search_config())

    def search_adversarial(self, outcome: "AttackOutcome") -> None:
        """Put the adversarial on the canvas (exactly) and search it."""
        if outcome is None:
            return
        p = self.w.input_panel
        p.set_noise(0.0)  # the adversarial already carries the input's noise
        p.set_input_image(outcome.adversarial + 0.5, f"adversarial: {outcome.name}",
                          outcome.label if outcome.label_known else None)
        self.w.start_search()

    # ------------------------------------------------------------------------------------ presentation
    def set_presentation(self, on: bool) -> None:
        """Large fonts (1.6x), no settings panel: the grid, the curves and the verdict fill the screen."""
        self.presenting = bool(on)
        style.set_scale(style.PRESENTATION_SCALE if on else 1.0)
        from .style import apply_theme

        apply_theme(QApplication.instance())
        w = self.w
        if self._inheriting is None:  # the widgets that take the window's font (no font of their own), found once
            self._inheriting = [c for c in w.findChildren(QWidget) if not c.testAttribute(Qt.WidgetAttribute.WA_SetFont)]
        for c in [w, *self._inheriting]:  # set one by one: a font change does not reach widgets under a style sheet
            f = c.font()
            f.setPointSizeF(style.BASE_POINTS * style.scale())
            c.setFont(f)
        w.settings_panel.setVisible(not on)
        w.menuBar().setVisible(not on)  # its shortcuts (F11, F1, Ctrl+…) still work
        w.statusBar().setVisible(not on)
        w.input_panel.set_compact(on)
        for panel in (w.result_panel, w.transport, w.banner):
            panel.rescale()
        w.presentation_action.setChecked(on)
        w.flash("Presentation mode: F11 leaves it." if on else "Presentation mode off.", 4000)
