"""Training-time augmentation: digits drawn the way users draw them, framed the way a user's file is framed.

MNIST's writers used similar pens on similar paper; the app's users draw with a mouse (thin, even strokes),
photograph handwriting, or type digits in fonts. A generator trained on MNIST alone cannot draw those, so IGC
reads a thin-stroke 7 as a 4. `augment` redraws a batch of training digits with a random stroke thickness
(dilation or erosion at twice the resolution), slant, rotation, aspect ratio, elastic distortion, blur and ink
contrast, then frames each the way `igc_core.framing.frame_digit` frames a user's image (ink box fitted into 20x20,
centre of mass at the centre), so the generator learns the distribution a user's framed digit comes from.

Everything is batched torch, and every random draw comes from the `torch.Generator` passed in.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch.nn import functional as F

SIZE = 28
BOX = 20  # the ink's box after framing, as in igc_core.framing.frame_digit
INK = 0.05  # pixels above this count as ink when framing (frame_digit's threshold)


@dataclass(frozen=True)
class AugmentConfig:
    """How strongly to redraw training digits; each range is sampled uniformly per image."""

    probability: float = 0.7  # share of images redrawn; the rest are left as MNIST drew them
    thickness: float = 1.0  # stroke radius change in pixels, in [-thickness/2, thickness] (erosion thins less)
    slant: float = 0.35  # horizontal shear, in [-slant, slant]
    rotate: float = 12.0  # degrees, in [-rotate, rotate]
    aspect: float = 0.25  # log aspect ratio change, in [-aspect, aspect]
    elastic: float = 1.5  # displacement of a smooth random field, pixels
    blur: float = 0.5  # Gaussian blur sigma in [0, blur] pixels (small digits scaled up look blurred)
    gamma: float = 0.5  # ink contrast: ink ** exp(u), u in [-gamma, gamma]

    def __post_init__(self) -> None:
        values = asdict(self)
        bad = [k for k, v in values.items() if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0)]
        if bad:
            raise ValueError(f"augmentation settings must be finite and not negative: {', '.join(bad)}")
        if self.probability > 1:
            raise ValueError(f"augmentation probability must be at most 1 (got {self.probability})")

    def to_dict(self) -> dict:
        return asdict(self)


def _uniform(n: int, low: float, high: float, rng: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=rng)


def _morphology(x: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Per-image dilation (radius > 0) or erosion (< 0) of (B, 1, H, W) ink, in pixels, fractional radii blended."""
    out = x.clone()
    steps = int(math.ceil(float(radius.abs().max()))) if len(radius) else 0
    grown, shrunk = x, x
    for k in range(1, steps + 1):
        # one step of a 3x3 disk-like element: max over the plus-shaped neighbourhood
        grown_next = _plus_max(grown)
        shrunk_next = -_plus_max(-shrunk)
        for sign, prev, nxt in ((1.0, grown, grown_next), (-1.0, shrunk, shrunk_next)):
            r = radius * sign
            w = (r - (k - 1)).clamp(0, 1).view(-1, 1, 1, 1)  # how much of step k applies to each image
            active = (r > k - 1).view(-1, 1, 1, 1)
            out = torch.where(active, (1 - w) * prev + w * nxt, out)
        grown, shrunk = grown_next, shrunk_next
    return out


def _plus_max(x: torch.Tensor) -> torch.Tensor:
    p = F.pad(x, (1, 1, 1, 1), value=float(x.min()) if x.numel() else 0.0)
    return torch.stack([p[..., 1:-1, 1:-1], p[..., :-2, 1:-1], p[..., 2:, 1:-1], p[..., 1:-1, :-2], p[..., 1:-1, 2:]]).amax(0)


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Per-image Gaussian blur of (B, 1, H, W); sigma (B,) in pixels (0: unchanged)."""
    radius = 3
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype)
    s = sigma.clamp_min(1e-3).view(-1, 1)
    kernel = torch.exp(-0.5 * (offsets / s) ** 2)  # (B, 7)
    kernel = kernel / kernel.sum(1, keepdim=True)
    B, _, H, W = x.shape
    flat = x.view(1, B, H, W)
    h = F.conv2d(F.pad(flat, (radius, radius, 0, 0)), kernel.view(B, 1, 1, -1), groups=B)
    v = F.conv2d(F.pad(h, (0, 0, radius, radius)), kernel.view(B, 1, -1, 1), groups=B)
    return v.view(B, 1, H, W)


def frame(x: torch.Tensor) -> torch.Tensor:
    """Frame a batch of (B, H, W) ink images in [0, 1] like `igc_core.framing.frame_digit`, in torch.

    The same geometry as frame_digit: the ink's bounding box resized to fit 20x20 (aspect kept, sizes rounded),
    placed in the middle of 28x28, then moved by whole pixels to put the centre of mass on pixel 14, kept inside
    the frame. Resampling is bilinear (supersampled when shrinking) where frame_digit uses Lanczos.
    """
    B, H, W = x.shape
    mask = x > INK
    any_rows, any_cols = mask.any(2), mask.any(1)  # (B, H), (B, W)
    idx_r, idx_c = torch.arange(H, dtype=x.dtype), torch.arange(W, dtype=x.dtype)
    big = float(max(H, W) + 1)
    top = torch.where(any_rows, idx_r, big).amin(1)
    left = torch.where(any_cols, idx_c, big).amin(1)
    height = (torch.where(any_rows, idx_r, -1.0).amax(1) - top + 1).clamp_min(1)
    width = (torch.where(any_cols, idx_c, -1.0).amax(1) - left + 1).clamp_min(1)
    empty = ~mask.flatten(1).any(1)
    longest = torch.maximum(height, width)
    new_h = torch.round(height * BOX / longest).clamp_min(1)
    new_w = torch.round(width * BOX / longest).clamp_min(1)
    sy, sx = new_h / height, new_w / width  # output pixels per input pixel
    top0, left0 = torch.floor((SIZE - new_h) / 2), torch.floor((SIZE - new_w) / 2)
    mass = x.sum((1, 2)).clamp_min(1e-6)
    # positions are pixel-edge coordinates: pixel p covers [p, p + 1]
    cy = (x.sum(2) * idx_r).sum(1) / mass + 0.5
    cx = (x.sum(1) * idx_c).sum(1) / mass + 0.5
    # whole-pixel shift putting the centre of mass on pixel 14 (as frame_digit and MNIST), ink kept inside
    dy = torch.round(SIZE / 2 - (top0 + (cy - top) * sy - 0.5)).clamp(-top0, SIZE - top0 - new_h)
    dx = torch.round(SIZE / 2 - (left0 + (cx - left) * sx - 0.5)).clamp(-left0, SIZE - left0 - new_w)
    ss = int(min(4, math.ceil(0.75 / float(torch.minimum(sy, sx).min())))) if B else 1  # supersampling
    sub = (torch.arange(SIZE * ss, dtype=x.dtype) + 0.5) / ss  # output positions of the samples
    src_y = top.view(B, 1) + (sub.view(1, -1) - (top0 + dy).view(B, 1)) / sy.view(B, 1)  # (B, 28 ss) input
    src_x = left.view(B, 1) + (sub.view(1, -1) - (left0 + dx).view(B, 1)) / sx.view(B, 1)
    gy, gx = 2 * src_y / H - 1, 2 * src_x / W - 1  # grid_sample's units (align_corners=False)
    n = SIZE * ss
    grid = torch.stack([gx.view(B, 1, n).expand(B, n, n), gy.view(B, n, 1).expand(B, n, n)], -1)
    out = F.grid_sample(x.unsqueeze(1), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    out = F.avg_pool2d(out, ss).squeeze(1) if ss > 1 else out.squeeze(1)
    return torch.where(empty.view(B, 1, 1), torch.zeros_like(out), out.clamp(0, 1))


def augment(images: torch.Tensor, config: AugmentConfig, rng: torch.Generator) -> torch.Tensor:
    """Redraw a share of a batch of (B, 28, 28) images in [-0.5, 0.5]; returns the same shape and range."""
    if images.ndim != 3:
        raise ValueError(f"expected images of shape (B, H, W), got {tuple(images.shape)}")
    B, H, W = images.shape
    c = config
    chosen = torch.rand(B, generator=rng) < c.probability
    # draw every parameter for every image, so a seed gives the same result whatever the batch holds
    radius = _uniform(B, -c.thickness / 2, c.thickness, rng)
    slant = _uniform(B, -c.slant, c.slant, rng)
    angle = _uniform(B, -c.rotate, c.rotate, rng) * math.pi / 180
    aspect = torch.exp(_uniform(B, -c.aspect, c.aspect, rng))
    field = torch.randn(B, 2, 4, 4, generator=rng) * c.elastic
    sigma = _uniform(B, 0.0, c.blur, rng)
    gamma = torch.exp(_uniform(B, -c.gamma, c.gamma, rng))
    if not chosen.any():
        return images.clone()
    x = images[chosen] + 0.5  # (b, H, W) ink in [0, 1]
    sel = chosen.nonzero().squeeze(1)
    b = len(sel)
    # stroke thickness, at twice the resolution so that half-pixel changes exist
    fine = F.interpolate(x.unsqueeze(1), scale_factor=2, mode="nearest")  # (b, 1, 2H, 2W)
    fine = _morphology(fine, 2 * radius[sel])
    # geometry: output pixel p looks at input A (p - centre) + centre + elastic(p), in 28-pixel units
    cos, sin = torch.cos(angle[sel]), torch.sin(angle[sel])
    sx, sy = aspect[sel].sqrt(), 1 / aspect[sel].sqrt()
    sh = slant[sel]
    # forward map: scale, then shear x by y, then rotate; invert it for sampling
    fwd = torch.zeros(b, 2, 2)
    fwd[:, 0, 0], fwd[:, 0, 1] = sx, sh * sy
    fwd[:, 1, 1] = sy
    rot = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
    inv = torch.linalg.inv(rot @ fwd)  # (b, 2, 2) output offset -> input offset, (x, y) order
    margin = 4  # sample a 36x36 field around the 28x28 one, so that nothing is cut off
    canvas = SIZE + 2 * margin
    pos = torch.arange(canvas, dtype=x.dtype) + 0.5 - margin  # output positions in 28-px units
    gy, gx = torch.meshgrid(pos - SIZE / 2, pos - SIZE / 2, indexing="ij")
    offs = torch.stack([gx, gy], -1).view(1, -1, 2)  # (1, canvas^2, 2) offsets from the centre, (x, y)
    src = offs @ inv.transpose(1, 2) + SIZE / 2  # (b, canvas^2, 2) input positions, 28-px units
    warp = F.interpolate(field[sel], size=(canvas, canvas), mode="bicubic", align_corners=True)  # (b, 2, c, c)
    src = src + warp.permute(0, 2, 3, 1).reshape(b, -1, 2)
    grid = (2 * src / SIZE - 1).view(b, canvas, canvas, 2)
    drawn = F.grid_sample(fine, grid, mode="bilinear", padding_mode="zeros", align_corners=False)  # (b, 1, 36, 36)
    drawn = _blur(drawn, sigma[sel]).squeeze(1).clamp(0, 1)
    peak = drawn.flatten(1).amax(1).clamp_min(1e-6).view(b, 1, 1)
    drawn = (drawn / peak).pow(gamma[sel].view(b, 1, 1))  # full-strength ink, then its contrast
    framed = frame(drawn)
    keep = framed.flatten(1).amax(1) > INK  # a digit erased by erosion keeps its original
    out = images.clone()
    out[sel[keep]] = framed[keep] - 0.5
    return out
