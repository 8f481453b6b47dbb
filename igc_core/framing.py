"""Framing a user's image the way MNIST was made, so that the generator sees what it was trained on.

MNIST fitted each digit's ink into a 20x20 box (keeping the aspect ratio, anti-aliased) and centred it by its
centre of mass in 28x28. A user's file can be any size and mode, dark ink on light paper or the reverse, a
clean drawing or a noisy scan. The steps:

1. `open_image`: decode without ever holding more than one full-size copy (JPEGs are decoded at a reduced
   scale, other images reduced right after decoding), refusing absurd sizes before decoding.
2. `image_to_gray`: greyscale with ink = 1, the paper's tone removed, ink stretched to full strength. A photo
   of a page is evened out first: the light divided out where it is uneven (a shadow, a gradient, a vignette:
   `even_out_light`), the lines of ruled or squared paper painted over (`remove_lines`), coloured ink read in
   the colour channel that shows it best (`ink_channel`). An evenly lit page without lines is left as it was.
3. `frame_digit`: find the digit, not every bright pixel: a light median filter where the image is noisy,
   a threshold from the image's own histogram (Otsu) grown into the fainter ink around it (hysteresis), and
   only the strokes (connected components) large enough to be part of the digit. An image that is already
   28x28, MNIST's own format, is taken as framed and left as it is.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

IMAGE_SIZE = 28
BOX_SIZE = 20  # MNIST fits the ink into a 20x20 box, then centres it by centre of mass in 28x28.
MAX_PIXELS = 50_000_000  # refuse absurdly large images before decoding them
MAX_FILE_BYTES = 256 << 20  # and files larger than any image of MAX_PIXELS a scanner or camera writes
WORK_SIZE = 1024  # larger images are reduced to this long side while loading: ample for a 20x20 box
NOISY = 0.03  # estimated noise level (on [0, 1]) above which the image is denoised before finding the ink
MIN_STROKE = 0.05  # strokes smaller than this share of the largest one are specks, not part of the digit

# Photos and scans of a page (`even_out_light`, `remove_lines`, `ink_channel`)
PHOTO_MIN_SIDE = 64  # smaller images (MNIST's 28x28, icons) are no photos of a page: only the tone is removed
LIGHT_WINDOW = 1 / 6  # the light's estimate fills in what is narrower than this share of the short side
INK_FLOOR = 0.25  # an estimate darker than this share of the way from the ink up to the paper is ink, not light
UNEVEN = 0.04  # paper this much darker than the best-lit paper (relative) is in uneven light...
UNEVEN_AREA = 0.02  # ...and over this share of the page, the light is evened out; else the image is left as it is
FLAT = 0.01  # paper changes by less than this (relative) per pixel; a blurred stroke's edge, more
SHADOW_DENOISE = 0.3  # where the light is this much below the best-lit paper, the evened-out page is median-filtered
CHANNEL_GAIN = 1.25  # a colour channel replaces the luminance where the ink stands out this much more in it
LINE_STRIPS = 8  # lines are looked for in this many strips across the page
LINE_WIDTH = 0.025  # a printed line is at most this share of the page's height thick (a pen stroke is thicker)
LINE_MIN = 0.03  # and at least this dark (gray's scale), and above the noise
LINE_FAINT = 0.6  # and at most this share of the ink's strength: ruled lines are fainter than the pen
LINE_TILT = float(np.tan(np.radians(2.0)))  # a page may lean by up to 2 degrees
LINE_COVER = 0.5  # a line is seen in at least this share of the strips (a digit may hide the rest)
LINE_ALONE = 0.85  # a single line must cross this share of the page to be taken for a printed one


class DataError(ValueError):
    """A data set or image that cannot be used, with a message for the user."""


# ------------------------------------------------------------------------------------------ decoding


def open_image(path: str | Path):
    """Open and decode an image file with bounded memory: a Pillow image whose long side is <= WORK_SIZE."""
    from PIL import Image

    from .files import FileRefused, regular_size

    try:  # a FIFO or a device would block Pillow's open, or never end
        size = regular_size(path, "image file")
    except FileRefused as exc:
        raise DataError(str(exc)) from None
    if size > MAX_FILE_BYTES:
        raise DataError(f"the file is {size:,} bytes: too large for an image (at most {MAX_FILE_BYTES:,})")
    with warnings.catch_warnings():
        # Pillow warns (then fails) above its own pixel limit; ours is lower and says so in words
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise DataError(f"the image is too large (over {MAX_PIXELS:,} pixels)") from None
    with image:
        if image.width * image.height > MAX_PIXELS:
            raise DataError(f"the image is {image.width}x{image.height}: too large (over {MAX_PIXELS:,} pixels)")
        if image.width == 0 or image.height == 0:
            raise DataError("the image has no pixels")
        if max(image.size) > WORK_SIZE and image.format == "JPEG":
            image.draft(image.mode, (WORK_SIZE, WORK_SIZE))  # decode at 1/2, 1/4 or 1/8 scale directly
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
        factor = -(-max(image.size) // WORK_SIZE)  # ceil
        if factor > 1:
            if image.mode in ("1", "P"):
                image = image.convert("RGBA" if "transparency" in image.info else "L")
            try:
                return image.reduce(factor)  # box average: cheap, and no second full-size copy
            except ValueError:  # a mode reduce() does not take
                return image.resize((max(1, image.width // factor), max(1, image.height // factor)), Image.Resampling.BOX)
        return image.copy()


def image_to_gray(image) -> np.ndarray:
    """A Pillow image of any mode -> float32 greyscale in [0, 1] with ink = 1 (dark-on-light inverted).

    An image of at least PHOTO_MIN_SIDE pixels a side may be a photo of a page: uneven light is divided out and
    printed lines are painted over (see the module's docstring); a colour image is read in the channel where
    its ink stands out most."""
    if image.width * image.height > MAX_PIXELS:
        raise DataError(f"the image is {image.width}x{image.height}: too large (over {MAX_PIXELS:,} pixels)")
    if image.width == 0 or image.height == 0:
        raise DataError("the image has no pixels")
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(image, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        gray = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
        alpha = None
    else:
        has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
        rgba = image.convert("RGBA") if has_alpha else None
        gray = np.asarray(image.convert("L"), dtype=np.float64) / 255.0
        alpha = np.asarray(rgba, dtype=np.float64)[..., 3] / 255.0 if rgba is not None else None
    if alpha is not None and alpha.min() < 1.0:
        if alpha.max() <= 0:
            raise DataError("the image is fully transparent: there is no ink to classify")
        # Transparent pixels are background. Ink is either what is opaque (strokes on a transparent sheet)
        # or, when everything is opaque, whatever differs from the background.
        opaque = alpha > 0.5
        ink_is_dark = gray[opaque].mean() < 0.5 if opaque.any() else True
        ink = (1.0 - gray) if ink_is_dark else gray
        return (ink * alpha).astype(np.float32)
    if image.mode not in ("I;16", "I;16B", "I;16L", "I", "F", "L", "LA", "1"):
        gray = ink_channel(np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0, gray)
    # Dark ink on light paper (the usual scan or drawing) is inverted; decide by the border, which is paper: it
    # lies nearer the image's light end than its dark end (the middle of 0 and 1 for a full-range image, and
    # also right for a dim photo, whose paper may be darker than 0.5).
    border = lambda a: np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])  # noqa: E731
    if np.median(border(gray)) > (gray.min() + gray.max()) / 2:
        gray = 1.0 - gray
    photo = min(gray.shape) >= PHOTO_MIN_SIDE  # MNIST's 28x28 and other tiny images are no photos of a page
    if photo:
        gray = even_out_light(gray)
    # Remove a uniform paper tone so that only ink remains, then stretch the ink to full strength.
    gray = np.clip(gray - np.median(border(gray)), 0.0, None)
    if photo:
        gray = remove_lines(gray)
    peak = gray.max()
    return (gray / peak if peak > 0 else gray).astype(np.float32)


# --------------------------------------------------------------------------------- photos and scans


def ink_channel(rgb: np.ndarray, luma: np.ndarray) -> np.ndarray:
    """The colour channel (red, green or blue) where the ink stands out most from the paper, when it stands out
    clearly more (CHANNEL_GAIN) than in the luminance `luma`; else `luma`. `rgb` is (H, W, 3) in [0, 1].

    Luminance weighs green most, so ink and paper of different hues but similar brightness (orange ink on a
    yellow note, red on green) nearly vanish in it, while one channel still tells them apart. A grey image, or
    one where luminance shows the ink as well as any channel, keeps its luminance unchanged.
    """
    sample = rgb[::2, ::2]
    if np.abs(sample - sample.mean(axis=2, keepdims=True)).mean() < 0.01:
        return luma  # grey: the channels hold the same picture

    def contrast(values: np.ndarray) -> float:  # how far the ink lies from the paper (the median), either way
        lo, paper, hi = np.quantile(values, [0.002, 0.5, 0.998])
        return max(paper - lo, hi - paper)

    best, chosen = CHANNEL_GAIN * contrast(luma[::2, ::2]), luma
    for c in range(3):
        if (k := contrast(sample[..., c])) > best:
            best, chosen = k, rgb[..., c]
    return chosen


def even_out_light(gray: np.ndarray) -> np.ndarray:
    """Divide out the paper's uneven light: `gray` (ink = high, any size) with the paper made even, or `gray`
    itself when the light is already even (a scan, a drawing), so that clean images keep their framing exactly.

    A shadow, a lighting gradient or a vignette darkens the paper over regions far wider than a pen stroke,
    and its darkened paper would otherwise pass for ink (a shadow band along one edge becomes a stroke). The
    paper's brightness is estimated at a reduced resolution (about 128 px a side, where camera noise is
    averaged away) by a morphological closing: a maximum then a minimum over a window LIGHT_WINDOW of the short
    side, which fills in every dark thing narrower than the window (strokes, lines) and follows the light
    wherever it changes more slowly. Ink wider than the window (a marker's stroke on a tight crop, a filled
    shape) survives the closing; where the estimate is as dark as the ink, it is taken from the nearest paper
    instead. The image's brightness is then divided by the estimate (light multiplies the paper's reflectance),
    which also gives the ink in a shadow back its contrast.
    """
    from PIL import Image
    from scipy import ndimage

    bright = 1.0 - gray  # the page's brightness: paper high, ink low
    height, width = bright.shape
    f = max(1, min(height, width) // 128)
    small = bright[: height - height % f, : width - width % f]
    small = small.reshape(height // f, f, width // f, f).mean(axis=(1, 3))
    small = ndimage.median_filter(small, size=3, mode="nearest")  # noise would push the maximum up
    window = max(3, round(LIGHT_WINDOW * min(small.shape)))
    light = ndimage.grey_closing(small, size=(window, window), mode="nearest")
    paper = float(np.quantile(light, 0.9))  # the best-lit paper
    darkest = float(np.quantile(small, 0.002))  # the ink
    inky = ndimage.binary_dilation(light < darkest + INK_FLOOR * (paper - darkest), iterations=2)
    if inky.all():
        return gray
    if inky.any():  # ink the closing could not fill: take the nearest paper's light there
        nearest = ndimage.distance_transform_edt(inky, return_distances=False, return_indices=True)
        light = light[tuple(nearest)]
    # The light is uneven where paper lies clearly below the best-lit paper: pixels at the estimate (paper, not
    # ink the closing filled in) and flat (not the blurred edge of a stroke too wide for the window).
    gy, gx = np.gradient(ndimage.gaussian_filter(small, 1.0))
    shaded_paper = (small >= 0.97 * light) & (np.hypot(gy, gx) < FLAT * f * paper) & (light < (1.0 - UNEVEN) * paper)
    if np.mean(shaded_paper & ~inky) < UNEVEN_AREA:
        return gray  # even light (a scan, a drawing): nothing to correct
    # smooth the closing's square steps (no more: a shadow's edge must stay as sharp as it is); back to full size
    light = ndimage.gaussian_filter(light, 1.0, mode="nearest")
    full = Image.fromarray(light.astype(np.float32), mode="F").resize((width, height), Image.Resampling.BILINEAR)
    full = np.asarray(full, dtype=np.float64)
    even = np.clip(bright / np.maximum(full, 1e-3), 0.0, 1.0)
    # the division amplifies the camera's noise where the light is low, by as much as it restores the ink's
    # contrast; a 3x3 median there takes it back out (a pen stroke is wider than 3 pixels on such a page)
    dim = full < (1.0 - SHADOW_DENOISE) * paper
    if dim.any():
        even = np.where(dim, ndimage.median_filter(even, size=3, mode="nearest"), even)
    return 1.0 - even


def remove_lines(gray: np.ndarray) -> np.ndarray:
    """Remove the lines of ruled or squared paper from `gray` (ink = high, paper = 0): a copy without them, or
    `gray` itself when there are none.

    A printed line is straight, nearly horizontal or vertical, crosses most of the page, and is thinner and
    fainter than a pen stroke (`find_lines`). Each found line is painted over with what lies just above and
    below it (left and right of a vertical one), a pixel at a time, never darker than it was: where the line
    crosses paper that is paper and the line goes; where a stroke crosses the line, the stroke continues on
    both sides and stays whole. Ink only as thick as the line and lying along it would go too: no pen stroke
    is that thin.
    """
    from scipy import ndimage

    noise = noise_level(gray)
    ink = float(ndimage.uniform_filter(gray, 3).max())  # the ink's strength (3x3: not a noise pixel's)
    found = [(axis, line) for axis in (0, 1) for line in find_lines(gray if axis == 0 else gray.T, noise)]
    faint = [(axis, line) for axis, line in found if line.darkness <= LINE_FAINT * ink]
    # one long line may be a digit's stroke on a tight crop (a 1, a 7's bar); ruled paper shows several
    lines = [(axis, line) for axis, line in faint if len(faint) >= 2 or line.coverage >= LINE_ALONE]
    if not lines:
        return gray
    out = gray.copy()
    for _ in range(2):  # twice: a grid's crossings are kept the first time (each line looks like ink across the other)
        for axis, line in lines:
            _paint_over(out if axis == 0 else out.T, line)  # .T is a view: the vertical lines are painted in place
    return out


@dataclass(frozen=True)
class Line:
    """A nearly horizontal line: its centre row at column x is `row + slope * x`."""

    row: float
    slope: float
    width: float  # in rows, as measured where it is above the noise
    darkness: float  # its ink strength (gray's scale)
    coverage: float  # the share of the page's width where it was seen


def find_lines(gray: np.ndarray, noise: float) -> list[Line]:
    """The nearly horizontal printed lines in `gray` (ink = high): the lines of ruled paper, or a grid's rows.

    The page is cut into LINE_STRIPS vertical strips; in each, every row's median darkness is a profile where a
    line crossing the strip shows as a thin peak (a stroke that crosses the strip covers too few of its columns
    to move a median, and a stroke that runs along it makes a wide peak). Peaks at most LINE_WIDTH of the
    height wide are candidates; a line is a chain of them across the strips, each within LINE_TILT of the last
    (a page rarely lies straight), seen in at least LINE_COVER of the strips.
    """
    from scipy import ndimage

    height, width = gray.shape
    strips = min(LINE_STRIPS, max(2, width // 16))
    edges = np.linspace(0, width, strips + 1).round().astype(int)
    widest = max(3, round(LINE_WIDTH * height))
    window = max(3 * widest, height // 8) | 1
    peaks: list[list[tuple[float, int, float]]] = []  # per strip: (centre row, width, darkness)
    for s in range(strips):
        profile = np.median(gray[:, edges[s] : edges[s + 1]], axis=1)
        rise = profile - ndimage.median_filter(profile, size=window, mode="reflect")  # above the paper nearby
        # a median of n noisy pixels varies by about 1.25 noise / sqrt(n)
        runs, _ = ndimage.label(rise > max(LINE_MIN, 5 * 1.25 * noise / np.sqrt(edges[s + 1] - edges[s])))
        found = []
        for (rows,) in ndimage.find_objects(runs):
            if rows.stop - rows.start <= widest:
                r = rise[rows]
                centre = rows.start + float((r * np.arange(len(r))).sum() / r.sum())
                found.append((centre, rows.stop - rows.start, float(profile[rows].max())))
        peaks.append(found)
    centres = (edges[:-1] + edges[1:]) / 2
    step = width / strips
    lines, used = [], set()
    for s in range(strips):
        for j, first in enumerate(peaks[s]):
            if (s, j) in used:
                continue
            chain, last = [(s, j)], (s, first[0])
            for t in range(s + 1, strips):
                reach = 1.5 + LINE_TILT * (t - last[0]) * step
                near = [(abs(p[0] - last[1]), k) for k, p in enumerate(peaks[t])
                        if (t, k) not in used and abs(p[0] - last[1]) <= reach]
                if near:
                    k = min(near)[1]
                    chain.append((t, k))
                    last = (t, peaks[t][k][0])
            if len(chain) < max(2, LINE_COVER * strips):
                continue
            used.update(chain)
            xs = np.array([centres[t] for t, _ in chain])
            ys = np.array([peaks[t][k][0] for t, k in chain])
            slope, row = np.polyfit(xs, ys, 1)
            lines.append(Line(float(row), float(slope), float(np.median([peaks[t][k][1] for t, k in chain])),
                              float(np.median([peaks[t][k][2] for t, k in chain])), len(chain) / strips))
    return lines


def _paint_over(gray: np.ndarray, line: Line) -> None:
    """Paint a nearly horizontal `line` over in place with what lies just above and below it (`remove_lines`)."""
    from scipy import ndimage

    height, width = gray.shape
    xs = np.arange(width)
    centre = np.rint(line.row + line.slope * xs).astype(int)
    reach = int(np.ceil(line.width / 2)) + 1  # the line's rows and a row of blur either side
    offsets = np.arange(-reach, reach + 1)[:, None]
    rows = centre[None, :] + offsets  # (band, width)
    above, below = np.clip(centre - reach - 2, 0, height - 1), np.clip(centre + reach + 2, 0, height - 1)
    above = np.where(centre - reach - 2 < 0, below, above)  # a line at the page's edge: the side that is there
    below = np.where(centre + reach + 2 >= height, above, below)
    t = (offsets + reach + 1) / (2 * reach + 2)  # from the row above (0) to the row below (1)
    fill = gray[above, xs][None, :] * (1 - t) + gray[below, xs][None, :] * t
    # a stroke crossing at a slant is found a little to the side above and below: look that far along the line
    fill = ndimage.maximum_filter1d(fill, size=2 * reach + 3, axis=1, mode="nearest")
    inside = (rows >= 0) & (rows < height)
    cols = np.broadcast_to(xs, rows.shape)
    gray[rows[inside], cols[inside]] = np.minimum(gray[rows[inside], cols[inside]], fill[inside])


# ------------------------------------------------------------------------------------ finding the ink


def noise_level(gray: np.ndarray) -> float:
    """A robust estimate of per-pixel noise: the median absolute difference of neighbouring pixels.

    Strokes change the neighbour differences only along their edges, a small share of the pixels, so the
    median sees the noise; a clean drawing (flat paper, flat ink) gives about 0.
    """
    if min(gray.shape) < 2:
        return 0.0
    d = np.concatenate([np.diff(gray, axis=0).ravel(), np.diff(gray, axis=1).ravel()])
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2))


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """The threshold that best splits `values` in [0, 1] into two classes (Otsu 1979)."""
    hist, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    p = hist.astype(np.float64) / max(hist.sum(), 1)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)
    m0 = np.cumsum(p * centres)
    total = m0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total * w0 - m0) ** 2 / (w0 * (1 - w0))
    between[~np.isfinite(between)] = 0
    return float(edges[int(np.argmax(between)) + 1])


def find_ink(gray: np.ndarray, ink_threshold: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The digit's ink: (a cleaned greyscale image, the pixels that belong to the digit, the box's pixels).

    Noise is not ink: a noisy image is median-filtered first, the faint-ink threshold rises with the noise
    that is left, and only pixels connected to strong ink (above the image's Otsu threshold) count, in
    strokes at least MIN_STROKE of the largest stroke's size. The ink box is measured on all of the digit's
    pixels in a clean image (as MNIST did), on its strong ink in a noisy one (noise clinging to a stroke's
    edge would otherwise widen the box).
    """
    from scipy import ndimage

    clean = gray
    noise = noise_level(gray)
    noisy = noise > NOISY
    if noisy:
        clean = ndimage.median_filter(gray, size=3 if noise < 0.12 else 5, mode="nearest")
    # faint ink must stand out from the noise (a median filter's output has flat patches, so its own
    # neighbour differences say little: the threshold follows the noise measured before filtering)
    weak = clean > max(ink_threshold, 1.5 * noise if noisy else 0.0)
    if not weak.any():
        return clean, weak, weak
    strong = clean > max(otsu_threshold(clean[weak]), ink_threshold)
    labels, count = ndimage.label(weak, structure=np.ones((3, 3), bool))  # 8-connected strokes
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    has_strong = np.zeros(count + 1, bool)
    has_strong[np.unique(labels[strong])] = True
    has_strong[0] = False
    sizes = np.where(has_strong, sizes, 0)
    keep = sizes >= MIN_STROKE * sizes.max()
    keep[0] = False
    mask = keep[labels]
    return clean, mask, (mask & strong) if noisy else mask


# ------------------------------------------------------------------------------------------ framing


def frame_digit(gray: np.ndarray, ink_threshold: float = 0.05) -> np.ndarray:
    """Frame a greyscale image (float, 1 = ink, 0 = paper, any size) the way MNIST was made.

    A 28x28 image is MNIST's own format and is returned as it is. Otherwise the digit's ink (`find_ink`) is
    cropped, stretched to full strength, fitted into a 20x20 box keeping its aspect ratio (anti-aliased), and
    placed in 28x28 with its centre of mass at the centre. Returns float32 (28, 28) in [0, 1].
    """
    return _frame(gray, (BOX_SIZE, BOX_SIZE), (IMAGE_SIZE, IMAGE_SIZE), ink_threshold)


# A two-digit number (igc_core.pairs, IGC paper Sec. 1.4's multi-label task) is 28 x 56; the ink of the composed
# MNIST pairs measures 22 x 39 pixels (median; 95% within 25 x 45), so a user's number is fitted into 22 x 44.
NUMBER_SIZE = (IMAGE_SIZE, 2 * IMAGE_SIZE)
NUMBER_BOX = (22, 44)


def frame_number(gray: np.ndarray, ink_threshold: float = 0.05) -> np.ndarray:
    """Frame a greyscale image of a two-digit number (float, 1 = ink, any size) like the composed MNIST pairs.

    As `frame_digit`, with the ink fitted into 22 x 44 and centred in 28 x 56; a 28 x 56 image is taken as
    framed. Returns float32 (28, 56) in [0, 1].
    """
    return _frame(gray, NUMBER_BOX, NUMBER_SIZE, ink_threshold)


def _frame(gray: np.ndarray, box: tuple[int, int], size: tuple[int, int], ink_threshold: float) -> np.ndarray:
    """Find the ink, crop it, fit it into `box` (height, width) keeping its aspect, centre its mass in `size`."""
    from PIL import Image
    from scipy import ndimage

    gray = np.asarray(gray, dtype=np.float32)
    if gray.ndim != 2 or gray.size == 0:
        raise DataError(f"expected a 2-D greyscale image, got shape {gray.shape}")
    if not np.all(np.isfinite(gray)):
        raise DataError("the image holds NaN or infinite values")
    if not (gray > ink_threshold).any():
        raise DataError("the image is empty: there is no ink to classify")
    if gray.shape == tuple(size):
        return np.clip(gray, 0.0, 1.0)
    clean, mask, ink_box = find_ink(gray, ink_threshold)
    if not ink_box.any():
        raise DataError("the image is empty: no strokes stand out from the noise")
    rows, cols = np.flatnonzero(ink_box.any(axis=1)), np.flatnonzero(ink_box.any(axis=0))
    # keep the digit's own pixels and their anti-aliased rim; everything else (specks, noise) is paper
    reach = max(1, round(max(rows[-1] - rows[0], cols[-1] - cols[0]) / 40))
    near = ndimage.binary_dilation(mask, iterations=reach)
    crop = np.where(near, clean, 0.0)[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float32)
    peak = float(np.quantile(clean[mask], 0.99))
    if peak > 0:
        crop = np.clip(crop / peak, 0.0, 1.0)
    h, w = crop.shape
    scale = min(box[0] / h, box[1] / w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    resized = Image.fromarray(crop, mode="F").resize((new_w, new_h), Image.Resampling.LANCZOS)
    small = np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)
    if small.sum() <= 0:  # a speck that vanished when shrunk: keep it visible
        small = np.ones_like(small)
    height, width = size
    out = np.zeros(size, dtype=np.float32)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    out[top : top + new_h, left : left + new_w] = small
    # shift so the centre of mass sits at the image centre (MNIST's recipe), by whole pixels
    ys, xs = np.indices(out.shape)
    mass = out.sum()
    cy, cx = (ys * out).sum() / mass, (xs * out).sum() / mass
    dy = int(round(height / 2 - cy))  # MNIST put the centre of mass at (14, 14)
    dx = int(round(width / 2 - cx))
    dy = int(np.clip(dy, -top, height - top - new_h))  # keep all the ink inside the frame
    dx = int(np.clip(dx, -left, width - left - new_w))
    return np.roll(out, (dy, dx), axis=(0, 1))


def load_image(path: str | Path, frame: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Read an image file Pillow understands and frame it like MNIST: float32 (28, 28) in [0, 1].

    `frame` replaces the framing: `frame_number` for a two-digit number, float32 (28, 56)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        image = open_image(path)
        return (frame or frame_digit)(image_to_gray(image))
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not an image") from None
    except DataError as exc:
        raise DataError(f"{path.name}: {exc}") from None
    except UnidentifiedImageError:
        raise DataError(f"{path.name}: not an image file Pillow can read") from None
    except Image.DecompressionBombError as exc:
        raise DataError(f"{path.name}: too large ({exc})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path.name}: the image is corrupt or truncated ({exc})") from None


def save_digit_png(image01: np.ndarray, path: str | Path) -> None:
    """Write a (28, 28) float image in [0, 1] (ink = 1) as an MNIST-style PNG (white ink on black)."""
    from PIL import Image

    arr = np.clip(np.asarray(image01, dtype=np.float32), 0, 1)
    Image.fromarray((arr * 255).round().astype(np.uint8), mode="L").save(path)
