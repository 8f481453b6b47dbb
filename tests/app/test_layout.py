"""Every screen: a laptop's 1366x700 fits with nothing clipped, a projector's 1920x1080 grows, nothing jumps."""

import pytest
from PySide6.QtCore import QRect

from conftest import draw_one, fast_settings, run_and_wait, set_field


def inside(child, window) -> QRect:
    top_left = child.mapTo(window, child.rect().topLeft())
    return QRect(top_left, child.size())


def panels(w):
    return [w.input_panel, w.result_panel, w.settings_panel, w.transport]


def settle(c, qtbot, timeout_ms=3000):
    """Waits until the canvas is square at its planned side and stays so for 200 ms: a square passed on the way
    (another window's layout still running) is not the end state."""
    last, stable_since = None, None
    for elapsed in range(0, timeout_ms, 20):
        qtbot.wait(20)
        now = (c.width(), c.height(), c.maximumWidth())
        if now[0] == now[1] == now[2] and now == last:
            stable_since = elapsed if stable_since is None else stable_since
            if elapsed - stable_since >= 200:
                return
        else:
            stable_since = None
        last = now
    raise AssertionError(f"the canvas did not settle as a square: {last}")


def check_fits(w, size, qtbot=None):
    assert (w.width(), w.height()) == size, "the window could not take the size asked for"
    if qtbot is not None:  # the canvas squares itself once the layout has settled (a turn of the event loop or two)
        settle(w.input_panel.canvas, qtbot)
    rects = [inside(p, w) for p in panels(w)]
    for r in rects:
        assert w.rect().contains(r), f"{r} sticks out of the window"
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert not a.intersects(b), f"panels overlap: {a} {b}"
    canvas = w.input_panel.canvas
    assert canvas.width() == canvas.height() >= 150, "the canvas is no longer a usable square"
    rp = w.result_panel
    assert w.result_panel.grid_view.cell() >= 22 and rp.bars.width() >= 220 and rp.curves.height() >= 140
    for label in (rp.verdict_label, rp.detail_label):
        assert label.height() <= label.fontMetrics().height() + 6, "a header line wraps"
    for editor in w.settings_panel.editors.values():
        if editor.isVisible():
            assert inside(editor, w).right() <= w.width(), "a setting is cut off on the right"


@pytest.mark.parametrize("size", [(1366, 700), (1920, 1080)])
def test_fits_the_screen_in_every_state(qtbot, make_window, tiny_model_path, size):
    w = make_window(tiny_model_path, size=size)
    qtbot.wait(20)
    check_fits(w, size, qtbot)
    header, grid_box = inside(w.result_panel.head, w), inside(w.result_panel.grid_box, w)
    draw_one(qtbot, w.input_panel.canvas)
    fast_settings(w, steps=20)
    with qtbot.waitSignal(w.session.runner.paused_at, timeout=10_000):
        w.single_step()
    qtbot.wait(20)
    assert inside(w.result_panel.head, w) == header and inside(w.result_panel.grid_box, w) == grid_box
    run_and_wait(qtbot, w)
    qtbot.wait(20)
    check_fits(w, size, qtbot)
    assert inside(w.result_panel.head, w) == header and inside(w.result_panel.grid_box, w) == grid_box, "layout jumped"
    w.show_message("A long error message that a user must read in full: " + "the model file is broken. " * 6, "error")
    qtbot.wait(20)
    check_fits(w, size, qtbot)


def test_a_projector_gives_more_room_to_the_canvas_and_the_grid(qtbot, make_window, tiny_model_path):
    small = make_window(tiny_model_path, size=(1366, 700))
    big = make_window(tiny_model_path, size=(1920, 1080))
    check_fits(small, (1366, 700), qtbot)
    check_fits(big, (1920, 1080), qtbot)
    assert big.input_panel.canvas.width() >= 1.3 * small.input_panel.canvas.width()
    assert big.result_panel.grid_view.cell() >= 1.3 * small.result_panel.grid_view.cell()


def test_twenty_restarts_stay_readable(qtbot, make_window, tiny_model_path):
    from PySide6.QtGui import QFontMetrics

    from app.widgets import GAP, MIN_CELL

    w = make_window(tiny_model_path, size=(1366, 700))
    draw_one(qtbot, w.input_panel.canvas)
    fast_settings(w, steps=5, restarts=20)
    run_and_wait(qtbot, w)
    qtbot.wait(20)
    grid = w.result_panel.grid_view
    assert grid.restarts == 20 and grid.cell() >= MIN_CELL
    pitch = grid.cell() + GAP
    label = QFontMetrics(grid._label_font).horizontalAdvance("00")
    every = max(1, -(-(label + 6) // pitch))
    assert every * pitch >= label + 6  # the restart numbers drawn do not overlap
    assert w.result_panel.grid_scroll.horizontalScrollBar().maximum() >= 0  # what does not fit scrolls
    check_fits(w, (1366, 700), qtbot)


def test_restarts_setting_shapes_the_empty_grid(qtbot, make_window, tiny_model_path):
    w = make_window(tiny_model_path)
    set_field(w, "restarts", 5)
    assert w.result_panel.grid_view.restarts == 5  # before any run: the first run does not move the layout
