"""Why this class: the input, the winner's and another class's drawings side by side, large, with the
per-pixel differences G(c, z) - d that add up to L_DD (IGC paper Sec. 3.1; a * G + b where the search fits a
contrast and brightness). Painted from the `View`."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFontMetrics, QImage, QPainter, QPen
from PySide6.QtWidgets import QWidget

from .. import style
from ..model.explain import POSITIVE, NEGATIVE, compared_name, difference, distance_formula, distance_of, diverging_rgb
from ..model.view import View, format_pair
from ..style import INK, MUTED, class_colour
from ..widgets import PAINT, gray_image, paints_itself, rgb_image

SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
NOTE_LINES = 3  # under a difference image: "mean of", the formula, "= value" (a projector's cells are narrow)


class WhyView(QWidget):
    """Input | winner | compared class, and below the two classes their difference images with the distance."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        paints_itself(self, 300, 150)
        self.setToolTip(
            "The input, and what the winning class and another class draw for it at the step shown. Below each\n"
            "drawing, the per-pixel difference G(c, z) − d: red where the generator draws ink the input does\n"
            "not have, blue where the input has ink the generator does not draw. Its mean size (MAE) or mean\n"
            "square (MSE) is L_DD, the distance that decides (IGC paper Sec. 3.1). With the intensity fit (the\n"
            "default search) the drawing is aG + b: a contrast a and brightness b fitted to the input, as the\n"
            "search compared it. Click a row of the grid, a bar or a path on the latent map to compare another\n"
            "class with the winner."
        )
        self.title = "Run a search to see why the winner wins"
        self.cells: list[tuple[str, QImage | None, str, str | None]] = []  # (caption, image, note, colour)
        self.diffs: list[np.ndarray] = []  # the signed difference images shown (tests)
        self.elided: list[str] = []  # captions shortened at the last paint (tests: none on a projector)

    def render(self, v: View) -> None:
        self.cells, self.diffs = [], []
        if not v.has_run or v.grid is None or v.leader is None or v.run is None:
            self.title = ("Why this class: run a search first (Space); then the winner, another class and their "
                          "differences from the input appear here.")
            self.update()
            return
        target = v.run.searched
        dif, intensity = v.run.config.dif, v.run.config.intensity
        where = f"step {v.step}" + (" (the end)" if v.final else "")
        other = v.compare
        picked = other is not None and other == v.selected
        self.title = (f"Why {v.leader} and not {other}? At {where}" if other is not None else f"Why {v.leader}? At {where}")
        self.cells.append(("input d" + (" (binarised)" if v.run.config.binarize else ""), gray_image(target), "", None))
        for c, role in ((v.leader, "closest"), (other, "your pick" if picked else "runner-up")):
            if c is None:
                continue
            r = int(v.best_restart[c]) if v.best_restart is not None else 0
            diff = difference(v.grid, target, c, r)
            self.diffs.append(diff)
            score = float(v.distances[c])
            measured = distance_of(diff, dif)
            formula = distance_formula(dif, intensity)
            note = f"{v.score_name} {format_pair(score, score)[0]}"
            if formula and measured is not None:
                note = f"mean of\n{formula}\n= {measured:.4f}"
            restart = str(r).translate(SUBSCRIPTS) if v.grid.shape[1] > 1 else ""  # z₂: restart 2's latent
            self.cells.append((compared_name(c, restart, intensity), gray_image(v.grid[c, r]), "", class_colour(c)))
            self.cells.append(("", rgb_image(diverging_rgb(diff)), note, class_colour(c)))
        self.update()

    def layout_cells(self) -> tuple[bool, float, float, float]:
        """(one row?, side, x0, top): the input, two drawings and their two differences as a 3 x 2 block, or in one
        row of five when the widget is wide and low (a projector), whichever gives larger pictures."""
        bfm, sfm = QFontMetrics(style.font(13, True)), QFontMetrics(style.font(11))
        top = 8 + bfm.height() + 6
        gap = style.px(10)
        cap1, cap2 = sfm.height() + 6, NOTE_LINES * sfm.height() + 6
        legend = sfm.height() + 8
        free_w, free_h = self.width() - 16, self.height() - top - legend - 4
        block = min((free_w - 2 * gap) / 3, (free_h - cap1 - cap2) / 2)
        row = min((free_w - 4 * gap) / 5, free_h - cap2)
        one_row = row > block
        side = max(row if one_row else block, 40)
        n = 5 if one_row else 3
        x0 = (self.width() - (n * side + (n - 1) * gap)) / 2
        return one_row, side, x0, top

    def paintEvent(self, event) -> None:
        started = time.perf_counter()
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("white"))
        bold, small = style.font(13, True), style.font(11)
        bfm, sfm = QFontMetrics(bold), QFontMetrics(small)
        p.setFont(bold)
        p.setPen(QColor(INK))
        p.drawText(QRectF(8, 4, self.width() - 16, bfm.height() * 2.2), Qt.TextFlag.TextWordWrap, self.title)
        self.elided = []
        if not self.cells:
            p.end()
            return
        one_row, side, x0, top = self.layout_cells()
        gap = style.px(10)
        cap1, cap2 = sfm.height() + 6, NOTE_LINES * sfm.height() + 6
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
            box = QRectF(x - gap / 2, y + side + 3, side + gap, cap2)
            lines = [sfm.elidedText(t, Qt.TextElideMode.ElideRight, int(box.width())) for t in text.split("\n")]
            self.elided += [t for t, shown in zip(text.split("\n"), lines) if t != shown]
            p.drawText(box, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, "\n".join(lines))

        caption, image, _, _ = self.cells[0]
        put(0, 0, image, caption, None)
        pairs = (len(self.cells) - 1) // 2
        for k in range(pairs):
            caption, image, _, colour = self.cells[1 + 2 * k]
            _, diff_image, note, _ = self.cells[2 + 2 * k]
            if one_row:  # input | G(winner) | G(other) | G - d (winner) | G - d (other)
                put(1 + k, 0, image, caption, colour)
                put(1 + pairs + k, 0, diff_image, note, colour)
            else:  # the drawings above, their differences below
                put(1 + k, 0, image, caption, colour)
                put(1 + k, 1, diff_image, note, colour)
        bottom = top + side + cap2 if one_row else top + 2 * side + cap1 + cap2
        self._legend(p, QRectF(8, min(bottom, self.height() - sfm.height() - 6), self.width() - 16, sfm.height() + 4), small)
        p.end()
        PAINT.add(time.perf_counter() - started)

    def _legend(self, p: QPainter, rect: QRectF, font) -> None:
        """The colour key of the difference images, in one line: a blue-white-red bar and what the ends mean."""
        fm = QFontMetrics(font)
        red, blue = QColor(*[int(v) for v in POSITIVE]), QColor(*[int(v) for v in NEGATIVE])
        parts = ((blue, "blue: d has ink G misses"), (None, ""), (red, "red: G draws ink d lacks"))
        bar_w = style.px(60)
        words = fm.horizontalAdvance(parts[0][1]) + fm.horizontalAdvance(parts[2][1]) + bar_w + 24
        if words > rect.width():  # too narrow for the words: the colours only
            parts = ((blue, "d has ink"), (None, ""), (red, "G adds ink"))
            words = fm.horizontalAdvance(parts[0][1]) + fm.horizontalAdvance(parts[2][1]) + bar_w + 24
        x = rect.left() + max(0.0, (rect.width() - words) / 2)
        p.setFont(font)
        for colour, text in parts:
            if colour is None:  # the bar, from -1 (blue) through 0 (white) to +1 (red)
                steps = 32
                for i in range(steps):
                    t = -1 + 2 * (i + 0.5) / steps
                    rgb = diverging_rgb(np.array([[t]], dtype=np.float32))[0, 0]
                    p.fillRect(QRectF(x + 12 + i * bar_w / steps, rect.top() + 3, bar_w / steps + 1, rect.height() - 6),
                               QColor(int(rgb[0]), int(rgb[1]), int(rgb[2])))
                p.setPen(QColor(MUTED))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRect(QRectF(x + 12, rect.top() + 3, bar_w, rect.height() - 6))
                x += bar_w + 24
                continue
            p.setPen(colour)
            width = fm.horizontalAdvance(text)
            p.drawText(QRectF(x, rect.top(), width + 2, rect.height()), Qt.AlignmentFlag.AlignVCenter, text)
            x += width
