"""The two-digit mode (issue 11): frames and view without Qt, then the window with a tiny two-digit checkpoint."""

import numpy as np
import pytest
import torch

from app.model import settings, two_digit
from app.model.history import History
from app.model.view import RunInfo, SessionState
from igc_core import checkpoints
from igc_core.generators import ConditionalGenerator, GeneratorConfig
from igc_core.multilabel import MultiLabelConfig
from igc_core.search import SearchConfig

from conftest import fast_settings, run_and_wait, set_field


def _tiny_two_digit(seed=0) -> ConditionalGenerator:
    torch.manual_seed(seed)
    config = GeneratorConfig(latent_dim=4, hidden=(16, 24), encoder_hidden=(16,), num_classes=20, labels=(10, 10),
                             image_size=28, image_width=56)
    return ConditionalGenerator(config).eval()


@pytest.fixture(scope="module")
def tiny_two_digit_path(tmp_path_factory):
    meta = {"command": "test", "task": "two-digit", "search": {"dif": "bce"}}
    return checkpoints.save(_tiny_two_digit(), tmp_path_factory.mktemp("two") / "two", meta)


def _run(mode, restarts=2, steps=6):
    model = _tiny_two_digit()
    image = np.random.default_rng(0).uniform(-0.5, 0.5, (28, 56)).astype(np.float32)
    config = MultiLabelConfig(mode=mode, search=SearchConfig(steps=steps, restarts=restarts, lr=0.05, precision="fp32",
                                                             threads=1))
    history = History()
    result = two_digit.engine_search(model, image, config, lambda f, _final: history.append(f), None, 1)
    return image, config, history, result


@pytest.mark.parametrize("mode", ["per-label", "exhaustive"])
def test_frames_have_twenty_rows_and_strips_on_the_simplex(mode):
    _, _, history, result = _run(mode)
    assert len(history) == 7 and history[0].step == 0 and history.latest.step == 6
    for f in history:
        assert f.difs.shape == (20, 2) and f.reconstructions.shape == (20, 2, 28, 56) and f.others.shape == (20, 2, 10)
        np.testing.assert_allclose(f.others.sum(-1), 1.0, atol=1e-5)
    last = history.latest
    # the last frame's rows are the engine's scores: each label's best row is its prediction
    assert [int(np.argmin(last.difs[:10].min(1))), int(np.argmin(last.difs[10:].min(1)))] == result.labels[0].tolist()
    if mode == "exhaustive":  # each row's strip names the one partner its best combination fixed
        assert set(np.unique(last.others)) <= {0.0, 1.0}
    else:  # the relaxed conditions moved from the uniform start
        assert not np.allclose(last.others, 0.1)


def test_view_reads_the_number_and_counts_the_searches():
    image, config, history, result = _run("per-label")
    run = RunInfo(config=config, image=image, sigma=0.0, name="test", true_label=int("".join(map(str, result.labels[0]))))
    state = SessionState(status="idle", run=run, history=history, result=result, seconds=0.5, model_name="two")
    v = two_digit.make_view(state)
    number = multilabel_number(result)
    assert v.final and v.number == number and v.verdict.big in (number, "?")
    assert v.searches == 20 and v.grid.shape == (20, 2, 28, 56) and v.others.shape == (20, 10)
    np.testing.assert_allclose(v.others.sum(1), 1.0, atol=1e-5)
    assert "✓" in v.verdict.detail  # the true number was given and matches
    assert "20 searches" in v.status_text
    # scrubbing back shows an earlier step, provisionally
    early = two_digit.make_view(SessionState(status="idle", run=run, history=history, result=result, cursor=0,
                                             model_name="two"))
    assert early.step == 0 and early.verdict.kind == "provisional"
    # before any run: no verdict, no number
    idle = two_digit.make_view(SessionState(model_name="two"))
    assert idle.verdict.kind == "none" and idle.number == "–"


def multilabel_number(result) -> str:
    return "".join(str(int(k)) for k in result.labels[0])


def test_recommended_values_and_mode_config():
    assert two_digit.recommended_values({"search": {"dif": "bce", "nope": 1}}, {"dif": "mae", "steps": 100}) == {"dif": "bce"}
    assert two_digit.recommended_values({}, {"dif": "mae"}) == {}
    # an older sidecar's bce under the default preset (robust fits the intensity, which bce cannot): the fit goes off
    robust = {**settings.defaults(), **settings.preset_values("robust")}
    assert two_digit.recommended_values({"search": {"dif": "bce"}}, robust) == {"dif": "bce", "intensity": "none"}
    assert two_digit.describe_recommended({"search": {"dif": "bce"}}, {"dif": "bce", "intensity": "none"}) == (
        "dif bce as its sidecar recommends (and intensity none, which it needs)")
    assert two_digit.make_config(SearchConfig(), "exhaustive").mode == "exhaustive"
    with pytest.raises(ValueError):
        two_digit.make_config(SearchConfig(), "every")
    assert not two_digit.is_two_digit(ConditionalGenerator(GeneratorConfig(latent_dim=2, hidden=(8,), encoder_hidden=(8,))))
    assert two_digit.is_two_digit(_tiny_two_digit())


def test_noise_warning_only_for_bce_on_noisy_input():
    assert two_digit.noise_warning("bce", 0.2) and "mae" in two_digit.noise_warning("bce", 0.2)
    assert two_digit.noise_warning("bce", 0.0) is None and two_digit.noise_warning("mae", 0.4) is None


def test_a_window_started_on_a_two_digit_model_shows_only_the_two_digit_screen(qtbot, make_window,
                                                                             tiny_two_digit_path):
    """`python -m app --model assets/two-digit` loads the model before the window is shown: the one-digit input and
    result panels were left beside the two-digit screen ("no model loaded"), widening the window to 1815 px."""
    w = make_window(tiny_two_digit_path)
    qtbot.waitExposed(w)
    assert w.two_digit and w.two_digit_panel.isVisible()
    assert not w.input_panel.isVisible() and not w.result_panel.isVisible()
    assert w.width() <= 1366 and w.minimumSizeHint().width() <= 1366  # fits the laptop it was asked for


def test_two_digit_checkpoint_opens_the_mode(qtbot, make_window, tiny_two_digit_path, tiny_model_path, tmp_path):
    w = make_window(tiny_model_path)
    assert not w.two_digit and w.settings_panel.value("dif") == "mse"  # the default preset, robust
    assert w.load_model(str(tiny_two_digit_path))
    assert w.two_digit and w.two_digit_panel.isVisible() and not w.result_panel.isVisible()
    assert w.settings_panel.value("dif") == "bce"  # the sidecar's recommendation, shown
    assert w.settings_panel.value("intensity") == "none"  # which the default's intensity fit cannot take: turned off
    from PySide6.QtWidgets import QAbstractButton, QAbstractSlider, QComboBox

    untipped = [type(c).__name__ for kind in (QAbstractButton, QAbstractSlider, QComboBox)
                for c in w.two_digit_panel.findChildren(kind) if c.isVisible() and not c.toolTip()]
    assert not untipped, untipped
    fast_settings(w, steps=8, restarts=2, lr=0.05)
    set_field(w, "precision", "fp32")
    panel = w.two_digit_panel
    # a drawn number: the canvas is 1:2 and the model sees 28 x 56
    assert panel.canvas.to_array().shape == (280, 560)
    rng = np.random.default_rng(1)
    number = np.zeros((40, 80), np.float32)
    number[5:35, 10:14] = 1.0  # a "1"
    number[5:35, 50:54] = 1.0
    number[5:8, 44:60] = rng.uniform(0.5, 1.0, (3, 16))
    panel.set_input_image(two_digit_frame(number), "drawn")
    framed, x = w.current_input()
    assert framed.shape == (28, 56) and x.shape == (28, 56)

    result = run_and_wait(qtbot, w)
    v = w.session.view
    assert isinstance(v, two_digit.TwoDigitView) and v.final
    assert v.verdict.big == multilabel_number(result) and len(v.verdict.big) == 2  # the number, read
    assert panel.number_label.text() == v.verdict.big
    assert v.grid.shape[0] == 20 and v.others.shape == (20, 10)  # 10 tens rows and 10 units rows
    np.testing.assert_allclose(v.others.sum(1), 1.0, atol=1e-4)  # the relaxed strips are distributions
    assert w.grab().width() > 0  # the grid paints

    assert not w.banner.isVisible()  # clean input: no warning about the distance
    # exhaustive is a setting: 100 searches, the same 20 rows
    panel.set_mode("exhaustive")
    run_and_wait(qtbot, w)
    assert w.session.view.searches == 100 and w.session.view.grid.shape[0] == 20
    # with noise, bce is warned about (it reads noisy numbers at chance), and the search still runs
    panel.set_noise(0.2)
    run_and_wait(qtbot, w)
    assert w.banner.isVisible() and "mae" in w.banner.text and w.session.view.final
    panel.set_noise(0.0)
    # a wide image file is framed as a number
    from PIL import Image

    path = tmp_path / "n.png"
    Image.fromarray((255 - 255 * number).astype(np.uint8)).save(path)
    assert w.open_image(str(path)) and panel.input_name == "file: n.png"
    # a one-digit checkpoint brings the one-digit screen (and the replaced settings) back
    assert w.load_model(str(tiny_model_path))
    assert not w.two_digit and w.result_panel.isVisible() and w.settings_panel.value("dif") == "mse"
    assert w.settings_panel.value("intensity") == "affine"  # the replaced settings came back


def drawn_number():
    """A two-digit number as drawn (two bars, 11), framed as the model's input."""
    number = np.zeros((40, 80), np.float32)
    number[5:35, 10:14] = 1.0
    number[5:35, 50:54] = 1.0
    return two_digit_frame(number)


def two_digit_frame(image):
    from igc_core.framing import frame_number

    return frame_number(image)
