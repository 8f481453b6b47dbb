"""The teaching mode's wiring: the class compared, the latent map's axes, sweeps, replay and the attack demo,
between the result panel and the session. (The facts are in the view and the decisions in the session; this
only turns intents into session commands and shows the messages.)

It sees the window only through `Host`, the five things it asks of it, so window and teaching import no
cycle; presentation mode, being about the window's layout, is the window's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np
from PySide6.QtCore import QObject

from igc_core import checkpoints

from .model.compare import parse_values
from .model.session import Session

if TYPE_CHECKING:
    from .attack_demo import AttackOutcome
    from .result_panel import ResultPanel


class Host(Protocol):
    """What the teaching wiring asks of the window."""

    def active_input(self): ...  # the input panel in use (current_input, noise_sigma, input_name, true_label, ...)

    def search_config(self): ...

    def start_search(self, start_paused: bool = False) -> bool: ...

    def show_message(self, text: str, level: str = "info") -> None: ...

    def flash(self, text: str, ms: int = 5000) -> None: ...

    def hide_message(self) -> None: ...


class Teaching(QObject):
    def __init__(self, session: Session, result_panel: "ResultPanel", host: Host, parent: QObject | None = None):
        super().__init__(parent)
        self.host = host
        self.session = session
        self.result_panel = rp = result_panel
        self._cnn = None
        # the attack demo: every attack starts from the drawn input, never from the previous adversarial
        self._origin: tuple[np.ndarray, int | None] | None = None  # (model input, true label) attacked
        self._placed: np.ndarray | None = None  # the adversarial put on the canvas (searched)
        rp.class_clicked.connect(self.select_class)
        rp.grid_mode.connect(self.session.set_grid_mode)
        rp.tab_changed.connect(self._on_tab)
        rp.latent.axes_changed.connect(lambda _axes: self._on_tab(rp.current_tab()))
        rp.compare.sweep_requested.connect(self.sweep)
        rp.attack.make_requested.connect(self.make_adversarial)
        rp.attack.search_requested.connect(self.search_adversarial)

    def _next_search(self) -> tuple[np.ndarray, object]:
        """(model input, settings) a new search would use now; ValueError when there is nothing to search."""
        _, x = self.host.active_input().current_input()
        return x, self.host.search_config()

    # ------------------------------------------------------------------------------------ replay
    def replay_ready(self) -> bool:
        """Whether Play would replay: a finished run is shown and the input and settings are still its own."""
        return self.session.replay_ready(self._next_search)

    # ------------------------------------------------------------------------------------ the class compared
    def select_class(self, c: int) -> None:
        """Compare class `c` with the winner ('why this class'); clicking it again, or the winner, goes back to the runner-up."""
        leader = self.session.view.leader
        if self.session.pick_class(c):
            self.host.flash(f"Comparing {leader} with {c}: see Why this class (click it again for the runner-up).", 4000)

    def _on_tab(self, tab: str) -> None:
        self.session.set_latent_axes(self.result_panel.latent.axes() if tab == "latent" else None)

    # ------------------------------------------------------------------------------------ sweeps
    def sweep(self, field: str, text: str) -> bool:
        try:
            values = parse_values(field, text)
            x, config = self._next_search()
            p = self.host.active_input()
            self.session.sweep(x, p.noise_sigma, config, field, values, name=p.input_name, true_label=p.true_label)
        except ValueError as exc:
            self.host.show_message(f"Cannot sweep: {exc}", "warning")
            return False
        self.host.hide_message()
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
            x, config = self._next_search()
            cnn = self.cnn()
        except (ValueError, OSError, checkpoints.CheckpointError) as exc:
            self.host.show_message(f"Cannot make an adversarial: {exc}", "warning")
            return
        if s.model is None:
            self.host.show_message("Cannot make an adversarial: no model is loaded.", "warning")
            return
        x, label = self.attack_source(x, self.host.active_input().true_label)
        self.result_panel.attack.start(x, label, cnn, s.model, config)

    def attack_source(self, x: np.ndarray, label: int | None) -> tuple[np.ndarray, int | None]:
        """What an attack starts from: the input on the canvas, unless that is the adversarial the last attack put there
        (unchanged), whose drawn input it is then: attacks never stack, and the change shown is from the drawing."""
        placed = self._placed
        if self._origin is not None and placed is not None and x.shape == placed.shape and np.allclose(x, placed, atol=1e-6):
            return self._origin
        self._origin, self._placed = (np.array(x, np.float32, copy=True), label), None
        return self._origin

    def search_adversarial(self, outcome: "AttackOutcome") -> None:
        """Put the adversarial on the canvas (exactly) and search it."""
        if outcome is None:
            return
        p = self.host.active_input()
        if self._origin is None or not np.allclose(outcome.clean, self._origin[0], atol=1e-6):
            self._origin = (np.array(outcome.clean, np.float32, copy=True), outcome.label if outcome.label_known else None)
        p.set_noise(0.0)  # the adversarial already carries the input's noise
        p.set_input_image(outcome.adversarial + 0.5, f"adversarial: {outcome.name}",
                          outcome.label if outcome.label_known else None)
        try:
            _, self._placed = p.current_input()  # exactly what is searched: the next attack knows it by this
        except ValueError:
            self._placed = None
        self.host.start_search()
