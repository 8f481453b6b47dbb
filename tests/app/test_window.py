"""The main window, driven like a user would: strokes, buttons, files, the timeline."""

import json

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from conftest import fast_settings, run_and_wait, save_shot


def draw_stroke(qtbot, canvas, points):
    """A mouse stroke through `points` given as fractions (x, y) of the canvas."""
    w, h = canvas.width(), canvas.height()
    pos = [QPoint(int(x * w), int(y * h)) for x, y in points]
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=pos[0])
    for p in pos[1:]:
        qtbot.mouseMove(canvas, p)
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=pos[-1])


def draw_one(qtbot, canvas):
    draw_stroke(qtbot, canvas, [(0.45, 0.25), (0.55, 0.15), (0.55, 0.45), (0.55, 0.85)])


def test_drawing_gives_a_framed_input(qtbot, make_window, tiny_model_path, tmp_path):
    w = make_window(tiny_model_path)
    assert w.canvas.is_empty()
    with pytest.raises(ValueError, match="empty"):
        w.current_input()
    draw_one(qtbot, w.canvas)
    assert not w.canvas.is_empty()
    framed, x = w.current_input()
    assert framed.shape == (28, 28) and framed.max() > 0.5
    assert x.min() >= -0.5 and x.max() <= 0.5
    ys, xs = np.nonzero(framed > 0.1)
    assert 4 <= ys.min() and ys.max() <= 24  # MNIST framing: ink inside the 20x20 box, centred
    # undo removes the stroke, eraser rubs out ink
    w.canvas.undo()
    assert w.canvas.is_empty()
    draw_one(qtbot, w.canvas)
    ink = w.canvas.to_array().sum()
    w._set_eraser(True)
    draw_stroke(qtbot, w.canvas, [(0.55, 0.1), (0.55, 0.9)])
    assert w.canvas.to_array().sum() < ink
    w.clear_canvas()
    assert w.canvas.is_empty()
    qtbot.wait(50)
    save_shot(w, tmp_path / "empty.png")


def test_empty_canvas_gives_a_message(qtbot, make_window, tiny_model_path):
    w = make_window(tiny_model_path)
    assert not w.start_search()
    assert "empty" in w.banner.text and not w.runner.is_active()


def test_run_shows_results_and_saves(qtbot, make_window, tiny_model_path, tmp_path):
    w = make_window(tiny_model_path)
    draw_one(qtbot, w.canvas)
    fast_settings(w, steps=25, restarts=3)
    result = run_and_wait(qtbot, w)
    assert result.steps_done == 25
    assert len(w.history) == 26 and w.timeline.maximum() == 25 and w.timeline.value() == 25
    assert w.grid_view.current.shape == (10 * 31 - 3, 3 * 31 - 3)  # one mosaic: 10 rows x 3 restarts
    assert w.prediction_label.text() == str(int(result.labels[0]))
    assert sorted(w.bars.order) == list(range(10)) and w.bars.order[0] == int(result.labels[0])
    written = w.save_results(tmp_path / "out" / "run.png")
    png, csv_path, json_path = written
    assert png.stat().st_size > 1000
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "step,class,restart,loss,dif" and len(lines) == 1 + 26 * 10 * 3
    doc = json.loads(json_path.read_text())
    assert doc["search"]["steps"] == 25 and doc["search"]["restarts"] == 3 and doc["result"]["steps_done"] == 25


def test_threshold_moves_the_verdict(qtbot, make_window, tiny_model_path):
    w = make_window(tiny_model_path)
    draw_one(qtbot, w.canvas)
    fast_settings(w, steps=10)
    result = run_and_wait(qtbot, w)
    ooc = float(result.ooc[0])
    w.gauge.line.setValue(ooc * 2)  # as if dragged
    assert w.threshold == pytest.approx(ooc * 2) and w.verdict_label.text().startswith("in-class")
    w.gauge.line.setValue(ooc / 2)
    assert w.threshold_box.value() == pytest.approx(ooc / 2, abs=1e-3)
    assert w.verdict_label.text().startswith("out-of-class")


def test_real_digit_is_classified_right(qtbot, make_window, trained_model_path, mnist, shots):
    w = make_window(trained_model_path, data_dir=None)
    w._set_combo(w.preset_box, "igc")
    w.steps_box.setValue(60)
    right = 0
    for digit in (7, 2, 1, 0, 4):
        i = int(np.flatnonzero(mnist.labels == digit)[0])
        w.set_input_image(mnist.images[i] / 255.0, f"MNIST test #{i}", digit)
        result = run_and_wait(qtbot, w)
        right += int(result.labels[0]) == digit
        assert not result.diverged[0]
    assert right >= 4, f"only {right} of 5 MNIST digits classified right"
    assert w.verdict_label.text().startswith("in-class")
    qtbot.wait(50)
    save_shot(w, shots / "result.png")


def test_pause_single_step_and_scrub(qtbot, make_window, tiny_model_path, tmp_path):
    w = make_window(tiny_model_path)
    draw_one(qtbot, w.canvas)
    fast_settings(w, steps=30, restarts=2)
    with qtbot.waitSignal(w.runner.paused_at, timeout=10_000):
        w.single_step()  # idle: starts a run paused at its starting point
    assert w.runner.state == "paused" and [f.step for f in w.history] == [0]
    for expected in (1, 2):
        with qtbot.waitSignal(w.runner.paused_at, timeout=10_000):
            qtbot.keyClick(w, Qt.Key.Key_Right)  # the → shortcut
        assert w.history.latest.step == expected and len(w.history) == expected + 1
    assert w.step_label.text() == "step 2 / 30"
    save_shot(w, tmp_path / "paused.png")
    with qtbot.waitSignal(w.result_shown, timeout=30_000):
        qtbot.keyClick(w, Qt.Key.Key_Space)  # resume
    assert w.history.latest.step == 30
    # scrub back: grid, step label and the curves' cursor follow
    final = w.grid_view.current.copy()
    w.timeline.setValue(3)
    assert w.step_label.text() == "step 3 / 30" and w.curves.cursor.value() == 3
    assert not np.array_equal(w.grid_view.current, final)
    early = w.history[3].reconstructions.astype(np.float32)
    assert np.allclose(w.grid_view.current[:28, :28], early[0, 0])
    qtbot.keyClick(w, Qt.Key.Key_Left)
    assert w.step_label.text() == "step 2 / 30"
    w.timeline.setValue(w.timeline.maximum())
    assert np.array_equal(w.grid_view.current, final)


def test_close_mid_run_is_clean(qtbot, make_window, tiny_model_path):
    w = make_window(tiny_model_path)
    draw_one(qtbot, w.canvas)
    w.steps_box.setValue(100_000)
    assert w.start_search()
    qtbot.waitUntil(lambda: len(w.history) > 3, timeout=10_000)
    w.close()
    assert not w.runner.is_active()


def test_new_run_and_model_load_mid_search(qtbot, make_window, tiny_model_path):
    w = make_window(tiny_model_path)
    draw_one(qtbot, w.canvas)
    w.steps_box.setValue(100_000)
    assert w.start_search()
    qtbot.waitUntil(lambda: len(w.history) > 3, timeout=10_000)
    fast_settings(w, steps=12)
    run_and_wait(qtbot, w)  # starting a new run stops the old one; its frames never mix in
    assert all(f.steps == 12 for f in w.history) and w.history.latest.step == 12
    w.steps_box.setValue(100_000)
    assert w.start_search()
    qtbot.waitUntil(lambda: len(w.history) > 3, timeout=10_000)
    assert w.load_model(str(tiny_model_path))
    assert not w.runner.is_active() and len(w.history) == 0
    qtbot.wait(200)
    assert len(w.history) == 0, "a stale frame of the stopped run was drawn"


def test_bad_files_give_messages(qtbot, make_window, tiny_model_path, tmp_path, shots):
    w = make_window(tiny_model_path)
    draw_one(qtbot, w.canvas)
    before = w.canvas.to_array().copy()
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    assert not w.open_image(str(text))
    assert "notes.png" in w.banner.text and w.banner.level == "error"
    assert np.array_equal(w.canvas.to_array(), before), "the drawing was lost"
    assert not w.open_image(str(tmp_path / "missing.png"))
    assert "no such file" in w.banner.text
    # a broken checkpoint: the loaded model stays
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"garbage")
    (tmp_path / "broken.json").write_text("{not json")
    model = w.model
    assert not w.load_model(str(broken))
    assert "broken" in w.banner.text and w.model is model
    qtbot.wait(50)
    save_shot(w, shots / "error.png")
    fast_settings(w, steps=5)
    run_and_wait(qtbot, w)  # still works


def test_diverging_search_says_so(qtbot, make_window, tiny_model_path):
    w = make_window(tiny_model_path)
    draw_one(qtbot, w.canvas)
    fast_settings(w, steps=20, lr=100.0)
    result = run_and_wait(qtbot, w)
    assert result.diverged[0]
    assert "diverged" in w.verdict_label.text() and "learning rate" in w.banner.text
    assert w.prediction_label.text() == "?"


def test_open_image_and_samples(qtbot, make_window, tiny_model_path, tmp_path):
    from igc_core import data

    w = make_window(tiny_model_path)
    img = np.zeros((60, 40), dtype=np.float32)
    img[10:50, 18:23] = 1.0
    data.save_digit_png(img, tmp_path / "one.png")
    assert w.open_image(str(tmp_path / "one.png"))
    framed, _ = w.current_input()
    assert np.allclose(framed, data.load_image(tmp_path / "one.png"))
    assert w.pick_sample(3)
    assert w._true_label == 3 and not w.canvas.is_empty()
    first = w.current_input()[0].copy()
    assert w.pick_sample(3)  # again: another example when the MNIST test set is there
    w.noise_slider.setValue(30)
    noisy = w.current_input()[1]
    assert noisy.shape == (28, 28) and noisy.min() >= -0.5 and noisy.max() <= 0.5
    assert not np.allclose(noisy, data.to_model_range(w.current_input()[0]))
    assert first.shape == (28, 28)


def test_settings_are_remembered(qtbot, make_window, tiny_model_path, settings):
    w = make_window(tiny_model_path)
    w.steps_box.setValue(77)
    w.restarts_box.setValue(4)
    w._set_combo(w.dif_box, "mse")
    w.noise_slider.setValue(20)
    w.close()
    w2 = make_window(tiny_model_path)
    assert w2.steps_box.value() == 77 and w2.restarts_box.value() == 4 and w2.dif_box.currentText() == "mse"
    assert w2.noise_slider.value() == 20 and w2.preset_box.currentText() == "custom"
    w2._set_combo(w2.preset_box, "paper")
    assert w2.steps_box.value() == 100 and w2.lr_box.value() == pytest.approx(0.001)


def test_autorun_after_a_stroke(qtbot, make_window, tiny_model_path):
    w = make_window(tiny_model_path)
    fast_settings(w, steps=8)
    w.autorun_box.setChecked(True)
    with qtbot.waitSignal(w.result_shown, timeout=20_000):
        draw_one(qtbot, w.canvas)
    assert w.history.latest.step == 8


def test_every_control_has_a_tooltip(make_window, tiny_model_path):
    from PySide6.QtWidgets import QAbstractButton, QAbstractSlider, QAbstractSpinBox, QComboBox

    w = make_window(tiny_model_path)
    missing = [
        c.objectName() or c.text() if hasattr(c, "text") else type(c).__name__
        for kind in (QAbstractButton, QAbstractSlider, QAbstractSpinBox, QComboBox)
        for c in w.findChildren(kind)
        if c.isVisible() and not c.toolTip() and c.parent() is not None and "qt_" not in c.objectName()
    ]
    assert not missing, f"controls without a tooltip: {missing}"


def test_shipped_samples_are_used_without_data(qtbot, make_window, tiny_model_path, tmp_path, monkeypatch):
    from app import window as window_module
    from igc_core import data

    monkeypatch.setattr(data, "default_data_dir", lambda: tmp_path / "nowhere")
    monkeypatch.setattr(window_module, "REPO", tmp_path / "repo")  # hides ../shared/mnist
    monkeypatch.setattr(window_module, "SAMPLES", window_module.Path(__file__).resolve().parents[2] / "assets" / "samples")
    w = make_window(tiny_model_path, data_dir=str(tmp_path / "empty"))
    assert w.dataset() is None
    for d in range(10):
        assert w.pick_sample(d), w.banner.text
        assert w._true_label == d and w.source_label.text().startswith("sample")


def test_screenshots_of_the_main_states(qtbot, make_window, trained_model_path, mnist, shots):
    """Mid-search (paused), finished with restarts, and a noisy input: the pictures in docs/screenshots."""
    w = make_window(trained_model_path)
    i = int(np.flatnonzero(mnist.labels == 3)[0])
    w.set_input_image(mnist.images[i] / 255.0, f"MNIST test #{i}", 3)
    w._set_combo(w.preset_box, "igc-parallel")
    w.steps_box.setValue(80)
    with qtbot.waitSignal(w.runner.paused_at, timeout=10_000):
        w.single_step()
    for _ in range(12):
        with qtbot.waitSignal(w.runner.paused_at, timeout=10_000):
            w.single_step()
    qtbot.wait(50)
    save_shot(w, shots / "searching.png")
    with qtbot.waitSignal(w.result_shown, timeout=60_000):
        w.toggle_play()
    qtbot.wait(50)
    save_shot(w, shots / "finished-restarts.png")
    assert int(w.result.labels[0]) == 3
    w.noise_slider.setValue(35)
    run_and_wait(qtbot, w)
    qtbot.wait(50)
    save_shot(w, shots / "noisy.png")


def test_load_a_cgan_checkpoint(qtbot, make_window, tiny_model_path, tmp_path):
    import torch

    from igc_core import checkpoints
    from igc_core.gan import CGANGenerator, GANConfig

    torch.manual_seed(1)
    gan = CGANGenerator(GANConfig(latent_dim=4, channels=(8, 4), d_channels=(4, 8), latent_scale=0.05)).eval()
    path = checkpoints.save(gan, tmp_path / "gan", {"command": "test"})
    w = make_window(tiny_model_path)
    w._set_combo(w.init_box, "encoder")
    assert w.load_model(str(path))
    assert w.meta["kind"] == "cgan" and "cgan" in w.model_label.text()
    assert w.init_box.currentText() == "mean"  # a cGAN has no encoder to start from
    draw_one(qtbot, w.canvas)
    fast_settings(w, steps=6)
    assert run_and_wait(qtbot, w).steps_done == 6


def test_window_stays_responsive_during_a_search(qtbot, make_window, tiny_model_path):
    """Timers fire, strokes draw and frames arrive while a long search runs (the tiny model is the worst
    case: its steps are almost all Python, competing with the window for the GIL)."""
    from PySide6.QtCore import QTimer

    w = make_window(tiny_model_path)
    draw_one(qtbot, w.canvas)
    w.steps_box.setValue(100_000)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(50)
    assert w.start_search()
    qtbot.wait(2000)
    timer.stop()
    draw_stroke(qtbot, w.canvas, [(0.2, 0.5), (0.8, 0.5)])  # drawing mid-run works
    assert w.runner.is_active() and len(ticks) >= 10, f"only {len(ticks)} of ~40 timer ticks in 2 s"
    assert len(w.history) > 50 and w.timeline.maximum() == len(w.history) - 1
    w.stop_search()
    assert not w.runner.is_active()


def test_a_vanished_remembered_model_falls_back(qtbot, make_window, tiny_model_path, settings, tmp_path):
    from igc_core import checkpoints

    settings.setValue("model/path", str(tmp_path / "gone.safetensors"))
    w = make_window(None)
    if checkpoints.DEFAULT_MODEL.exists():
        assert w.model is not None and w.model_path is None and not w.banner.isVisible()
    else:
        assert w.model is None and "Cannot load" in w.banner.text
