"""Non-digit marks drawn in torch: the negatives that hybrid training teaches every class not to draw.

A generator trained only on its own class can still draw a dot, a dash or a scribble well (Nalisnick et al.
2019), so IGC reads them as digits. Training shows the decoder such marks and asks that no class reconstructs
them closely (outlier exposure, Hendrycks et al. 2019). These are the *training* negatives: random strokes,
blobs, dots, dashes, scribbles and overlaps of two training digits, each framed like a user's drawing
(`igc_core.augment.frame`). The marks a test reports on are drawn by other code (`tests/marks_testset.py`,
shapes drawn with Pillow) and are never used here.

Shapes that *are* digits in MNIST's hand (a single upright bar is a 1, a closed oval a 0) are not drawn: the
strokes here bend or lie down, and ovals are filled or cut.

Letters are drawn by hand here, as pen strokes through a few points each (`LETTERS`), jittered, slanted and
stretched like handwriting; never typeset: the letters test set is typeset in the machine's fonts, and no
training image comes from a font. Letters that are digits in some hands (O, I, l, S, Z, B, G, g, q, b) are left
out.
"""

from __future__ import annotations

import math

import torch

from .augment import frame

CANVAS = 48  # marks are drawn on a 48x48 sheet, then framed to 28x28 like a drawing
KINDS = ("dot", "dash", "curve", "scribble", "blob", "letter", "overlap")


def _draw_paths(points: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """Ink of polylines: points (B, K, 2) in sheet pixels (x, y), pen radius width (B,) -> (B, CANVAS, CANVAS)."""
    return _draw_segments(torch.stack([points[:, :-1], points[:, 1:]], 2), width)  # consecutive points' segments


def _draw_segments(segments: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """Ink of line segments: segments (B, S, 2, 2) (from, to) in sheet pixels (x, y), pen radius width (B,)
    -> (B, CANVAS, CANVAS): each pixel's distance to the nearest segment, an anti-aliased pen edge."""
    B = len(segments)
    pos = torch.arange(CANVAS, dtype=torch.float32) + 0.5
    gy, gx = torch.meshgrid(pos, pos, indexing="ij")
    pix = torch.stack([gx, gy], -1).view(1, 1, -1, 2)  # (1, 1, P, 2)
    a, b = segments[:, :, 0].unsqueeze(2), segments[:, :, 1].unsqueeze(2)  # (B, S, 1, 2)
    ab = b - a
    t = ((pix - a) * ab).sum(-1) / ab.square().sum(-1).clamp_min(1e-6)
    dist = (pix - (a + t.clamp(0, 1).unsqueeze(-1) * ab)).norm(dim=-1).amin(1)  # (B, P)
    return (width.view(B, 1) + 0.5 - dist).clamp(0, 1).view(B, CANVAS, CANVAS)


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 6) -> list:
    """Points on an ellipse's arc, angles in degrees (0: right, 90: down)."""
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in torch.linspace(start, end, n).tolist()]


# Pen strokes of letters in a box x 0-1 (left to right), y 0-1 (top to bottom); each stroke a polyline.
LETTERS: dict[str, list[list[tuple[float, float]]]] = {
    "A": [[(0.1, 1), (0.5, 0), (0.9, 1)], [(0.27, 0.6), (0.73, 0.6)]],
    "C": [_arc(0.55, 0.5, 0.45, 0.5, -50, -310, 9)],
    "E": [[(0.85, 0), (0.15, 0), (0.15, 1), (0.85, 1)], [(0.15, 0.5), (0.7, 0.5)]],
    "F": [[(0.85, 0), (0.15, 0), (0.15, 1)], [(0.15, 0.5), (0.7, 0.5)]],
    "H": [[(0.15, 0), (0.15, 1)], [(0.85, 0), (0.85, 1)], [(0.15, 0.5), (0.85, 0.5)]],
    "K": [[(0.15, 0), (0.15, 1)], [(0.85, 0), (0.15, 0.55)], [(0.35, 0.4), (0.85, 1)]],
    "L": [[(0.2, 0), (0.2, 1), (0.85, 1)]],
    "M": [[(0.05, 1), (0.1, 0), (0.5, 0.6), (0.9, 0), (0.95, 1)]],
    "N": [[(0.15, 1), (0.15, 0), (0.85, 1), (0.85, 0)]],
    "P": [[(0.15, 1), (0.15, 0), (0.6, 0)] + _arc(0.6, 0.25, 0.3, 0.25, -90, 90, 5) + [(0.15, 0.5)]],
    "R": [[(0.15, 1), (0.15, 0), (0.6, 0)] + _arc(0.6, 0.25, 0.3, 0.25, -90, 90, 5) + [(0.15, 0.5)],
          [(0.45, 0.5), (0.9, 1)]],
    "T": [[(0.05, 0), (0.95, 0)], [(0.5, 0), (0.5, 1)]],
    "U": [[(0.15, 0), (0.15, 0.65)] + _arc(0.5, 0.65, 0.35, 0.35, 180, 0, 7) + [(0.85, 0)]],
    "V": [[(0.1, 0), (0.5, 1), (0.9, 0)]],
    "W": [[(0.0, 0), (0.25, 1), (0.5, 0.35), (0.75, 1), (1.0, 0)]],
    "X": [[(0.1, 0), (0.9, 1)], [(0.9, 0), (0.1, 1)]],
    "Y": [[(0.1, 0), (0.5, 0.5), (0.9, 0)], [(0.5, 0.5), (0.5, 1)]],
    "e": [[(0.15, 0.65), (0.85, 0.65)] + _arc(0.5, 0.65, 0.35, 0.35, 0, -300, 9)],
    "h": [[(0.15, 0), (0.15, 1)], [(0.15, 0.6)] + _arc(0.5, 0.6, 0.35, 0.25, 180, 360, 5) + [(0.85, 1)]],
    "k": [[(0.2, 0), (0.2, 1)], [(0.8, 0.35), (0.2, 0.75)], [(0.4, 0.6), (0.8, 1)]],
    "m": [[(0.05, 1), (0.05, 0.35)] + _arc(0.27, 0.5, 0.22, 0.15, 180, 360, 4) + [(0.5, 1)],
          [(0.5, 0.5)] + _arc(0.72, 0.5, 0.22, 0.15, 180, 360, 4) + [(0.95, 1)]],
    "n": [[(0.15, 1), (0.15, 0.35)], [(0.15, 0.6)] + _arc(0.5, 0.6, 0.35, 0.25, 180, 360, 5) + [(0.85, 1)]],
    "r": [[(0.25, 1), (0.25, 0.35)], [(0.25, 0.6)] + _arc(0.55, 0.6, 0.3, 0.2, 180, 300, 4)],
    "t": [[(0.45, 0.05), (0.45, 0.85)] + _arc(0.65, 0.85, 0.2, 0.15, 180, 60, 4), [(0.15, 0.35), (0.8, 0.35)]],
    "u": [[(0.15, 0.35), (0.15, 0.7)] + _arc(0.5, 0.7, 0.35, 0.3, 180, 0, 6) + [(0.85, 0.35), (0.85, 1)]],
    "w": [[(0.0, 0.35), (0.25, 1), (0.5, 0.5), (0.75, 1), (1.0, 0.35)]],
    "x": [[(0.15, 0.35), (0.85, 1)], [(0.85, 0.35), (0.15, 1)]],
    "y": [[(0.1, 0.35), (0.5, 0.8)], [(0.9, 0.35), (0.3, 1.2)]],
}
_MAX_SEGMENTS = max(sum(len(stroke) - 1 for stroke in strokes) for strokes in LETTERS.values())


def _letter_segments(letter: str) -> torch.Tensor:
    """(_MAX_SEGMENTS, 2, 2) a letter's strokes as segments, the last repeated to pad."""
    segs = [(a, b) for stroke in LETTERS[letter] for a, b in zip(stroke[:-1], stroke[1:])]
    segs += [segs[-1]] * (_MAX_SEGMENTS - len(segs))
    return torch.tensor(segs, dtype=torch.float32)


def _letters(n: int, rng: torch.Generator) -> torch.Tensor:
    """n hand-drawn letters: a random letter, each point moved a little, slanted, stretched and turned."""
    names = sorted(LETTERS)
    which = torch.randint(len(names), (n,), generator=rng).tolist()
    segs = torch.stack([_letter_segments(names[k]) for k in which])  # (n, S, 2, 2) in the unit box
    segs = segs + 0.04 * torch.randn(segs.shape, generator=rng)  # an unsteady hand
    p = segs - 0.5
    slant = 0.35 * (torch.rand(n, 1, 1, generator=rng) - 0.5) * 2
    angle = math.radians(12) * (torch.rand(n, 1, 1, generator=rng) - 0.5) * 2
    aspect = 0.7 + 0.5 * torch.rand(n, 1, 1, generator=rng)  # width / height
    x, y = p[..., 0] * aspect - slant * p[..., 1], p[..., 1]
    x, y = x * torch.cos(angle) - y * torch.sin(angle), x * torch.sin(angle) + y * torch.cos(angle)
    height = 20 + 16 * torch.rand(n, 1, 1, generator=rng)  # sheet pixels
    pts = torch.stack([x, y], -1) * height.unsqueeze(-1) + CANVAS / 2
    width = 1.0 + 2.5 * torch.rand(n, generator=rng)
    return _draw_segments(pts, width)


def _smooth_path(n: int, knots: int, spread: float, rng: torch.Generator, flat: float = 1.0) -> torch.Tensor:
    """(n, 48, 2) a smooth random path through `knots` random points (piecewise linear on a fine resampling)."""
    centre = CANVAS / 2
    pts = centre + spread * (torch.rand(n, knots, 2, generator=rng) - 0.5) * 2
    pts[..., 1] = centre + (pts[..., 1] - centre) * flat
    # Chaikin corner cutting, three rounds: a smooth curve through the knots' hull
    for _ in range(3):
        q = 0.75 * pts[:, :-1] + 0.25 * pts[:, 1:]
        r = 0.25 * pts[:, :-1] + 0.75 * pts[:, 1:]
        pts = torch.stack([q, r], 2).reshape(n, -1, 2)
    idx = torch.linspace(0, pts.shape[1] - 1, 48).round().long()
    return pts[:, idx]


def draw(kind: str, n: int, rng: torch.Generator, digits: torch.Tensor | None = None) -> torch.Tensor:
    """n marks of one kind, (n, CANVAS, CANVAS) ink in [0, 1] (not framed). `overlap` needs `digits` (N, 28, 28)
    in [-0.5, 0.5]: two of them drawn on top of each other, shifted, as no single digit looks."""
    if kind not in KINDS:
        raise ValueError(f"unknown mark {kind!r}: choose one of {', '.join(KINDS)}")
    width = 1.0 + 3.0 * torch.rand(n, generator=rng)  # pen radius 1-4 sheet pixels
    centre = CANVAS / 2
    if kind == "dot":
        r = 1.5 + 4.0 * torch.rand(n, generator=rng)
        pts = torch.full((n, 2, 2), centre)
        pts[:, 1, 0] += 0.01
        return _draw_paths(pts, r)
    if kind == "dash":  # a short straight stroke, lying down (an upright bar is a 1)
        angle = (torch.rand(n, generator=rng) - 0.5) * math.radians(60)  # within 30 degrees of horizontal
        half = 4 + 14 * torch.rand(n, generator=rng)
        d = torch.stack([torch.cos(angle), torch.sin(angle)], -1) * half.view(n, 1)
        pts = torch.stack([centre - d, centre + d], 1)
        return _draw_paths(pts, width)
    if kind == "curve":  # a wave or an arc, wider than tall
        pts = _smooth_path(n, 3 + int(torch.randint(2, (1,), generator=rng)), 16.0, rng, flat=0.3)
        return _draw_paths(pts, width)
    if kind == "scribble":  # many knots: a tangle no digit is
        pts = _smooth_path(n, 9, 16.0, rng)
        return _draw_paths(pts, width)
    if kind == "letter":
        return _letters(n, rng)
    if kind == "blob":  # a filled irregular patch
        angles = torch.linspace(0, 2 * math.pi, 13)[:-1]
        radius = 5 + 9 * torch.rand(n, 1, generator=rng) * (0.6 + 0.4 * torch.rand(n, 12, generator=rng))
        pts = centre + torch.stack([torch.cos(angles), torch.sin(angles)], -1) * radius.unsqueeze(-1)
        pts = torch.cat([pts, pts[:, :1]], 1)
        outline = _draw_paths(pts, width)
        filled = _fill(outline)
        return filled
    if digits is None or len(digits) < 2:
        raise ValueError("overlap marks need digits to overlap")
    i = torch.randint(len(digits), (n, 2), generator=rng)
    a, b = digits[i[:, 0]] + 0.5, digits[i[:, 1]] + 0.5
    # shifted by 5-9 pixels along a random direction: two digits side by side or crossed, never one thick digit
    angle = 2 * math.pi * torch.rand(n, generator=rng)
    step = 5 + 4 * torch.rand(n, generator=rng)
    shift = torch.stack([torch.sin(angle), torch.cos(angle)], 1).mul(step.view(n, 1)).round().long()
    sheet = torch.zeros(n, CANVAS, CANVAS)
    o = (CANVAS - 28) // 2
    for k in range(n):
        sheet[k, o : o + 28, o : o + 28] = a[k]
        dy, dx = int(shift[k, 0]), int(shift[k, 1])
        sheet[k, o + dy : o + dy + 28, o + dx : o + dx + 28] = torch.maximum(
            sheet[k, o + dy : o + dy + 28, o + dx : o + dx + 28], b[k])
    return sheet


def _fill(outline: torch.Tensor) -> torch.Tensor:
    """Fill closed outlines (B, H, W): a pixel is inside where ink lies on both sides along its row and column."""
    ink = outline > 0.5
    left = ink.int().cumsum(2) > 0
    right = ink.flip(2).int().cumsum(2).flip(2) > 0
    up = ink.int().cumsum(1) > 0
    down = ink.flip(1).int().cumsum(1).flip(1) > 0
    inside = left & right & up & down
    return torch.maximum(outline, inside.float())


def training_negatives(n: int, rng: torch.Generator, digits: torch.Tensor | None = None,
                       kinds: tuple[str, ...] = KINDS) -> torch.Tensor:
    """(n, 28, 28) framed marks in [-0.5, 0.5], kinds mixed evenly (overlap only when `digits` are given)."""
    kinds = tuple(k for k in kinds if k != "overlap" or digits is not None)
    which = torch.randint(len(kinds), (n,), generator=rng)
    out = torch.zeros(n, CANVAS, CANVAS)
    for j, kind in enumerate(kinds):
        sel = (which == j).nonzero().squeeze(1)
        if len(sel):
            out[sel] = draw(kind, len(sel), rng, digits)
    return frame(out) - 0.5
