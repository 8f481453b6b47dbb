"""Why this class: the input, the winner's and another class's drawings side by side, large, with the
per-pixel differences |G(c, z) - d| that add up to L_DD (IGC paper Sec. 3.1). Painted from the `View`."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from .. import style
from ..explain import POSITIVE, NEGATIVE, difference, distance_of, diverging_rgb
from ..style import INK, MUTED, class_colour
from ..view import View, format_pair
from ..widgets import PAINT

DISTANCE_WORDS = {"mae": "mean |G−d|", "mse": "mean (G−d)²"}


def gray_image(a: np.ndarray) -> QImage:
    """(H, W) in [-0.5, 0.5] -> an 8-bit grey QImage (white ink on black, as the model sees it)."""
    pixels = np.ascontiguousarray((np.clip(a.astype(np.float32) + 0.5, 0, 1) * 255).round().astype(np.uint8))
    h, w = pixels.shape
    return QImage(pixels.data, w, h, w, QImage.Format.Format_Grayscale8).copy()


def rgb_image(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class WhyView(QWidget):
    """Input | winner | compared class, and below the two classes their difference images with the distance."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(300, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setToolTip(
            "The input, and what the winning class and another class draw for it at the step shown. Below each\n"
            "drawing, the per-pixel difference G(c, z) − d: red where the generator draws ink the input does\n"
            "not have, blue where the input has ink the generator does not draw. Its mean size is L_DD, the\n"
            "distance that decides (IGC paper Sec. 3.1). Click a row of the grid, a bar or a path on the latent\n"
            "map to compare another class with the winner."
        )
        self.title = "Run a search to see why the winner wins"
        self.cells: list[tuple[str, QImage | None, str, str | None]] = []  # (caption, image, note, colour)
        self.diffs: list[np.ndarray] = []  # the signed difference images shown (tests)
        self.caption_lines: list[str] = []

    def render(self, v: View) -> None:  # noqa: A003
        self.cells, self.diffs = [], []
        if not v.has_run or v.grid is None or v.leader is None or v.run is None:
            self.title = ("Why this class: run a search first (Space); then the winner, another class and their "
                          "differences from the input appear here.")
            self.update()
            return
        target = v.run.searched
        dif = v.run.config.dif
        where = f"step {v.step}" + (" (the end)" if v.final else "")
        other = v.compare
        picked = other is not None and other == v.selected
        self.title = (f"Why {v.leader} and not {other}? At {where}" if other is not None else f"Why {v.leader}? At {where}")
        self.cells.append(("the input d" + (" (binarised)" if v.run.config.binarize else ""), gray_image(target), "", None))
        for c, role in ((v.leader, "closest"), (other, "your pick" if picked else "runner-up")):
            if c is None:
                continue
            r = int(v.best_restart[c]) if v.best_restart is not None else 0
            diff = difference(v.grid, target, c, r)
            self.diffs.append(diff)
            score = float(v.distances[c])
            measured = distance_of(diff, dif)
            words = DISTANCE_WORDS.get(dif)
            note = f"{v.score_name} {format_pair(score, score)[0]}"
            if words and measured is not None:
                note = f"{words} {measured:.4f}\n= {v.score_name} of {c}"
            restart = f", restart {r}" if v.grid.shape[1] > 1 else ""
            self.cells.append((f"G({c}, z): {role}{restart}", gray_image(v.grid[c, r]), "", class_colour(c)))
            self.cells.append(("", rgb_image(diverging_rgb(diff)), note, class_colour(c)))
        self.update()

    def paintEvent(self, event) -> None:
        started = time.perf_counter()
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("white"))
        bold, small = style.font(13, True), style.font(11)
        bfm, sfm = QFontMetrics(bold), QFontMetrics(small)
        p.setFont(bold)
        p.setPen(QColor(INK))
        p.drawText(QRectF(8, 4, self.width() - 16, bfm.height() * 2.2), Qt.TextFlag.TextWordWrap, self.title)
        if not self.cells:
            p.end()
            return
        top = 8 + bfm.height() + 6
        gap = style.px(10)
        cap1, cap2 = sfm.height() + 6, 2 * sfm.height() + 6  # one caption line under a drawing, two under a difference
        side = min((self.width() - 16 - 2 * gap) / 3, (self.height() - top - cap1 - cap2 - 4) / 2)
        side = max(side, 40)
        x0 = (self.width() - (3 * side + 2 * gap)) / 2
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)

        def put(col: int, row: int, image: QImage, text: str, colour: str | None) -> None:
            x, y = x0 + col * (side + gap), top + row * (side + cap1)
            rect = QRectF(x, y, side, side)
            p.drawImage(rect, image)
            p.setPen(QPen(QColor(colour or MUTED), 3 if colour else 1))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(rect.adjusted(-1.5, -1.5, 1.5, 1.5))
            p.setFont(small)
            p.setPen(QColor(INK))
            box = QRectF(x - gap / 2, y + side + 3, side + gap, cap2 if row else cap1)
            lines = [sfm.elidedText(t, Qt.TextElideMode.ElideRight, int(box.width())) for t in text.split("\n")]
            p.drawText(box, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, "\n".join(lines))

        caption, image, _, _ = self.cells[0]
        put(0, 0, image, caption, None)
        for k in range((len(self.cells) - 1) // 2):
            caption, image, _, colour = self.cells[1 + 2 * k]
            put(1 + k, 0, image, caption, colour)
            _, diff_image, note, _ = self.cells[2 + 2 * k]
            put(1 + k, 1, diff_image, note, colour)
        self._legend(p, QRectF(x0, top + side + cap1, side, side), small)
        p.end()
        PAINT.add(time.perf_counter() - started)

    def _legend(self, p: QPainter, rect: QRectF, font) -> None:
        """The colour key of the difference images: a bar from blue through white to red, and what each means."""
        bar = QRectF(rect.left(), rect.top() + 4, max(14.0, rect.width() * 0.12), rect.height() - 8)
        steps = 64
        for i in range(steps):
            t = 1 - 2 * (i + 0.5) / steps  # +1 at the top (red) ... -1 at the bottom (blue)
            rgb = diverging_rgb(np.array([[t]], dtype=np.float32))[0, 0]
            p.fillRect(QRectF(bar.left(), bar.top() + i * bar.height() / steps, bar.width(), bar.height() / steps + 1),
                       QColor(int(rgb[0]), int(rgb[1]), int(rgb[2])))
        p.setPen(QColor(MUTED))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRect(bar)
        p.setFont(font)
        text = QRectF(bar.right() + 6, bar.top(), rect.right() - bar.right() - 6, bar.height())
        red, blue = QColor(*[int(v) for v in POSITIVE]), QColor(*[int(v) for v in NEGATIVE])
        third = text.height() / 3
        for k, (colour, words) in enumerate(((red, "red: G draws ink d lacks"), (QColor(INK), "white: the same"),
                                             (blue, "blue: d has ink G misses"))):
            p.setPen(colour)
            p.drawText(QRectF(text.left(), text.top() + k * third, text.width(), third),
                       Qt.TextFlag.TextWordWrap | Qt.AlignmentFlag.AlignVCenter, words)
