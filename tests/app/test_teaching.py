"""The teaching mode (issue 9): replay, the timeline, the narration, why this class, the latent map, comparing runs,
sweeps, presentation mode and the attack demo.

The search runs in this process on a tiny untrained model (`InProcessRunner` stands in for the engine process and
counts its calls), so a test can say how often the engine was asked and the suite stays fast.
"""

import numpy as np
import pytest
from PySide6.QtCore import QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtWidgets import QAbstractButton, QLabel

from app.model.compare import parse_values
from app.model.explain import diverging_rgb, rgb_mosaic
from app.model.history import Frame, History
from app.model.narration import narrate
from app.model.replay import Replayer
from app.model.view import RunInfo, SessionState, format_pair, make_view
from igc_core import search
from igc_core.search import SearchConfig

from conftest import HandTimer, draw_one, fast_settings, search_in_process, set_field

C = 10
FAST = dict(steps=12, lr=0.05, precision="fp32")


# ------------------------------------------------------------------------------------ a runner without a process


class InProcessRunner(QObject):
    """The search in this process with the runner's signals (the engine process is tested in test_worker.py)."""

    frames = Signal(object)
    paused_at = Signal(int)
    finished = Signal(object, float)
    failed = Signal(str)
    state_changed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.calls: list[SearchConfig] = []
        self.state = "idle"
        self._gen = 0

    def is_active(self) -> bool:
        return self.state != "idle"

    def start(self, model, image, config, start_paused=False, max_threads=None) -> int:
        self.calls.append(config)
        frames, result = search_in_process(model, image, config)
        self._gen += 1
        gen = self._gen
        self.state = "running"

        def deliver():
            if gen != self._gen or self.state == "idle":
                return  # stopped or replaced
            self.frames.emit(frames)
            self.state = "idle"
            self.state_changed.emit("idle")
            self.finished.emit(result, 0.01)

        QTimer.singleShot(0, deliver)
        return gen

    def stop(self) -> None:
        self.state = "idle"

    def pause(self) -> None:  # the tests never pause the in-process search
        pass

    def step(self) -> None:
        pass

    def set_interval(self, seconds: float) -> None:
        pass


@pytest.fixture
def in_process(monkeypatch):
    monkeypatch.setattr("app.qt_session.SearchRunner", InProcessRunner)


@pytest.fixture(scope="module")
def tiny(tiny_model_path):
    from igc_core import checkpoints

    model, meta = checkpoints.load(tiny_model_path)
    return model, meta


def digit() -> np.ndarray:
    x = np.full((28, 28), -0.5, np.float32)
    x[6:22, 13:16] = 0.5
    return x


@pytest.fixture
def session(qtbot, in_process, tiny):
    from app.qt_session import QtSession

    s = QtSession(max_threads=1)
    s.set_model(tiny[0], tiny[1], "tiny")
    yield s
    s.shutdown()


def run(qtbot, s, config=None, image=None):
    with qtbot.waitSignal(s.run_finished, timeout=20_000):
        s.start(digit() if image is None else image, 0.0, config or SearchConfig(**FAST))
    return s.view


@pytest.fixture
def window(qtbot, in_process, make_window, tiny_model_path):
    w = make_window(tiny_model_path)
    qtbot.waitUntil(lambda: w.input_panel.canvas.width() == w.input_panel.canvas.height(), timeout=3000)
    return w


def fast(w):
    fast_settings(w, steps=FAST["steps"], lr=FAST["lr"])


def window_run(qtbot, w):
    with qtbot.waitSignal(w.result_shown, timeout=20_000):
        assert w.start_search(), w.banner.text


# ------------------------------------------------------------------------------------ replay


def test_replay_shows_the_recorded_frames_in_order_without_the_engine(qtbot, session):
    v = run(qtbot, session)
    n = len(session.history)
    assert n == FAST["steps"] + 1 and v.final and len(session.runner.calls) == 1
    session.set_speed("4x")  # 40 steps a second: the 12 steps in 0.3 s
    shown = []
    session.view_changed.connect(lambda view: shown.append((view.index, view.step, view.grid)))
    assert session.replay()
    assert session.view.replay == "playing" and session.view.index == 0
    qtbot.waitUntil(lambda: session.view.replay == "off", timeout=10_000)
    assert len(session.runner.calls) == 1, "a replay never searches again"
    indices = [i for i, _, _ in shown]
    assert indices[0] == 0 and indices[-1] == n - 1
    assert all(a <= b for a, b in zip(indices, indices[1:])), "frames out of order"
    for i, step, grid in shown:  # each frame shown is the recorded one, pictures included
        assert step == session.history[i].step
        np.testing.assert_array_equal(grid, session.history[i].reconstructions)
    assert session.view.final and session.view.replay == "off"


def test_the_replay_keeps_to_its_speed_and_passes_no_frame_when_it_can_draw_them():
    """The replay's clock, driven by hand: at 2x (20 steps a second) step k is due at k / 20 s."""
    steps = list(range(0, 21))
    now = [0.0]
    shown, ended = [], []
    r = Replayer(lambda: steps, shown.append, lambda: ended.append(True), lambda _callback, _repeating: HandTimer(),
                 clock=lambda: now[0])
    r.play(0, "2x")
    r.pause()  # the test ticks by hand
    for k in range(1, 21):
        now[0] = k / 20 + 1e-9
        r._tick()
        assert r.index == k
    assert shown == list(range(1, 21)) and ended == [True]
    now[0] = 0.0
    r.play(0, "0.25x")  # 2.5 steps a second
    r.pause()
    now[0] = 2.0
    r._tick()
    assert r.index == 5


def test_one_step_per_keypress(qtbot, session):
    run(qtbot, session)
    session.set_speed("key")
    assert session.replay()
    assert session.view.index == 0 and session.view.replay == "paused"
    for k in range(1, 4):  # Space / → each show one more recorded step
        assert session.toggle() if k % 2 else session.step()
        assert session.view.index == k
    assert len(session.runner.calls) == 1


def test_space_replays_a_finished_run_and_return_searches_again(qtbot, window):
    w = window
    draw_one(qtbot, w.input_panel.canvas)
    fast(w)
    window_run(qtbot, w)
    calls = len(w.session.runner.calls)
    assert w.teaching.replay_ready() and w.transport.play_button.text() == "▶ Replay"
    w.session.set_speed("8x")
    qtbot.keyClick(w, Qt.Key.Key_Space)
    assert w.session.view.replay == "playing"
    qtbot.waitUntil(lambda: w.session.view.replay == "off", timeout=10_000)
    assert len(w.session.runner.calls) == calls
    with qtbot.waitSignal(w.result_shown, timeout=20_000):
        qtbot.keyClick(w, Qt.Key.Key_Return)
    assert len(w.session.runner.calls) == calls + 1


# ------------------------------------------------------------------------------------ the timeline and the narration


def test_a_click_on_the_timeline_jumps_there(qtbot, window):
    w = window
    draw_one(qtbot, w.input_panel.canvas)
    fast(w)
    window_run(qtbot, w)
    t = w.transport.timeline
    w.session.scrub(0)
    assert w.session.view.index == 0 and t.value() == 0
    x = int(t.width() * 0.6)
    target = t.value_at(x)
    assert target not in (0, 1, t.pageStep()), "a plain slider would only page towards the click"
    qtbot.mouseClick(t, Qt.MouseButton.LeftButton, pos=QPoint(x, t.height() // 2))
    assert w.session.view.index == target and t.value() == target
    assert w.transport.step_label.text() == f"step {w.session.view.step} / {FAST['steps']}"
    assert w.transport.narration.text() == narrate(w.session.view)


def _frame(step, difs, steps=20):
    difs = np.asarray(difs, np.float32).reshape(C, 1)
    return Frame(step=step, steps=steps, losses=difs.copy(), difs=difs, active=np.ones(C, bool),
                 reconstructions=np.zeros((C, 1, 28, 28), np.float16))


def _state(frames, cursor=None):
    h = History()
    for f in frames:
        h.append(f)
    run_ = RunInfo(config=SearchConfig(steps=20), image=np.zeros((28, 28), np.float32), sigma=0.0, name="t")
    return SessionState(status="paused", run=run_, history=h, cursor=cursor, model_name="tiny")


def test_the_narration_says_what_the_view_shows():
    base = np.full(C, 0.2, np.float32)
    frames = []
    for step in range(0, 13, 3):  # 3 leads 5; 8 falls 0.01 per step, the others barely move
        d = base.copy()
        d[3], d[5], d[8] = 0.05, 0.062, 0.2 - 0.01 * step
        frames.append(_frame(step, d))
    v = make_view(_state(frames))
    assert (v.step, v.leader, v.runner_up) == (12, 3, 5)
    margin = format_pair(v.margin, v.margin)[0]
    assert narrate(v) == f"step 12: 3 leads 5 by {margin}; 8 is still falling fastest"
    # one frame later 8 has overtaken 3: the narration says so, and who leads now
    d = base.copy()
    d[3], d[5], d[8] = 0.05, 0.062, 0.04
    v = make_view(_state(frames + [_frame(15, d)]))
    assert v.leader == 8 and narrate(v).startswith("step 15: 8 leads 3 by") and "8 has just overtaken 3" in narrate(v)
    # scrubbed back to step 3, the narration tells that step's story
    v = make_view(_state(frames, cursor=1))
    assert narrate(v).startswith("step 3: 3 leads 5")


# ------------------------------------------------------------------------------------ why this class


@pytest.mark.parametrize("preset", ["igc", "robust"])
def test_difference_images_are_reconstruction_minus_input(qtbot, window, preset):
    w = window
    w.settings_panel.set_preset(preset)
    draw_one(qtbot, w.input_panel.canvas)
    fast(w)
    window_run(qtbot, w)
    w.result_panel.show_tab("why")
    v = w.session.view
    target = v.run.searched
    why = w.result_panel.why
    winner, other = v.leader, v.compare
    assert other == v.runner_up and other != winner
    for diff, c in zip(why.diffs, (winner, other)):
        recon = v.grid[c, v.best_restart[c]].astype(np.float32)
        np.testing.assert_allclose(np.abs(diff), np.abs(recon - target), atol=1e-6)
        # and the difference adds up to the distance that decides (frames are float16): igc (the paper's MAE), the
        # mean of |G - d|; robust (the default: MSE, intensity fit), the mean of (aG + b - d)², the grid holding aG + b
        if preset == "igc":
            assert abs(np.abs(diff).mean() - v.distances[c]) < 2e-3
        else:
            assert abs(np.square(diff).mean() - v.distances[c]) < 2e-4
    # the panel says what was compared, and its number is the distance
    words = [text for cell in why.cells for text in (cell[0], cell[2])]
    fitted = preset == "robust"
    assert (f"aG({winner}, z)+b" if fitted else f"G({winner}, z)") in words
    note = next(t for t in words if t.startswith("mean of"))
    assert note.split("\n")[1] == ("(aG+b−d)²" if fitted else "|G−d|")
    assert abs(float(note.split("= ")[1]) - v.distances[winner]) < (2e-4 if fitted else 2e-3)
    # the grid toggle: every cell's difference in the diverging map
    w.session.set_grid_mode("differences")
    v = w.session.view
    np.testing.assert_allclose(np.abs(v.differences), np.abs(v.grid.astype(np.float32) - target[None, None]), atol=1e-6)
    np.testing.assert_array_equal(w.result_panel.grid_view.current, rgb_mosaic(diverging_rgb(v.differences)))
    assert w.result_panel.grid_title.text() == "Differences"
    # clicking a row of the grid compares that class with the winner
    pick = next(c for c in range(C) if c not in (v.leader, v.runner_up))
    qtbot.mouseClick(w.result_panel.grid_view, Qt.MouseButton.LeftButton,
                     pos=QPoint(w.result_panel.grid_view._left() + 5, int(w.result_panel.grid_view._top() + (pick + 0.5) * w.result_panel.grid_view.cell())))
    assert w.session.view.compare == pick and w.session.view.selected == pick


def test_the_help_page_says_what_the_distance_compares():
    """Help ▸ How IGC works names the default search's distance (MSE after the intensity fit), not the paper's."""
    from app import about

    text = about.page(None, "m", False)
    assert "mean squared difference" in text and "a·G + b" in text and "mean absolute" not in text
    assert "λ_LR (now 0.01)" in text
    assert about.distance_words(SearchConfig.from_preset("igc")) == "the mean absolute difference (the paper's)"


def test_before_a_run_the_grid_shows_the_starting_images(qtbot, window):
    w = window
    v = w.session.view
    assert not v.has_run and v.grid_title == "Starting points"
    expected = search.starting_images(w.session.model, w.search_config())
    np.testing.assert_allclose(v.grid.astype(np.float32), expected, atol=1e-3)
    assert w.result_panel.grid_view.current is not None


# ------------------------------------------------------------------------------------ the latent map


def test_the_latent_map_has_one_path_per_class_and_restart_with_every_recorded_step(qtbot, session):
    run(qtbot, session, SearchConfig(**FAST, restarts=3))
    session.set_latent_axes("pca")
    m = session.view.latent
    K = len(session.history)
    assert m.paths == C * 3 and m.points.shape == (C, 3, K, 2)
    assert list(m.steps) == [f.step for f in session.history] and m.index == K - 1
    session.scrub(4)
    assert session.view.latent.index == 4  # the current step is marked where the view is
    # the start of every path is its starting latent, projected: all classes' restart 0 start at the prior mean
    start = session.view.latent.points[:, 0, 0]
    np.testing.assert_allclose(start, np.broadcast_to(start[0], start.shape), atol=1e-5)
    session.set_latent_axes((0, 1))  # two latent dimensions instead of PCA
    lat = session.history.latents()
    np.testing.assert_allclose(session.view.latent.points[2, 1, :, 0], lat[:, 2, 1, 0], rtol=1e-6)


def test_clicking_a_path_selects_its_class(qtbot, window):
    w = window
    draw_one(qtbot, w.input_panel.canvas)
    fast(w)
    window_run(qtbot, w)
    w.result_panel.show_tab("latent")
    m = w.session.view.latent
    assert m is not None
    view = w.result_panel.latent.map_view
    v = w.session.view
    pick = next(c for c in range(C) if c not in (v.leader, v.runner_up))
    end = view.to_screen(m.points[pick, 0, m.index].astype(np.float64))
    others = view.to_screen(m.points[:, :, : m.index + 1].astype(np.float64))
    gaps = np.linalg.norm(others - end, axis=-1)
    gaps[pick] = np.inf
    if gaps.min() < 1:
        pytest.skip("another path passes through the same point on this tiny untrained model")
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=QPoint(int(round(end[0])), int(round(end[1]))))
    assert w.session.view.selected == pick and w.session.view.compare == pick


# ------------------------------------------------------------------------------------ comparing runs and sweeps


def test_ghost_curves_after_a_second_run_and_the_runs_table_grows(qtbot, window):
    w = window
    draw_one(qtbot, w.input_panel.canvas)
    fast(w)
    window_run(qtbot, w)
    rp = w.result_panel
    assert w.session.view.ghost is None and rp.curves.ghost is None
    first = w.session.view.run.number
    set_field(w, "lambda_lr", 0.3)
    window_run(qtbot, w)
    v = w.session.view
    assert v.ghost is not None and v.ghost.number == first
    assert rp.curves.ghost is not None and rp.curves.ghost[1] is v.ghost.curve_values
    assert "λ_LR 0.01 → 0.3" in v.ghost_label  # from the default preset's (robust) λ_LR
    rp.show_tab("compare")
    assert rp.compare.table.rowCount() == 2
    assert rp.compare.table.item(0, 4).text() == "0.3"  # newest first, with its λ_LR


def test_a_sweep_over_three_values_searches_three_times_and_plots_three_points(qtbot, window):
    w = window
    draw_one(qtbot, w.input_panel.canvas)
    fast(w)
    rp = w.result_panel
    rp.show_tab("compare")
    rp.compare.set_sweep_inputs("lambda_lr", "0, 0.03, 0.3")
    rp.compare.sweep_button.click()
    qtbot.waitUntil(lambda: w.session.view.sweep is not None and w.session.view.sweep.done, timeout=30_000)
    assert [c.lambda_lr for c in w.session.runner.calls] == [0.0, 0.03, 0.3]
    sw = w.session.view.sweep
    assert rp.compare.plot.xs == [0.0, 0.03, 0.3] and len(sw.points) == 3
    assert all(p.distances.shape == (C,) for p in sw.points)
    assert rp.compare.table.rowCount() == 3
    assert sw.summary().startswith("λ_LR: 0 → ")


def test_sweep_values_are_checked():
    assert parse_values("restarts", "1, 2, 5") == (1, 2, 5)
    for field, text in (("lambda_lr", "0.1"), ("lambda_lr", "a, b"), ("restarts", "1.5, 2"), ("lr", "-1, 0.1"),
                        ("colour", "1, 2")):
        with pytest.raises(ValueError):
            parse_values(field, text)


# ------------------------------------------------------------------------------------ presentation mode


def clipped(w) -> list[str]:
    """Visible labels and buttons whose text does not fit (word-wrapped and eliding labels excepted)."""
    from app.result_panel import ElidedLabel

    bad = []
    for widget in w.findChildren(QLabel) + w.findChildren(QAbstractButton):
        if not widget.isVisibleTo(w) or not widget.text() or isinstance(widget, ElidedLabel):
            continue
        if isinstance(widget, QLabel) and (widget.wordWrap() or widget.textFormat() == Qt.TextFormat.RichText):
            continue
        text = widget.text().replace("&", "")
        need = max(widget.fontMetrics().horizontalAdvance(line) for line in text.split("\n"))
        room = widget.contentsRect().width() - (12 if isinstance(widget, QAbstractButton) else 0)
        if need > room + 1:
            bad.append(f"{type(widget).__name__} {text!r}: {need} px in {room}")
    return bad


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
def test_presentation_mode_fits_a_projector_with_nothing_clipped(qtbot, window, size):
    from test_layout import inside

    w = window
    narration_points = w.transport.narration.font().pointSizeF()
    w.set_presentation(True)
    w.resize(*size)
    w.input_panel.set_input_image(digit() + 0.5, "MNIST test #9999", 7)  # the longest name a sample gets
    fast(w)
    window_run(qtbot, w)
    qtbot.wait(50)
    assert (w.width(), w.height()) == size
    assert not w.settings_panel.isVisible()
    assert w.transport.narration.font().pointSizeF() >= 1.6 * narration_points - 1e-6
    assert w.result_panel.verdict_label.font().pointSizeF() >= 1.6 * 18 - 1e-6
    rp = w.result_panel
    for panel in (w.input_panel, rp, w.transport):
        r = inside(panel, w)
        assert w.rect().contains(r), f"{type(panel).__name__} {r} sticks out"
    assert rp.verdict_label.height() <= rp.verdict_label.fontMetrics().height() + 6, "the verdict wraps"
    for label in (rp.verdict_label, rp.detail_label):
        assert label.text() == label.full_text(), f"{label.full_text()!r} is cut to {label.text()!r}"
    assert inside(rp.detail_label, w).bottom() < inside(rp.gauge, w).top(), "the detail's second line hides under the gauge"
    for tab in ("distances", "why", "latent", "compare", "attack"):
        rp.show_tab(tab)
        qtbot.wait(10)
        assert clipped(w) == [], tab
    rp.show_tab("why")
    rp.why.grab()  # paint it
    assert rp.why.diffs and rp.why.elided == []
    assert w.input_panel.digit_buttons[0].font().pointSizeF() >= 1.6 * 11 - 1e-6  # the inherited fonts grow too
    assert rp.tabs.tabBar().font().pointSizeF() >= 1.6 * 11 - 1e-6
    w.set_presentation(False)
    assert w.settings_panel.isVisible() and abs(w.transport.narration.font().pointSizeF() - narration_points) < 1e-6


# ------------------------------------------------------------------------------------ the attack demo


def test_fgsm_against_the_cnn_stays_in_budget_and_is_scored_by_both():
    from app.attack_demo import make_adversarial
    from igc_core import checkpoints

    try:
        cnn, _ = checkpoints.load_classifier(checkpoints.ASSETS / "cnn")
    except (OSError, checkpoints.CheckpointError):
        pytest.skip("the CNN baseline is not shipped")
    x = digit()
    out = make_adversarial(x, 1, "fgsm", 0.2, cnn)
    assert out.linf <= 0.2 + 1e-6 and out.adversarial.min() >= -0.5 and out.adversarial.max() <= 0.5
    assert out.cnn_adversarial[0] == int(cnn(__import__("torch").as_tensor(out.adversarial)[None]).argmax())
    with pytest.raises(ValueError, match="budget"):
        make_adversarial(x, 1, "fgsm", 0.0, cnn)
    with pytest.raises(ValueError, match="unknown attack"):
        make_adversarial(x, 1, "cw", 0.1, cnn)


# ------------------------------------------------------------------------------------ help and the first start


def test_how_igc_works_explains_with_the_run_on_screen(qtbot, window):
    w = window
    assert "Welcome" in w.transport.narration.text()  # the first-start hint, where nothing moves when it goes
    draw_one(qtbot, w.input_panel.canvas)
    assert "Welcome" not in w.transport.narration.text()
    fast(w)
    window_run(qtbot, w)
    dialog = w.show_help()
    text = dialog.findChild(__import__("PySide6.QtWidgets", fromlist=["QTextBrowser"]).QTextBrowser).toPlainText()
    for words in ("L_DD", "λ_LR", "Sec. 3.1", "Parallel IGC (Sec. 3.3)", "Out of class (Sec. 3.2)", "On screen now"):
        assert words in text
    assert f"step {w.session.view.step} of {FAST['steps']}" in text
    dialog.close()


def test_the_history_keeps_each_frames_latents_through_thinning():
    rng = np.random.default_rng(0)
    h = History(budget_bytes=40 * 10 * 2 * (4 + 4 + 4 * 3) + 1)  # room for about 40 small frames: it thins
    for step in range(200):
        d = rng.random((C, 2)).astype(np.float32)
        h.append(Frame(step=step, steps=199, losses=d, difs=d, active=np.ones(C, bool), reconstructions=None,
                       latents=np.full((C, 2, 3), step, np.float32)))
    assert h.stride > 1 and len(h) < 200
    lat = h.latents()
    assert lat.shape == (len(h), C, 2, 3)
    assert [int(x) for x in lat[:, 0, 0, 0]] == [f.step for f in h]


def test_a_two_digit_model_keeps_the_teaching_tools_out_of_its_way(qtbot, make_window, tiny_model_path, tmp_path_factory):
    """Two-digit mode (issue 11) has no replay, sweeps or tabs yet: they stay off, and what is shared still works."""
    from test_two_digit import _tiny_two_digit, drawn_number

    from app.model import two_digit
    from conftest import run_and_wait
    from igc_core import checkpoints

    path = checkpoints.save(_tiny_two_digit(), tmp_path_factory.mktemp("two") / "two", {"command": "test"})
    w = make_window(tiny_model_path)
    assert w.load_model(str(path)) and w.session.is_two_digit
    fast_settings(w, steps=4, restarts=1, lr=0.05)
    w.two_digit_panel.set_input_image(drawn_number(), "drawn")
    run_and_wait(qtbot, w)
    v = w.session.view
    assert isinstance(v, two_digit.TwoDigitView) and v.final
    assert not w.teaching.replay_ready() and not w.session.replay("8x") and w.session.state.replay == "off"
    assert w.transport.narration.text() == f"step {v.step}: {v.verdict.headline}"
    with pytest.raises(ValueError, match="two-digit"):
        w.session.sweep(np.zeros((28, 56), np.float32), 0.0, SearchConfig(), "lambda_lr", (0.0, 0.1))
    w.show_help().close()
    w.set_presentation(True)
    w.set_presentation(False)
