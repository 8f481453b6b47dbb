"""What the one-digit and the two-digit input panels share: the model's input from the canvas (or an exact
image), the noise slider and its seed, and the preview of what the model sees."""

from __future__ import annotations

import numpy as np

from igc_core import data


class NoisyInput:
    """A mixin for a panel with `canvas`, `noise_slider`, `engine_view`, `seed` and `_exact` (an image given
    exactly, or None): subclasses say how a drawing is framed and what an empty canvas means."""

    EMPTY_MESSAGE = "the canvas is empty"

    def frame(self, drawing: np.ndarray) -> np.ndarray:
        """The drawing framed the way the model's training images were, in [0, 1]."""
        raise NotImplementedError

    def current_input(self) -> tuple[np.ndarray, np.ndarray]:
        """(framed [0, 1], model input [-0.5, 0.5] with the noise); data.DataError when the canvas is empty."""
        if self._exact is not None:
            framed = self._exact
        else:
            if self.canvas.is_empty():
                raise data.DataError(self.EMPTY_MESSAGE)
            framed = self.frame(self.canvas.to_array())
        x = data.to_model_range(framed)
        if self.noise_sigma > 0:
            x = data.add_noise(x, self.noise_sigma, np.random.default_rng(self.seed))
        return framed, x

    @property
    def noise_sigma(self) -> float:
        return self.noise_slider.value() / 100.0

    def set_noise(self, sigma: float) -> None:
        self.noise_slider.setValue(int(round(sigma * 100)))

    def set_seed(self, seed: int) -> None:
        if seed != self.seed:
            self.seed = seed
            self.update_preview()

    def update_preview(self) -> None:
        try:
            _, x = self.current_input()
        except data.DataError:
            self.engine_view.set_image(None)
            return
        self.engine_view.set_image(x + 0.5)
