"""The classroom, second pass (issue 18): what a teacher met in front of a class, each defect once.

Session-level defects are driven by hand (a runner that hands over the recorded frames a few at a time); window-level
ones run the search in this process (`test_teaching.InProcessRunner`) on a tiny untrained model.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QToolButton

from app.model.history import History
from app.model.session import Session
from app.model.view import RunInfo, SessionState, make_view
from igc_core import checkpoints
from igc_core.search import SearchConfig

from conftest import REPO, HandTimer, draw_one, search_in_process, set_field
from test_session import HandRunner
from test_teaching import FAST, InProcessRunner, digit, fast, window_run


@pytest.fixture(autouse=True)
def _desk_scale():
    """Presentation mode's font scale is the process's: every test here leaves it as it found it."""
    from app import style

    yield
    style.set_scale(1.0)


# ------------------------------------------------------------------------------------ a runner fed by hand


class FeedRunner(HandRunner):
    """The engine's runner as the session sees it, with the run's recorded frames handed over `feed(k)` at a time."""

    def __init__(self):
        super().__init__()
        self.frames, self.result, self.sent = [], None, 0

    def start(self, model, image, config, start_paused=False, max_threads=None) -> int:
        self.frames, self.result = search_in_process(model, image, config)
        self.sent = 0
        self.state = "paused" if start_paused else "running"
        self.session.on_state(self.state)
        return 1

    def feed(self, k: int) -> None:
        batch = self.frames[self.sent:self.sent + k]
        self.sent += len(batch)
        self.session.on_frames(batch)
        self.session._publish()  # as the session's timer would, once the frames are drawn
        if self.sent == len(self.frames):
            self.state = "idle"
            self.session.on_state("idle")
            self.session.on_finished(self.result, 0.01)

    def pause(self) -> None:
        self.state = "paused"
        self.session.on_state("paused")

    def resume(self) -> None:
        self.state = "running"
        self.session.on_state("running")

    def step(self) -> None:
        self.state = "paused"
        self.feed(1)


@pytest.fixture
def fed(tiny_model_path):
    runner = FeedRunner()
    s = runner.session = Session(runner, lambda callback, repeating: HandTimer(callback, repeating), max_threads=1)
    model, meta = checkpoints.load(tiny_model_path)
    s.set_model(model, meta, "tiny")
    return s, runner


LONG = dict(steps=40, lr=0.05, precision="fp32")


def test_resuming_after_stepping_back_follows_the_search_to_its_final_verdict(fed):
    s, runner = fed
    s.start(digit(), 0.0, SearchConfig(**LONG))
    runner.feed(12)
    assert s.toggle() and runner.state == "paused"
    for _ in range(5):  # ← five times
        s.back()
    assert s.view.step == 6
    assert s.toggle() and runner.state == "running"  # resume
    runner.feed(10)
    assert s.view.step == runner.frames[21].step and s.view.verdict.headline.startswith("searching: step 21")
    runner.feed(100)
    v = s.view
    assert v.final and v.index == len(s.history) - 1 and v.step == LONG["steps"]
    assert v.verdict.kind in ("in", "uncertain", "out", "ranked"), v.verdict


def test_step_after_stepping_back_while_paused_walks_forward_then_searches_on(fed):
    s, runner = fed
    s.start(digit(), 0.0, SearchConfig(**LONG))
    runner.feed(5)
    s.toggle()
    s.back()
    s.back()
    assert s.view.step == 2
    assert s.step() and s.view.step == 3 and runner.sent == 5, "→ walks the recording first"
    assert s.step() and s.view.step == 4
    assert s.step() and runner.sent == 6 and s.view.step == 5, "at the newest frame → searches one more step and shows it"


def test_dragging_the_timeline_to_its_end_during_a_search_follows_it(fed):
    s, runner = fed
    s.start(digit(), 0.0, SearchConfig(**LONG))
    runner.feed(8)
    s.scrub(3)
    s.scrub(len(s.history) - 1)
    runner.feed(5)
    assert s.view.index == len(s.history) - 1 and s.view.step == 12


def test_a_replay_unfolds_as_the_search_did(fed):
    s, runner = fed
    s.start(digit(), 0.0, SearchConfig(**LONG))
    runner.feed(100)
    assert s.view.final and len(s.view.curve_steps) == LONG["steps"] + 1
    s.set_speed("key")
    assert s.replay()
    for _ in range(3):
        s.step()
    v = s.view
    assert v.replay != "off" and v.index == 3
    assert len(v.curve_steps) == 4 and v.curve_steps[-1] == v.step, "the curves end at the step shown"
    assert len(v.score_steps) == 4
    assert "final answer" not in v.verdict.headline and "replaying" in v.verdict.headline
    s.stop()
    assert len(s.view.curve_steps) == LONG["steps"] + 1  # the run's own screen again


def test_paused_before_the_first_step_says_so():
    run = RunInfo(config=SearchConfig(steps=10), image=np.zeros((28, 28), np.float32), sigma=0.0)
    v = make_view(SessionState(status="paused", run=run, history=History(), model_name="tiny"))
    assert "starting" not in v.verdict.headline and "paused" in v.verdict.headline


def _final(difs, true_label, threshold):
    from test_view import frame, result_for, state

    cfg = SearchConfig(steps=10)
    f = frame(10, difs)
    return make_view(state([f], result_for(f, cfg), config=cfg, true_label=true_label, threshold=threshold))


def test_an_8_and_no_tick_beside_a_rejection():
    from test_view import distances

    v = _final(distances([8, 1], [0.04, 0.09]), 8, 0.1)
    assert v.verdict.headline.endswith("it looks like an 8")
    assert _final(distances([7, 1], [0.04, 0.09]), 7, 0.1).verdict.headline.endswith("it looks like a 7")
    out = _final(distances([3, 1], [0.3, 0.4]), 3, 0.1)
    assert out.verdict.kind == "out" and "true label 3" in out.verdict.detail
    assert "✓" not in out.verdict.detail and "✗" not in out.verdict.detail


# ------------------------------------------------------------------------------------ the window


@pytest.fixture
def window(qtbot, monkeypatch, make_window, tiny_model_path):
    monkeypatch.setattr("app.qt_session.SearchRunner", InProcessRunner)
    w = make_window(tiny_model_path)
    qtbot.waitUntil(lambda: w.input_panel.canvas.width() == w.input_panel.canvas.height(), timeout=3000)
    return w


def _cnn_or_skip():
    try:
        checkpoints.load_classifier(checkpoints.ASSETS / "cnn")
    except (OSError, checkpoints.CheckpointError):
        pytest.skip("the CNN baseline is not shipped")


def _attack(qtbot, w):
    with qtbot.waitSignal(w.result_panel.attack._relay.done, timeout=30_000) as done:
        w.teaching.make_adversarial()
    return done.args[0]


def test_each_attack_starts_from_the_drawn_digit(qtbot, window):
    _cnn_or_skip()
    w = window
    fast(w)
    w.input_panel.set_input_image(digit() + 0.5, "drawn", 1)
    _, drawn = w.input_panel.current_input()
    w.result_panel.attack.set_choice("fgsm", 0.15)
    first = _attack(qtbot, w)
    np.testing.assert_allclose(first.clean, drawn, atol=1e-6)
    with qtbot.waitSignal(w.result_shown, timeout=20_000):
        w.result_panel.attack.search_button.click()
    assert w.input_panel.input_name.startswith("adversarial")
    second = _attack(qtbot, w)
    np.testing.assert_allclose(second.clean, drawn, atol=1e-6)  # not the first adversarial: attacks never stack
    assert np.abs(second.adversarial - drawn).max() <= 0.15 + 1e-6
    assert second.linf == pytest.approx(float(np.abs(second.adversarial - drawn).max()))  # the change shown is true
    assert second.label == 1


def test_f11_off_and_on_keeps_the_window_size(qtbot, window):
    w = window
    w.resize(1280, 720)
    qtbot.wait(20)
    for on in (True, False, True, False):
        w.set_presentation(on)
        qtbot.wait(20)
        assert (w.width(), w.height()) == (1280, 720), f"presentation {on}"


def test_loading_a_one_digit_model_after_a_two_digit_one_keeps_the_width(qtbot, window, tiny_model_path, tmp_path):
    from test_two_digit import _tiny_two_digit

    w = window
    two = checkpoints.save(_tiny_two_digit(), tmp_path / "two", {"command": "test", "task": "two-digit"})
    size = (w.width(), w.height())
    assert w.load_model(str(two)) and w.two_digit
    assert (w.width(), w.height()) == size
    assert w.load_model(str(tiny_model_path)) and not w.two_digit
    qtbot.wait(20)
    assert (w.width(), w.height()) == size


def test_a_banner_moves_nothing(qtbot, window):
    from test_layout import inside

    w = window
    w.result_panel.show_tab("distances")
    qtbot.wait(20)
    before = [inside(x, w) for x in (w.input_panel.canvas, w.result_panel.head, w.result_panel.grid_box, w.result_panel.tabs)]
    orientation = w.result_panel.pages["distances"].orientation()
    w.show_message("A long message a user must read in full: " + "the model file is broken. " * 8, "error")
    qtbot.wait(20)
    assert w.banner.isVisible() and w.banner.height() >= w.banner.label.height()
    assert [inside(x, w) for x in (w.input_panel.canvas, w.result_panel.head, w.result_panel.grid_box, w.result_panel.tabs)] == before
    assert w.result_panel.pages["distances"].orientation() == orientation
    assert inside(w.banner, w).top() >= 0 and inside(w.banner, w).right() <= w.width()


def test_play_says_search_once_the_input_or_a_setting_changes(qtbot, window):
    w = window
    draw_one(qtbot, w.input_panel.canvas)
    fast(w)
    window_run(qtbot, w)
    assert w.transport.play_button.text() == "▶ Replay"
    w.input_panel.noise_slider.setValue(20)
    assert w.transport.play_button.text() == "▶ Play"
    assert "not the input's σ 0.20" in w.result_panel.gauge.label  # the gauge says its σ is the run's
    w.input_panel.noise_slider.setValue(0)
    assert w.transport.play_button.text() == "▶ Replay"
    set_field(w, "lr", 0.02)
    assert w.transport.play_button.text() == "▶ Play"
    set_field(w, "lr", FAST["lr"])
    draw_one(qtbot, w.input_panel.canvas)  # a stroke
    assert w.transport.play_button.text() == "▶ Play"


def test_a_single_press_on_the_gauge_does_not_move_the_threshold(qtbot, window):
    w = window
    gauge = w.result_panel.gauge
    before = w.session.threshold
    y = int(gauge._track().center().y())
    qtbot.mousePress(gauge, Qt.MouseButton.LeftButton, pos=QPoint(gauge.width() // 4, y))
    qtbot.mouseRelease(gauge, Qt.MouseButton.LeftButton, pos=QPoint(gauge.width() // 4, y))
    assert w.session.threshold == before
    qtbot.mousePress(gauge, Qt.MouseButton.LeftButton, pos=QPoint(gauge.width() // 4, y))
    qtbot.mouseMove(gauge, QPoint(gauge.width() // 4 + 30, y))
    qtbot.mouseRelease(gauge, Qt.MouseButton.LeftButton, pos=QPoint(gauge.width() // 4 + 30, y))
    assert w.session.threshold.source == "manual"  # a drag does


def test_the_smallest_window_fits_a_1024x600_screen(window):
    hint = window.minimumSizeHint()
    assert hint.width() <= 1000 and hint.height() <= 560, hint  # room for a title bar and a panel


@pytest.mark.parametrize("size, presenting", [((1024, 600), False), ((1280, 720), True)])
def test_twenty_restarts_leave_every_tab_title_in_view(qtbot, window, size, presenting):
    w = window
    w.set_presentation(presenting)
    w.resize(*size)
    fast(w)
    set_field(w, "restarts", 20)
    draw_one(qtbot, w.input_panel.canvas)
    window_run(qtbot, w)
    qtbot.wait(20)
    assert (w.width(), w.height()) == size and w.result_panel.grid_view.restarts == 20
    bar = w.result_panel.tabs.tabBar()
    assert [b for b in bar.findChildren(QToolButton) if b.isVisible()] == [], "tabs hide behind scroll arrows"
    assert all(bar.tabRect(i).right() <= bar.width() for i in range(bar.count()))


def test_ctrl_s_in_two_digit_mode_refuses_before_any_dialog(qtbot, window, tmp_path, monkeypatch):
    from test_two_digit import _tiny_two_digit

    w = window
    asked = []
    monkeypatch.setattr("app.window.QFileDialog.getSaveFileName", lambda *a, **k: asked.append(a) or ("", ""))
    assert w.load_model(str(checkpoints.save(_tiny_two_digit(), tmp_path / "two", {"command": "test"})))
    w.save_results_dialog()
    assert asked == [] and "two-digit" in w.banner.text


def test_the_two_digit_status_line_is_whole_in_a_laptop_window(qtbot, make_window, tiny_model_path, tmp_path):
    from test_two_digit import _tiny_two_digit, drawn_number

    from conftest import fast_settings, run_and_wait

    w = make_window(tiny_model_path, size=(1366, 700))
    assert w.load_model(str(checkpoints.save(_tiny_two_digit(), tmp_path / "two", {"command": "test"})))
    fast_settings(w, steps=4, restarts=2, lr=0.05)
    w.two_digit_panel.set_input_image(drawn_number(), "drawn")
    run_and_wait(qtbot, w)
    qtbot.wait(20)
    assert (w.width(), w.height()) == (1366, 700)
    label = w.status_label
    assert label.full_text().startswith("Done:") and label.text() == label.full_text(), label.text()


# ------------------------------------------------------------------------------------ the command line and the figure


def _mnist_folder():
    for folder in (os.environ.get("IGC_DATA"), os.environ.get("IGC_SHARED") and Path(os.environ["IGC_SHARED"]) / "mnist",
                   REPO.parent / "shared" / "mnist", REPO.parents[1] / "shared" / "mnist"):
        if folder and Path(folder).is_dir():
            return str(folder)
    pytest.skip("no MNIST test set found")


def test_mnist_index_out_of_range_blames_the_index_not_the_data(tiny_model_path, tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYQTGRAPH_QT_LIB": "PySide6"}
    args = [sys.executable, "-m", "app", "--mnist", "99999", "--data", _mnist_folder(), "--model", str(tiny_model_path),
            "--settings", str(tmp_path / "s.json")]
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "no MNIST test image 99999" in done.stderr and "0 to 9999" in done.stderr and "$IGC_DATA" not in done.stderr


def _figure_view(restarts: int):
    from app.export import render_figure

    model, meta = checkpoints.load(REPO / "assets" / "default") if (REPO / "assets" / "default.json").exists() else (None, None)
    if model is None:
        pytest.skip("no shipped model")
    runner = FeedRunner()
    s = runner.session = Session(runner, lambda callback, repeating: HandTimer(callback, repeating), max_threads=1)
    s.set_model(model, meta, "default")
    s.start(digit(), 0.0, SearchConfig(steps=20, lr=0.05, restarts=restarts, precision="fp32"))
    runner.feed(100)
    return render_figure(s.view, "default")


def test_the_exported_figure_with_one_restart_uses_its_width(qapp):
    image = _figure_view(1)
    W, H = image.width(), image.height()
    a = np.frombuffer(image.constBits(), np.uint8).reshape(H, image.bytesPerLine())[:, : 4 * W].reshape(H, W, 4)[..., :3]
    body = a[200:H - 60, 30:W - 30]
    used = (body < 235).any(axis=2).any(axis=0)  # columns with ink
    empty = 1 - used.mean()
    assert empty < 0.25, f"{100 * empty:.0f} % of the figure's width is empty"


def test_curve_end_labels_never_overlap():
    from app.curves import spread_labels

    ys = [100.0, 101.0, 100.5, 300.0, 99.0, 310.0]
    placed = spread_labels(ys, 18, 0, 400)
    order = sorted(placed)
    assert all(b - a >= 18 - 1e-9 for a, b in zip(order, order[1:]))
    assert all(abs(p - y) < 5 * 18 for p, y in zip(placed, ys))  # near their curves
    crowded = spread_labels([395.0] * 10, 18, 0, 400)
    assert max(crowded) <= 400 and min(crowded) >= 0 and len(set(round(y) for y in crowded)) == 10


def test_a_first_setup_says_what_it_does_before_it_installs(tmp_path):
    """scripts/setup.sh with a stand-in python that records its calls: every slow step is announced before it runs."""
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "setup.sh").write_text((REPO / "scripts" / "setup.sh").read_text())
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    log = tmp_path / "calls.log"
    fake = tmp_path / "bin" / "python3"
    fake.parent.mkdir()
    fake.write_text(f"""#!/usr/bin/env bash
echo "python $*" >> {log}
echo "python $*" >&2
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  mkdir -p "$3/bin"; cp "$0" "$3/bin/python"; printf 'export PATH="%s/bin:$PATH"\\n' "$(cd "$3" && pwd)" > "$3/bin/activate"
fi
if [ "$1" = "-c" ]; then exit 1; fi
exit 0
""")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}", "PYTHON": str(fake)}
    done = subprocess.run(["bash", "scripts/setup.sh"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    said = [i for i, line in enumerate(lines) if line.startswith("igc setup:")]
    installs = [i for i, line in enumerate(lines) if "pip install" in line]
    assert said and installs and said[0] < installs[0], lines
    torch = [i for i, line in enumerate(lines) if "pip install" in line and "torch" in line]
    assert torch and any(lines[i].startswith("igc setup:") and "torch" in lines[i] for i in range(torch[0])), lines


# ------------------------------------------------------------------------------------ presentation mode, sized


def _fake_outcome():
    from app.attack_demo import AttackOutcome

    x = digit()
    return AttackOutcome(method="fgsm", eps=0.15, label=1, label_known=True, clean=x, adversarial=np.clip(x + 0.1, -0.5, 0.5),
                         cnn_clean=(1, 0.9), cnn_adversarial=(7, 0.6), linf=0.1, seconds=0.1)


@pytest.mark.parametrize("size", [(1280, 720), (1366, 768), (1920, 1080)])
def test_presentation_mode_is_designed_for_the_back_of_a_room(qtbot, window, size):
    from test_teaching import clipped

    w = window
    w.set_presentation(True)
    w.resize(*size)
    fast(w)
    w.input_panel.set_input_image(digit() + 0.5, "MNIST test #9999", 7)
    window_run(qtbot, w)
    for _ in range(2):  # a sweep gives the runs table three rows
        window_run(qtbot, w)
    w.session.sweep(w.input_panel.current_input()[1], 0.0, w.search_config(), "lambda_lr", (0.0, 0.3))
    qtbot.waitUntil(lambda: w.session.view.sweep is not None and w.session.view.sweep.done, timeout=20_000)
    qtbot.wait(50)
    assert (w.width(), w.height()) == size
    rp, grid = w.result_panel, w.result_panel.grid_view
    # the grid is the largest picture on screen: cells of at least 48 px at 1280x720, larger on larger screens
    assert grid.restarts == 1 and grid.cell() >= 48 * size[1] / 720 - 1, grid.cell()
    for tab in ("distances", "why", "latent", "compare", "attack"):
        rp.show_tab(tab)
        qtbot.wait(10)
        assert clipped(w) == [], tab
        page = rp.pages[tab]
        page.grab()  # painted at this size
        assert page.height() >= 200, f"{tab}: {page.height()} px"
    # distances: the bars' title and the gauge's caption fit
    rp.show_tab("distances")
    assert QFontMetrics(rp.bars.font()).horizontalAdvance("0") > 0
    assert rp.bars.shown_title() in (rp.bars.title, rp.bars.title.replace(" (decides)", ""))
    assert rp.gauge.caption() in (rp.gauge.label, rp.gauge.short)
    assert rp.curves.height() >= 150
    # why: no caption cut
    rp.show_tab("why")
    rp.why.grab()
    assert rp.why.diffs and rp.why.elided == []
    # runs: three rows in view, and the sweep plot has room for its axes
    rp.show_tab("compare")
    table = rp.compare.table
    assert table.rowCount() >= 3
    assert table.viewport().height() >= 3 * table.rowHeight(0), "the runs table shows fewer than three rows"
    assert rp.compare.plot.height() >= 100
    # attack: a slider one can drag, captions whole
    rp.show_tab("attack")
    attack = rp.attack
    assert attack.eps_slider.width() >= 120
    attack.images.outcome = _fake_outcome()
    attack.images.grab()
    assert attack.images.elided == []
    w.set_presentation(False)
    assert (w.width(), w.height()) == size


# ------------------------------------------------------------------------------------ the search as an animation


def test_view_at_shows_each_step_as_it_was_searched(fed):
    s, runner = fed
    s.start(digit(), 0.0, SearchConfig(**LONG))
    runner.feed(100)
    final = s.view
    v = s.view_at(7)
    assert v.step == 7 and not v.final and v.verdict.kind == "provisional"
    assert v.verdict.headline.startswith("searching: step 7") and len(v.curve_steps) == 8
    assert s.view_at(len(s.history) - 1).verdict == final.verdict and s.view is final  # nothing on screen changed


def test_the_window_records_a_100_step_search_as_a_small_gif(qtbot, window, tmp_path):
    from PIL import Image

    w = window
    w.set_presentation(True)
    w.resize(1280, 720)
    set_field(w, "steps", 100)
    set_field(w, "lr", 0.05)
    draw_one(qtbot, w.input_panel.canvas)
    window_run(qtbot, w)
    before = w.transport.step_label.text()
    out = w.record_animation(tmp_path / "run.gif")
    assert w.transport.step_label.text() == before  # the screen is the run's own again
    gif = Image.open(out)
    assert gif.size == (1280, 720) and gif.n_frames == len(w.session.history) == 101
    assert out.stat().st_size < 3e6, f"{out.stat().st_size / 1e6:.1f} MB"
    durations = []
    for k in range(gif.n_frames):
        gif.seek(k)
        durations.append(gif.info["duration"])
    assert durations[-1] >= 2000 > durations[0], "the last frame (the verdict) is held"
    gif.seek(10)
    frame10 = np.asarray(gif.convert("RGB"))
    gif.seek(gif.n_frames - 1)
    assert not np.array_equal(frame10, np.asarray(gif.convert("RGB")))


def test_the_figure_is_recorded_at_the_size_asked(qtbot, window, tmp_path):
    from PIL import Image

    w = window
    draw_one(qtbot, w.input_panel.canvas)
    fast(w)
    window_run(qtbot, w)
    out = w.record_animation(tmp_path / "fig.gif", figure=True, size=(1280, 720))
    gif = Image.open(out)
    assert gif.size == (1280, 720) and gif.n_frames == FAST["steps"] + 1


def test_a_video_without_its_writer_says_what_to_install(qtbot, window, tmp_path, monkeypatch):
    from app import record

    monkeypatch.setattr(record, "video_available", lambda: False)
    w = window
    draw_one(qtbot, w.input_panel.canvas)
    fast(w)
    window_run(qtbot, w)
    with pytest.raises(ValueError, match="imageio-ffmpeg"):
        w.record_animation(tmp_path / "run.mp4")
    with pytest.raises(ValueError, match=".gif"):
        w.record_animation(tmp_path / "run.avi")
    assert not (tmp_path / "run.mp4").exists()


def _video_or_skip():
    """imageio and its ffmpeg plugin (the `video` extra), or the test is skipped saying what it needs."""
    why = 'the .mp4/.webm writer is not installed (pip install -e ".[video]")'
    pytest.importorskip("imageio_ffmpeg", reason=why)
    return pytest.importorskip("imageio.v2", reason=why)


@pytest.mark.parametrize("suffix, steps", [(".mp4", 100), (".webm", 40)])  # VP9 encodes about 3x slower than H.264
def test_the_window_records_a_search_as_a_small_video(qtbot, window, tmp_path, suffix, steps):
    from app import record

    imageio = _video_or_skip()
    w = window
    w.set_presentation(True)
    w.resize(1281, 721)  # odd: the codecs' yuv420p takes even sizes only
    assert (w.width(), w.height()) == (1281, 721)
    set_field(w, "steps", steps)
    set_field(w, "lr", 0.05)
    draw_one(qtbot, w.input_panel.canvas)
    window_run(qtbot, w)
    recorded = len(w.session.history)
    assert recorded == steps + 1
    out = w.record_animation(tmp_path / f"run{suffix}")
    assert out.stat().st_size < 3e6, f"{out.stat().st_size / 1e6:.1f} MB"
    final = np.asarray(record.to_pil(w.grab_view(w.session.view)), dtype=np.float32)[:720, :1280]
    reader = imageio.get_reader(out)
    assert reader.get_meta_data()["fps"] == pytest.approx(1000 / record.FRAME_MS)
    shapes, off = set(), []  # off: each frame's mean difference from the final screen, out of 255 (lossy codecs)
    for frame in reader:
        shapes.add(frame.shape)
        off.append(float(np.abs(np.asarray(frame, dtype=np.float32) - final).mean()))
    reader.close()
    assert shapes == {(720, 1280, 3)}, "the size asked for, rounded down to even"
    hold = round(record.HOLD_MS / record.FRAME_MS)
    assert hold * record.FRAME_MS >= 2000 and len(off) == recorded - 1 + hold, "every step once, the last one held"
    assert max(off[-hold:]) < 1.5, "the held frames are the final screen"
    assert off[0] > 3 and off[-hold - 1] > 1.5, "the search is seen to move, and the verdict to arrive at the end"


def test_a_video_writer_that_fails_leaves_nothing_half_written(tmp_path):
    from PIL import Image

    from app import record

    _video_or_skip()
    out = tmp_path / "run.mp4"
    out.write_bytes(b"the previous recording")
    frames = [Image.new("RGB", (64, 48), "white"), Image.new("RGB", (32, 48), "black")]  # sizes differ: ffmpeg refuses
    with pytest.raises(ValueError):
        record.write_video(out, frames, [record.FRAME_MS, record.HOLD_MS])
    assert out.read_bytes() == b"the previous recording" and [p.name for p in tmp_path.iterdir()] == ["run.mp4"]


def test_without_imageio_ffmpeg_a_video_is_refused_with_what_to_install(qtbot, window, tmp_path, monkeypatch):
    from app import record

    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # as if it were not installed: importing it fails
    assert not record.video_available()
    folder = tmp_path / "out"
    folder.mkdir()
    w = window
    draw_one(qtbot, w.input_panel.canvas)
    fast(w)
    window_run(qtbot, w)
    for suffix in (".mp4", ".webm"):
        with pytest.raises(ValueError, match=r"pip install imageio imageio-ffmpeg.*a \.gif needs nothing more"):
            w.record_animation(folder / f"run{suffix}")
    assert list(folder.iterdir()) == [], "nothing is written, not even part of a file"
    # and from the command line, before any search: exit status 2 and the same message
    script = ("import sys; sys.modules['imageio_ffmpeg'] = None; from app.main import main; "
              f"sys.exit(main(['--mnist', '0', '--run', '--record', {str(folder / 'x.webm')!r}]))")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYQTGRAPH_QT_LIB": "PySide6"}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "pip install imageio imageio-ffmpeg" in done.stderr, done.stderr[-2000:]
    assert list(folder.iterdir()) == []


def test_python_m_app_records_a_gif(tiny_model_path, tmp_path):
    from PIL import Image

    out = tmp_path / "run.gif"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYQTGRAPH_QT_LIB": "PySide6"}
    args = [sys.executable, "-m", "app", str(REPO / "assets" / "samples" / "7.png"), "--model", str(tiny_model_path),
            "--settings", str(tmp_path / "s.json"), "--set", "steps=5", "--size", "1280x720", "--presentation", "--run",
            "--record", str(out)]
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    gif = Image.open(out)
    assert gif.size == (1280, 720) and gif.n_frames == 6
    assert not (tmp_path / "s.json").exists()
    bad = subprocess.run([sys.executable, "-m", "app", "--record", str(tmp_path / "x.gif")], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert bad.returncode == 2 and "--record needs --run" in bad.stderr


# ------------------------------------------------------------------------------------ lessons


def _lesson(tmp_path, steps) -> Path:
    import json

    path = tmp_path / "lesson.json"
    path.write_text(json.dumps(steps))
    return path


@pytest.mark.parametrize("doc, words", [
    ("[", "not valid JSON"),
    ("[]", "at least one step"),
    ('[{"input": {"mnist": 3}}]', "step 1: every step needs a 'caption'"),
    ('[{"caption": "a"}, {"caption": "b", "tab": "curves"}]', "step 2: 'tab' is one of"),
    ('[{"caption": "a", "settings": {"restarts": 0}}]', "step 1: setting restarts=0"),
    ('[{"caption": "a", "settings": {"colour": 1}}]', "unknown setting 'colour'"),
    ('[{"caption": "a", "input": {"file": "nowhere.png"}}]', "does not exist"),
    ('[{"caption": "a", "input": {"mnist": -1}}]', "whole number"),
    ('[{"caption": "a", "speed": 2}]', "unknown field 'speed'"),
    ('{"title": "t", "steps": [{"caption": "a", "run": "yes"}]}', "'run' is true or false"),
])
def test_a_bad_lesson_says_what_is_wrong_and_where(tmp_path, doc, words):
    from app.model.lesson import load_lesson

    path = tmp_path / "bad.json"
    path.write_text(doc)
    with pytest.raises(ValueError, match=None) as err:
        load_lesson(path)
    assert words in str(err.value), str(err.value)


def test_the_shipped_lesson_follows_the_five_minute_demo():
    from app.model.lesson import load_lesson

    lesson = load_lesson(REPO / "lessons" / "five-minute-demo.json")
    assert [s.tab for s in lesson.steps] == ["distances", "distances", "why", "latent", "compare", "attack"]
    assert lesson.steps[0].input == ("clear", True) and not lesson.steps[0].run
    assert lesson.steps[3].settings["restarts"] == 5 and lesson.steps[4].settings["lambda_lr"] == 0.3
    assert all(kind == "file" and path.is_file() for kind, path in (s.input for s in lesson.steps[1:]))


def test_page_down_and_page_up_walk_a_lesson(qtbot, window, tmp_path):
    from app.model.lesson import load_lesson

    w = window
    fast(w)
    seven = str(REPO / "assets" / "samples" / "7.png")
    lesson = load_lesson(_lesson(tmp_path, [
        {"caption": "first, a seven", "input": {"file": seven}, "tab": "distances"},
        {"caption": "three restarts", "settings": {"restarts": 3}, "tab": "latent", "run": True},
        {"caption": "the differences", "tab": "why", "grid": "differences", "run": False},
    ]))
    with qtbot.waitSignal(w.result_shown, timeout=20_000):
        w.start_lesson(lesson)
    assert w.presenting and w.lesson_label.isVisible() and "1 / 3 · first, a seven" in w.lesson_label.text()
    assert w.input_panel.input_name == "file: 7.png" and w.session.view.final
    with qtbot.waitSignal(w.result_shown, timeout=20_000):
        qtbot.keyClick(w, Qt.Key.Key_PageDown)
    assert w.settings_panel.value("restarts") == 3 and w.result_panel.current_tab() == "latent"
    assert w.session.view.run.config.restarts == 3 and "2 / 3" in w.lesson_label.text()
    qtbot.keyClick(w, Qt.Key.Key_PageDown)
    assert w.result_panel.current_tab() == "why" and w.session.state.grid_mode == "differences"
    assert w.settings_panel.value("restarts") == 1, "a step's settings are over the lesson's first settings"
    qtbot.keyClick(w, Qt.Key.Key_PageDown)  # past the end: nothing moves
    assert "3 / 3" in w.lesson_label.text()
    with qtbot.waitSignal(w.result_shown, timeout=20_000):
        qtbot.keyClick(w, Qt.Key.Key_PageUp)
    assert w.result_panel.current_tab() == "latent" and w.settings_panel.value("restarts") == 3


def test_python_m_app_refuses_a_bad_lesson(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('[{"caption": "a", "tab": "nowhere"}]')
    done = subprocess.run([sys.executable, "-m", "app", "--lesson", str(path)], cwd=REPO, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "step 1: 'tab' is one of" in done.stderr and "Traceback" not in done.stderr


# ------------------------------------------------------------------------------------ the latent map with restarts


def test_the_spread_of_a_class_s_restarts_falls_as_they_converge():
    from app.model.latent_map import latent_map

    K, C, R, L = 6, 10, 4, 3
    rng = np.random.default_rng(0)
    start = rng.normal(size=(C, R, L))
    target = rng.normal(size=(C, 1, L))
    latents = np.stack([target + (start - target) * (1 - k / (K - 1)) for k in range(K)]).astype(np.float32)
    m = latent_map(latents, np.arange(K), K - 1)
    assert m.spread.shape == (C, K)
    assert np.all(np.diff(m.spread, axis=1) < 0) and np.allclose(m.spread[:, -1], 0, atol=1e-5)
    assert latent_map(latents[:, :, :1], np.arange(K), 0).spread is None  # one restart: nothing converges


def test_a_click_on_a_path_follows_that_class_s_restarts(qtbot, window):
    w = window
    fast(w)
    set_field(w, "restarts", 3)
    draw_one(qtbot, w.input_panel.canvas)
    window_run(qtbot, w)
    rp = w.result_panel
    rp.show_tab("latent")
    qtbot.wait(20)
    view = rp.latent.map_view
    leader = w.session.view.leader
    view.grab()
    assert view.focus == leader and view.caption.startswith(f"class {leader}: 3 restarts, spread")
    other = next(c for c in range(10) if c != leader)
    end = view.to_screen(view.map.points[other, 0, view.map.index].astype(np.float64))
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=QPoint(int(round(end[0])), int(round(end[1]))))
    clicked = w.session.view.selected
    assert clicked is not None and view.focus == clicked  # the class clicked is followed, the others faded
    view.grab()
    assert view.caption.startswith(f"class {clicked}: 3 restarts")
