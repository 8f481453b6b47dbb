"""What the window shows agrees with itself and with the engine: curves, bars, grid, verdict, threshold, keys."""

import json

import numpy as np
import pytest
from PySide6.QtCore import Qt

from conftest import draw_one, fast_settings, run_and_wait, set_field


def stroke_image():
    x = np.zeros((28, 28), dtype=np.float32)
    x[6:22, 12:16] = 1.0
    return x


def test_curves_bars_grid_and_verdict_agree_when_the_loss_disagrees(qtbot, make_window, tiny_model_path):
    """With a large λ_LR the whole loss ranks class 6 first while L_DD (what decides) ranks 4 first (the paper's
    MAE search on this tiny model; the default's intensity fit makes this case diverge)."""
    w = make_window(tiny_model_path)
    w.settings_panel.set_preset("igc")
    w.input_panel.set_input_image(stroke_image(), "stroke")
    fast_settings(w, steps=30, lr=0.2)
    set_field(w, "lambda_lr", 3.0)
    result = run_and_wait(qtbot, w)
    last = w.session.history.latest
    by_loss, by_dif = int(np.argmin(last.losses.min(1))), int(np.argmin(last.difs.min(1)))
    assert by_loss != by_dif, "the case must have the whole loss and L_DD disagree"
    label = int(result.labels[0])
    curves = w.result_panel.curves
    assert label == by_dif == int(np.argmin(curves.values[-1])) == curves.leader
    assert w.result_panel.bars.order[0] == label and w.result_panel.grid_view.leader == label
    assert w.session.view.verdict.big.rstrip("?") in (str(label), "")  # "?" only when out of class
    assert curves.y_label == "L_DD" and "the distance that decides" in curves.toolTip()
    set_field(w, "curves", "loss")  # the whole loss, on request, says it does not decide
    assert int(np.argmin(curves.values[-1])) == by_loss and curves.y_label == "L (whole loss)"
    assert w.result_panel.grid_view.leader == label and w.result_panel.bars.order[0] == label


def test_the_threshold_follows_the_noise_of_the_input(qtbot, make_window, tiny_model_path, tmp_path):
    from igc_core import checkpoints, search

    weights, sidecar = checkpoints.paths(tiny_model_path)
    copy = tmp_path / "tiny.safetensors"
    copy.write_bytes(weights.read_bytes())
    (tmp_path / "tiny.json").write_text(sidecar.read_text())
    by_sigma = {"0": 0.05, "0.1": 0.07, "0.2": 0.09, "0.3": 0.11, "0.4": 0.13, "0.5": 0.15}
    checkpoints.set_metric(copy, "ooc_threshold", 0.05, note={
        "ooc_thresholds_by_sigma": by_sigma, "ooc_threshold_search": search.SearchConfig.from_preset(None).to_dict()})
    w = make_window(copy)
    assert w.session.threshold.value == pytest.approx(0.05)
    w.input_panel.set_input_image(stroke_image(), "stroke")
    w.input_panel.noise_slider.setValue(30)
    assert w.session.threshold.value == pytest.approx(0.11)  # before any run: the next input's noise
    set_field(w, "steps", 5)
    run_and_wait(qtbot, w)
    v = w.session.view
    assert v.run.sigma == pytest.approx(0.3) and v.threshold.value == pytest.approx(0.11)
    # measured with 100 steps: this run's distances differ, so no out-of-class verdict, and the display says why
    assert not v.threshold.comparable and v.verdict.kind == "ranked"
    assert "other steps" in v.threshold.note and "no out-of-class verdict" in w.result_panel.gauge.label
    set_field(w, "steps", 100)  # the settings the thresholds were measured with: judged, with the noise's threshold
    run_and_wait(qtbot, w)
    v = w.session.view
    assert v.threshold.comparable and v.threshold.source == "measured" and "σ 0.30" in w.result_panel.gauge.label
    assert f"threshold {v.shown_threshold}" in v.verdict.detail or v.verdict.kind != "in"
    w.input_panel.noise_slider.setValue(0)  # the shown run keeps its own threshold
    assert w.session.threshold.value == pytest.approx(0.11)
    run_and_wait(qtbot, w)
    assert w.session.threshold.value == pytest.approx(0.05)


def test_keys_work_after_typing_in_a_spin_box(qtbot, make_window, tiny_model_path):
    w = make_window(tiny_model_path)
    draw_one(qtbot, w.input_panel.canvas)
    fast_settings(w, steps=40)
    box = w.settings_panel.editors["steps"]
    box.setFocus()
    qtbot.waitUntil(box.hasFocus, timeout=2000)
    box.selectAll()
    qtbot.keyClicks(box, "60")
    with qtbot.waitSignal(w.session.runner.paused_at, timeout=10_000):
        qtbot.keyClick(box, Qt.Key.Key_Right)  # → starts a paused run and steps, it does not move the cursor
    assert box.value() == 60 and box.text().strip() == "60"  # the typed value was committed, not blanked
    assert w.session.view.run.config.steps == 60
    with qtbot.waitSignal(w.session.runner.paused_at, timeout=10_000):
        qtbot.keyClick(box, Qt.Key.Key_Right)
    assert w.session.history.latest.step == 1
    with qtbot.waitSignal(w.result_shown, timeout=30_000):
        qtbot.keyClick(box, Qt.Key.Key_Space)  # resumes: it does not type a space into the box
    assert box.text().strip() == "60"
    qtbot.keyClick(box, Qt.Key.Key_Left)
    assert w.transport.step_label.text() == "step 59 / 60"
    box.selectAll()
    qtbot.keyClicks(box, "1000")
    with qtbot.waitSignal(w.session.runner.state_changed, timeout=5000):
        qtbot.keyClick(box, Qt.Key.Key_Return)  # Return: search again, with the value just typed
    assert w.session.is_active() and w.session.view.run.config.steps == 1000
    qtbot.keyClick(box, Qt.Key.Key_Escape)
    assert not w.session.is_active() and "stopped" in w.session.view.verdict.headline


def test_keys_still_type_into_text_fields_and_dialogs(qtbot, make_window, tiny_model_path):
    from PySide6.QtWidgets import QLineEdit

    from app.keys import typing_text

    w = make_window(tiny_model_path)
    edit = QLineEdit(w.result_panel)  # a free-text field somewhere in the window
    edit.show()
    assert typing_text(edit) and not typing_text(w.settings_panel.editors["steps"].findChild(QLineEdit))
    w.keys.watch(edit)
    edit.setFocus()
    qtbot.waitUntil(edit.hasFocus, timeout=2000)
    qtbot.keyClicks(edit, "a b")
    assert edit.text() == "a b" and not w.session.is_active()


def test_save_asks_before_overwriting(qtbot, make_window, tiny_model_path, tmp_path, monkeypatch):
    from PySide6.QtGui import QImage
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    from app.export import FIGURE_SIZE

    w = make_window(tiny_model_path)
    draw_one(qtbot, w.input_panel.canvas)
    fast_settings(w, steps=12, restarts=2)
    run_and_wait(qtbot, w)
    base = tmp_path / "run.png"
    png, csv_path, json_path = w.save_results(base)
    image = QImage(str(png))
    assert (image.width(), image.height()) == FIGURE_SIZE  # one figure: input, verdict, grid and curves
    assert len(csv_path.read_text().splitlines()) == 1 + 13 * 10 * 2
    doc = json.loads(json_path.read_text())
    assert doc["verdict"]["kind"] == w.session.view.verdict.kind and doc["ooc_threshold_note"]
    assert doc["result"]["precision"] in ("fp32", "bf16")
    csv_path.write_text("keep me")
    asked = []
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(base), ""))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.No)
    w.save_results_dialog()
    assert asked and csv_path.read_text() == "keep me"  # asked, answered no: nothing replaced
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    w.save_results_dialog()
    assert csv_path.read_text().startswith("step,class,restart")


def test_status_line_says_which_precision_ran_and_why(qtbot, make_window, tiny_model_path):
    w = make_window(tiny_model_path)
    draw_one(qtbot, w.input_panel.canvas)
    fast_settings(w, steps=5)
    result = run_and_wait(qtbot, w)
    text = w.status_label.text()
    assert f"precision {result.precision}" in text and result.precision_reason in text
    run = w.session.runs[-1]  # a summary of every finished run is kept (for comparing runs)
    assert len(w.session.runs) == 1 and run.label == int(result.labels[0]) and run.curve_values.shape == (6, 10)
