"""What the one-digit and the two-digit input panels share: the model's input from the canvas (or an exact
image, opened from a file or picked), the noise slider and its seed, and the preview of what the model sees."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from igc_core import data, framing


class NoisyInput:
    """A mixin for a panel with `canvas`, `noise_slider`, `noise_label`, `engine_view`, `seed`, `_exact` (an image
    given exactly, or None), `input_name`, `_quiet` and the signals `edited`, `noise_changed`, `message`:
    subclasses say how a drawing (or an image file) is framed, what an empty canvas means, and how the input's
    source is shown (`_set_source`)."""

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

    def clear_canvas(self) -> None:
        self._exact = None
        self._set_source("canvas")
        self.canvas.clear()
        self.update_preview()

    def _on_canvas_changed(self) -> None:
        """The canvas changed under the pen: an exact image (or a named input) becomes the edited drawing."""
        if self._quiet:
            return
        if self._exact is not None or self.input_name != "canvas":
            self._exact = None
            self._set_source("canvas (edited)" if self.input_name != "canvas" else "canvas")
        self._preview_while_drawing()

    def _preview_while_drawing(self) -> None:
        """Where the panel refreshes its preview during a stroke; by default only at the stroke's end."""

    def _on_stroke_finished(self) -> None:
        if self._quiet:
            return
        self.update_preview()
        self.edited.emit()

    def _on_noise(self, value: int) -> None:
        self.noise_label.setText(f"noise σ {value / 100:.2f}")
        self.update_preview()
        self.noise_changed.emit(value / 100)
        self.edited.emit()

    def set_input_image(self, framed01: np.ndarray, name: str, true_label: int | None = None) -> None:
        """Use an exact, framed image (a file, a sample, a test image); it shows on the canvas for editing."""
        self._quiet = True
        try:
            self.canvas.set_array(framed01)
        finally:
            self._quiet = False
        self._exact = np.asarray(framed01, dtype=np.float32).copy()
        self._set_source(name, true_label)
        self.update_preview()
        self.edited.emit()

    def open_image(self, path: str) -> bool:
        """Load an image file framed as this panel frames a drawing; a bad file gives a message and changes
        nothing."""
        try:
            framed = framing.load_image(path, frame=self.frame)
        except data.DataError as exc:
            self.message.emit(f"Cannot open this image: {exc}", "error")
            return False
        self.set_input_image(framed, f"file: {Path(path).name}")
        return True
