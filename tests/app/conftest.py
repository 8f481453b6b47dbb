"""Fixtures for the app tests: offscreen Qt, a tiny untrained generator, temporary settings, a window.

Tests that need accuracy use the shipped default generator (skipped until it exists); the rest use a
tiny untrained model built here. `IGC_APP_TEST_MODEL` may point at another trained checkpoint.
"""

import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", autouse=True)
def _torch_threads():
    import torch

    torch.set_num_threads(1)  # leave a core to the GUI thread, as the app does on a 2-core machine
    sys.setswitchinterval(0.001)  # as app.main does


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory) -> Path:
    """An untrained tiny CVAE checkpoint: fast, for tests that need no accuracy."""
    import torch

    from igc_core import checkpoints
    from igc_core.generators import ConditionalGenerator, GeneratorConfig

    torch.manual_seed(0)
    model = ConditionalGenerator(GeneratorConfig(latent_dim=4, hidden=(32, 32), encoder_hidden=(32,)))
    return checkpoints.save(model, tmp_path_factory.mktemp("tiny") / "tiny", {"command": "test"})


@pytest.fixture(scope="session")
def trained_model_path() -> Path | None:
    """The shipped default generator (or IGC_APP_TEST_MODEL), or skip the test."""
    from igc_core import checkpoints

    override = os.environ.get("IGC_APP_TEST_MODEL")
    if override:
        return Path(override)
    if not checkpoints.DEFAULT_MODEL.exists():
        pytest.skip(f"the shipped default generator {checkpoints.DEFAULT_MODEL} does not exist yet")
    return None  # None = load the default


@pytest.fixture(scope="session")
def mnist():
    from igc_core import data

    for folder in (os.environ.get("IGC_DATA"), REPO.parent / "shared" / "mnist", REPO.parents[1] / "shared" / "mnist",
                   data.default_data_dir()):
        if folder:
            try:
                return data.load_dataset(folder, "test", download=False)
            except data.DataError:
                continue
    pytest.skip("no MNIST test set found (set IGC_DATA)")


@pytest.fixture
def settings_file(tmp_path) -> Path:
    """A settings file of its own for each test (never the user's)."""
    return tmp_path / "igc-app.json"


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    """Precision calibrations go to a temporary cache, not the user's."""
    monkeypatch.setenv("IGC_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def shots(tmp_path) -> Path:
    """Where test screenshots go (a temporary folder; docs/screenshots/ comes from scripts/screenshots.sh)."""
    folder = tmp_path / "shots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def make_window(qtbot, settings_file):
    """A factory for main windows; every window is closed (its search stopped) in teardown."""
    from app.style import apply_theme
    from app.window import MainWindow

    apply_theme(qtbot_app())
    windows = []

    def make(model_path=None, size=(1366, 700), **kw):
        kw.setdefault("settings_path", settings_file)
        w = MainWindow(model_path=str(model_path) if model_path else None, **kw)
        w.resize(*size)
        w.show()
        qtbot.addWidget(w)
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.close()
        assert not w.session.is_active(), "the search thread outlived its window"


def qtbot_app():
    from PySide6.QtWidgets import QApplication

    return QApplication.instance()


def run_and_wait(qtbot, window, timeout=60_000):
    with qtbot.waitSignal(window.result_shown, timeout=timeout):
        assert window.start_search(), window.banner.text
    return window.session.result


def set_field(window, name, value):
    """Change a setting as a user would (the editor emits its change)."""
    from PySide6.QtWidgets import QCheckBox, QComboBox

    editor = window.settings_panel.editors[name]
    if isinstance(editor, QComboBox):
        editor.setCurrentText(value)
    elif isinstance(editor, QCheckBox):
        editor.setChecked(value)
    else:
        editor.setValue(value)


def fast_settings(window, steps=30, restarts=1, lr=0.01):
    set_field(window, "steps", steps)
    set_field(window, "restarts", restarts)
    set_field(window, "lr", lr)


def save_shot(widget, path):
    """Grab a widget to a small PNG (256-colour palette: the screenshots stay a few tens of KB)."""
    import io

    from PIL import Image
    from PySide6.QtCore import QBuffer, QIODevice

    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    widget.grab().save(buffer, "PNG")
    image = Image.open(io.BytesIO(bytes(buffer.data()))).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def draw_stroke(qtbot, canvas, points):
    """A mouse stroke through `points` given as fractions (x, y) of the canvas."""
    from PySide6.QtCore import QPoint, Qt

    if canvas.isVisible():  # a user draws on the laid-out window: the canvas squares itself a turn or two after show()
        qtbot.waitUntil(lambda: canvas.width() == canvas.height(), timeout=2000)
    w, h = canvas.width(), canvas.height()
    pos = [QPoint(int(x * w), int(y * h)) for x, y in points]
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=pos[0])
    for p in pos[1:]:
        qtbot.mouseMove(canvas, p)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=pos[-1])


def draw_one(qtbot, canvas):
    draw_stroke(qtbot, canvas, [(0.45, 0.25), (0.55, 0.15), (0.55, 0.45), (0.55, 0.85)])


def search_in_process(model, image, config):
    """The search the engine process would run, here and at once: (the recorded frames, the result)."""
    from app.model.history import Frame
    from igc_core import search

    snaps = []
    result = search.search(model, np.array(image, np.float32)[None], config, on_snapshot=snaps.append,
                           snapshot_every=1, snapshot_images=True, snapshot_latents=True,
                           return_reconstructions=True, max_threads=1)
    return [Frame.from_snapshot(s) for s in snaps], result


class HandTimer:
    """The model's Timer, fired only when the test says (`fire`): no event loop needed."""

    def __init__(self, callback=None, repeating=False):
        self.callback, self.repeating, self.active = callback, repeating, False

    def start(self, ms: int) -> None:
        self.active = True

    def stop(self) -> None:
        self.active = False

    def is_active(self) -> bool:
        return self.active

    def fire(self) -> None:
        if not self.repeating:
            self.active = False
        self.callback()


@pytest.fixture(scope="module")
def tiny(tiny_model_path):
    """The tiny model, loaded (the engine tests search with it directly)."""
    from igc_core import checkpoints

    model, _ = checkpoints.load(tiny_model_path)
    return model
