"""Saving a run: one figure (input, verdict, grid, curves) as PNG, every recorded step as CSV, the run as JSON.

Nothing here is a widget: the figure is painted from the session's `View` onto an image of a fixed size,
so it looks the same whatever the window's size, and the files are written by plain Python.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from PySide6.QtCore import QBuffer, QIODevice, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPen

from .curves import CurveStyle, draw_curves
from .model.history import History
from .model.view import View
from .style import INK, MUTED, VERDICT_MARKS, VERDICT_TINTS, class_colour
from .widgets import mosaic

FIGURE_SIZE = (1600, 900)


def _file_mode() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _file_mode()
MAX_NAME_BYTES = 255  # the longest file name most file systems take (ext4, APFS, NTFS)


def paths_for(base: str | Path) -> tuple[Path, Path, Path]:
    """The three files a save writes: <base>.png, <base>-losses.csv, <base>-settings.json."""
    base = Path(base)
    if base.suffix.lower() in (".png", ".csv", ".json"):
        base = base.with_suffix("")
    return base.with_suffix(".png"), Path(f"{base}-losses.csv"), Path(f"{base}-settings.json")


def check_names(base: str | Path) -> tuple[Path, Path, Path]:
    """`paths_for`, or ValueError when a name is too long for the file system (before anything is written)."""
    files = paths_for(base)
    for path in files:
        if len(os.fsencode(path.name)) > MAX_NAME_BYTES:
            raise ValueError(f"the file name {path.name[:40]}… is {len(os.fsencode(path.name))} bytes long; "
                             f"file names can have at most {MAX_NAME_BYTES}: choose a shorter one")
    return files


def existing(base: str | Path) -> list[Path]:
    """Which of the files a save would write exist already (the window asks before overwriting them)."""
    out = []
    for p in paths_for(base):
        try:
            if p.exists():
                out.append(p)
        except OSError:  # a name the file system refuses cannot exist: the save says why
            pass
    return out


def save_run(base: str | Path, view: View, history: History, doc: dict, model_name: str = "") -> list[Path]:
    """Write the figure, the CSV and the JSON, all or none: each is written to a temporary name beside it
    and renamed only when all three are written, so a failure half-way (a full disk) leaves the files that
    were there before, never a mismatched set. OSError (or ValueError) when they cannot be written."""
    if not view.has_run:
        raise ValueError("there is nothing to save yet: run a search first")
    files = check_names(base)
    contents = [png_bytes(render_figure(view, model_name or doc.get("model", ""))),
                csv_text(history).encode("utf-8"), (json.dumps(doc, indent=2) + "\n").encode("utf-8")]
    files[0].parent.mkdir(parents=True, exist_ok=True)
    temporary: list[Path] = []
    try:
        for path, data in zip(files, contents):
            fd, tmp = tempfile.mkstemp(prefix=".igc-save-", suffix=".tmp", dir=path.parent)
            temporary.append(Path(tmp))
            if os.chmod in os.supports_fd:  # as a plain open() would have made it (mkstemp's is owner-only)
                os.chmod(fd, _FILE_MODE)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        for tmp, path in zip(temporary, files):
            os.replace(tmp, path)
    finally:
        for tmp in temporary:
            tmp.unlink(missing_ok=True)
    return list(files)


def png_bytes(image: QImage) -> bytes:
    """An image as PNG file contents (OSError when Qt cannot encode it)."""
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise OSError("the figure could not be encoded as PNG")
    return bytes(buffer.data())


def csv_text(history: History) -> str:
    """Every recorded step: step, class, restart, loss, dif."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["step", "class", "restart", "loss", "dif"])
    for frame in history:
        C, R = frame.losses.shape
        for c in range(C):
            for r in range(R):
                w.writerow([frame.step, c, r, f"{frame.losses[c, r]:.6g}", f"{frame.difs[c, r]:.6g}"])
    return out.getvalue()


def run_document(view: View, result, seconds: float | None, model: str, model_kind: str | None) -> dict:
    """The run as JSON: settings, input, threshold and where it came from, the verdict, the result."""
    run = view.run
    doc = {
        "search": run.config.to_dict() if run else None,
        "model": model,
        "model_kind": model_kind,
        "input": run.name if run else None,
        "true_label": run.true_label if run else None,
        "noise_sigma": run.sigma if run else None,
        "ooc_threshold": view.threshold.value,
        "ooc_threshold_source": view.threshold.source,
        "ooc_threshold_note": view.threshold.note,
        "shown_step": view.step,
        "verdict": {"kind": view.verdict.kind, "label": view.verdict.big, "headline": view.verdict.headline,
                    "detail": view.verdict.detail, "margin": view.margin, "ooc": view.ooc},
        "recorded_steps": view.frames,
    }
    if result is not None:
        doc["result"] = {
            "label": int(result.labels[0]), "ooc": float(result.ooc[0]),
            "distances": [float(d) for d in result.distances[0]],
            "best_restart": [int(r) for r in result.best_restart[0]],
            "diverged": bool(result.diverged[0]), "steps_done": int(result.steps_done),
            "stopped": bool(result.stopped), "seconds": seconds,
            "precision": result.precision, "precision_reason": result.precision_reason,
        }
    return doc


# ------------------------------------------------------------------------------------------ the figure


def _font(px: float, bold: bool = False) -> QFont:
    f = QFont()
    f.setPixelSize(int(px))
    f.setBold(bold)
    return f


def render_figure(view: View, model: str = "", size: tuple[int, int] = FIGURE_SIZE) -> QImage:
    """The run at the shown step as one picture: input, verdict, reconstruction grid, curves."""
    W, H = size
    image = QImage(W, H, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    final = view.verdict.kind not in ("provisional", "none")
    p.fillRect(QRectF(0, 0, W, 150), QColor(VERDICT_TINTS.get(view.verdict.kind, "white") if final else "white"))
    # the input as the model saw it
    if view.run is not None:
        x = np.ascontiguousarray((np.clip(view.run.image + 0.5, 0, 1) * 255).round().astype(np.uint8))
        img = QImage(x.data, x.shape[1], x.shape[0], x.shape[1], QImage.Format.Format_Grayscale8).copy()
        p.drawImage(QRectF(30, 190, 300, 300), img)
        p.setPen(QColor(INK))
        p.setFont(_font(20))
        p.drawText(QRectF(30, 500, 300, 60), Qt.AlignmentFlag.AlignHCenter | Qt.TextFlag.TextWordWrap,
                   f"input: {view.run.name}" + (f"\n(noise σ {view.run.sigma:.2f})" if view.run.sigma else ""))
    # the verdict
    p.setPen(QColor(INK if final else MUTED))
    p.setFont(_font(110, True))
    p.drawText(QRectF(20, 5, 220, 140), Qt.AlignmentFlag.AlignCenter, view.verdict.big)
    mark = VERDICT_MARKS.get(view.verdict.kind, "")
    p.setFont(_font(40, True))
    p.drawText(QRectF(250, 18, W - 270, 56), Qt.AlignmentFlag.AlignVCenter, f"{mark} {view.verdict.headline}".strip())
    p.setFont(_font(22))
    p.drawText(QRectF(250, 80, W - 270, 34), Qt.AlignmentFlag.AlignVCenter, view.verdict.detail)
    p.setPen(QColor(MUTED))
    p.setFont(_font(17))
    t = view.threshold
    p.drawText(QRectF(250, 114, W - 270, 28), Qt.AlignmentFlag.AlignVCenter,
               f"threshold {view.shown_threshold} ({t.note}) · step {view.step} of {view.steps} · model {model}")
    # the grid, as wide as its cells need (one restart: a narrow column), and the curves in all the room left
    grid_right = 370.0
    if view.grid is not None:
        grid_right = _draw_grid(p, view, QRectF(370, 190, 0.42 * W, H - 230))
    left = max(grid_right + 60, 0.45 * W) if view.grid is not None and view.grid.shape[1] > 4 else grid_right + 60
    _draw_curves(p, view, QRectF(left, 190, W - 30 - left, H - 250))
    if view.run is not None:
        c = view.run.config
        p.setPen(QColor(MUTED))
        p.setFont(_font(16))
        p.drawText(QRectF(30, H - 34, W - 60, 26), Qt.AlignmentFlag.AlignLeft,
                   f"search: {c.steps} steps, lr {c.lr:g}, λ_LR {c.lambda_lr:g}, {c.restarts} restart(s), "
                   f"L_DD {c.dif}, precision {view.precision or c.precision}, seed {c.seed}")
    p.end()
    return image


def _draw_grid(p: QPainter, view: View, box: QRectF) -> float:
    """Paint the grid at the left of `box` with cells as large as its height allows; returns where it ends."""
    grid = view.grid
    C, R = grid.shape[:2]
    cell = min((box.height() - 30) / C, (box.width() - 40) / R) - 4
    pitch = cell + 4
    m = mosaic(grid)
    h, w = m.shape
    img = QImage(m.data, w, h, w, QImage.Format.Format_Grayscale8).copy()
    Hc, Wc = grid.shape[2], grid.shape[3]
    p.setFont(_font(18, True))
    for c in range(C):
        y = box.top() + 30 + c * pitch
        p.setPen(QColor(INK if c == view.leader else class_colour(c)))
        p.drawText(QRectF(box.left(), y, 30, cell), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, str(c))
        for r in range(R):
            p.drawImage(QRectF(box.left() + 40 + r * pitch, y, cell, cell), img, QRectF(r * (Wc + 1), c * (Hc + 1), Wc, Hc))
    right = box.left() + 40 + R * pitch
    p.setPen(QColor(INK))
    p.setFont(_font(18))
    title = "reconstructions (class × restart)" if R > 3 else "reconstructions"
    p.drawText(QRectF(box.left(), box.top(), max(right - box.left(), 200), 26), Qt.AlignmentFlag.AlignLeft, title)
    if view.best_restart is not None and R > 1:  # each class's best restart, outlined in its colour
        p.setBrush(Qt.BrushStyle.NoBrush)
        for c in range(C):
            p.setPen(QPen(QColor(class_colour(c)), 3))
            r = int(view.best_restart[c])
            p.drawRect(QRectF(box.left() + 40 + r * pitch - 2, box.top() + 30 + c * pitch - 2, cell + 4, cell + 4))
    if view.leader is not None:
        p.setPen(QPen(QColor(INK), 4))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(QRectF(box.left() + 36, box.top() + 26 + view.leader * pitch, R * pitch + 4, cell + 8))
    return right


def _draw_curves(p: QPainter, view: View, box: QRectF) -> None:
    name = f"{view.curve_name} per class" + ("" if view.curve_decides else " (whole loss; L_DD decides)")
    draw_curves(p, box, view.curve_steps, view.curve_values, leader=view.leader, cursor=view.step,
                x_max=view.steps, y_label=name, style=CurveStyle(tick_px=16, label_px=20, line=2.5, leader_line=5.5, end_labels=True))
