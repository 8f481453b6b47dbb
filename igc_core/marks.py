"""Non-digit marks drawn in torch: the negatives that hybrid training teaches every class not to draw.

A generator trained only on its own class can still draw a dot, a dash or a scribble well (Nalisnick et al.
2019), so IGC reads them as digits. Training shows the decoder such marks and asks that no class reconstructs
them closely (outlier exposure, Hendrycks et al. 2019). These are the *training* negatives: random strokes,
blobs, dots, dashes, scribbles and overlaps of two training digits, each framed like a user's drawing
(`igc_core.augment.frame`). The marks a test reports on are drawn by other code (`tests/marks_testset.py`,
shapes drawn with Pillow) and are never used here.

Shapes that *are* digits in MNIST's hand (a single upright bar is a 1, a closed oval a 0) are not drawn: the
strokes here bend or lie down, and ovals are filled or cut.
"""

from __future__ import annotations

import math

import torch

from .augment import frame

CANVAS = 48  # marks are drawn on a 48x48 sheet, then framed to 28x28 like a drawing
KINDS = ("dot", "dash", "curve", "scribble", "blob", "overlap")


def _draw_paths(points: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """Ink of polylines: points (B, K, 2) in sheet pixels (x, y), pen radius width (B,) -> (B, CANVAS, CANVAS)."""
    B, K, _ = points.shape
    pos = torch.arange(CANVAS, dtype=torch.float32) + 0.5
    gy, gx = torch.meshgrid(pos, pos, indexing="ij")
    pix = torch.stack([gx, gy], -1).view(1, 1, -1, 2)  # (1, 1, P, 2)
    a, b = points[:, :-1].unsqueeze(2), points[:, 1:].unsqueeze(2)  # (B, K-1, 1, 2)
    ab = b - a
    t = ((pix - a) * ab).sum(-1) / ab.square().sum(-1).clamp_min(1e-6)  # (B, K-1, P)
    near = a + t.clamp(0, 1).unsqueeze(-1) * ab
    dist = (pix - near).norm(dim=-1).amin(1)  # (B, P) distance to the nearest segment
    ink = (width.view(B, 1) + 0.5 - dist).clamp(0, 1)  # anti-aliased pen edge
    return ink.view(B, CANVAS, CANVAS)


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
