"""Issue 19: saving a run (Ctrl+S) writes its three files all or none: a failure half-way leaves the set that
was there, a name too long or any OSError is a message, and nothing half-written is left."""

import errno
import os

import pytest

from app import export

from conftest import draw_one, fast_settings, run_and_wait


@pytest.fixture
def ran(qtbot, make_window, tiny_model_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    w = make_window(tiny_model_path)
    draw_one(qtbot, w.input_panel.canvas)
    fast_settings(w, steps=4)
    run_and_wait(qtbot, w)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    return w


def save_as(w, monkeypatch, path):
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    w.save_results_dialog()


def test_a_failure_half_way_leaves_the_previous_set(ran, monkeypatch, tmp_path):
    w, tmp_path = ran, tmp_path / "out"
    files = w.save_results(tmp_path / "run.png")
    before = [p.read_bytes() for p in files]
    real, calls = os.fsync, []

    def full_on_second(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd)

    monkeypatch.setattr(os, "fsync", full_on_second)
    w.session.history.append(w.session.history[-1])  # the new set would differ from the old one
    save_as(w, monkeypatch, tmp_path / "run.png")
    assert "Could not save" in w.banner.text and "No space left on device" in w.banner.text
    assert [p.read_bytes() for p in files] == before, "a failed save changed the files that were there"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in files), "temporary files left"


def test_a_name_too_long_is_a_message_and_writes_nothing(ran, monkeypatch, tmp_path):
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    save_as(ran, monkeypatch, tmp_path / ("x" * 300 + ".png"))
    assert "Could not save" in ran.banner.text and "at most 255" in ran.banner.text
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="at most 255"):
        export.check_names(tmp_path / ("é" * 130))  # 260 bytes in UTF-8, 130 characters


def test_a_folder_that_cannot_be_written_is_a_message(ran, monkeypatch, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")  # refused even to root, unlike a chmod
    save_as(ran, monkeypatch, blocker / "run.png")
    assert "Could not save" in ran.banner.text and blocker.read_text().startswith("a file")


def test_a_good_save_writes_readable_files(ran, tmp_path):
    tmp_path = tmp_path / "out"
    png, csv_path, json_path = ran.save_results(tmp_path / "ok.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert csv_path.read_text().splitlines()[0] == "step,class,restart,loss,dif"
    assert oct(json_path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
