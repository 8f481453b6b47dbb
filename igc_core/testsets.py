"""Test sets of digits that are not MNIST's, made by our own code (nothing is downloaded).

A user types digits in a font, draws them with a mouse (thin, even strokes) or photographs handwriting, and the
loader frames what they give it. These sets go through the same path a user's file takes
(`igc_core.framing.image_to_gray` then `igc_core.framing.frame_digit`), so they measure what a user meets:

- `typeset`: the digits 0-9 typeset in the machine's font faces, at several sizes, dark on light; by default
  only the faces of designs that training never sees (`printed_digits` may train on TRAINING_DESIGNS);
- `strokes`: MNIST *test* digits redrawn at 4x with Pillow: thin and thick pens (erosion/dilation), slanted
  left and right, written small (so framing enlarges them) and large with a crisp pen;
- `letters`: A-Z and a-z beside 0-9 in the same held-out faces, as out-of-class inputs (the OOC of paper
  Sec. 3.2 should be high);
- `photos`: MNIST *test* digits (every 5th) written on photographed pages: a shadow, a lighting gradient, a
  vignette, ruled and squared paper, coloured ink and paper, JPEG, blur and noise, low contrast, and all at once;
  each page goes through an image file and `framing.load_image`, as a user's photo does;
- `marks`: simple marks that are no digit (dots, dashes, plus signs, crosses, ticks, arrows, waves, boxes,
  triangles, spirals, stars, smileys, scribbles, filled blobs...) drawn with Pillow in several pen widths,
  sizes and places on a white sheet, all out of class. Drawn by this code only: hybrid training's negatives
  (`igc_core.marks`) are made by other code, so no test mark is ever trained on.

The font faces depend on the machine, so every set records which faces it used.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import Dataset
from .framing import frame_digit, image_to_gray

SETS = ("typeset", "strokes", "letters", "marks", "photos")
DIGITS = "0123456789"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Letters drawn exactly like a digit in most fonts (O as 0, I and l as 1): reported apart, since no
# classifier of shapes can call them out of class.
LOOKALIKES = "OoIl"
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.fonts", "~/.local/share/fonts", "/usr/share/texmf/fonts",
             "/Library/Fonts", "/System/Library/Fonts", "C:/Windows/Fonts")
# faces without ordinary digits and letters (symbols, dingbats, math, decorative initials)
SKIP_FAMILIES = ("symbol", "dingbat", "d050000l", "math", "initials", "keyboard", "emoji", "wingding", "webding")
TYPESET_SIZES = (14, 24, 48, 96)  # font sizes in pixels: a small screenshot up to a large print
# Typeset digits may also be training data (`printed_digits`), but only from these designs: the URW base35
# fonts (the PostScript standard faces: Times, Helvetica, Courier, Palatino, Century Schoolbook, Bookman,
# Avant Garde, Zapf Chancery) and the two families derived from them, TeX Gyre and GNU FreeFont. Every other
# design (DejaVu, Liberation, Roboto, Open Sans, Cantarell, Carlito, Comic Neue, Linux Libertine, ...) is held
# out for testing, so a test face is never a training face or a clone of one.
TRAINING_DESIGNS = ("C059", "D050000L", "Nimbus ", "P052", "Standard Symbols", "URW ", "Z003", "TeX Gyre ", "Free")
PRINTED_SIZES = (14, 20, 28, 40, 64, 96)
LETTER_SIZES = (48,)
STROKE_VARIANTS = ("thin", "thick", "slant-left", "slant-right", "small", "large")


@dataclass(frozen=True)
class TestSet:
    """Framed images like `load_image` returns them, with labels (-1: out of class) and a group per image."""

    name: str
    images: np.ndarray  # (N, 28, 28) float32 in [0, 1], ink = 1
    labels: np.ndarray  # (N,) int64, -1 for out-of-class inputs
    groups: np.ndarray  # (N,) str: the font face or the stroke variant
    chars: np.ndarray  # (N,) str: the character drawn
    sources: tuple[str, ...]  # the font faces (or data set) used
    sizes: np.ndarray | None = None  # (N,) int: the font size in pixels (typeset sets only)
    styles: np.ndarray | None = None  # (N,) str: the face's weight and slant, e.g. bold italic (typeset sets only)

    def __len__(self) -> int:
        return len(self.labels)


# ---------------------------------------------------------------------------------------------- fonts


def find_fonts(folders: tuple[str, ...] | None = None) -> list[Path]:
    """TrueType/OpenType font files, one per face (family and style), sorted by face name: those in `folders`,
    or (None) the machine's, as fontconfig lists them and in the usual font folders."""
    from PIL import ImageFont

    files: list[Path] = []
    if folders is None and shutil.which("fc-list"):
        try:
            out = subprocess.run(["fc-list", "--format", "%{file}\n"], capture_output=True, text=True, timeout=30).stdout
            files = [Path(line) for line in out.splitlines() if line.strip()]
        except (OSError, subprocess.SubprocessError):
            files = []
    for folder in FONT_DIRS if folders is None else folders:
        root = Path(folder).expanduser()
        if root.is_dir():
            files += [p for p in root.rglob("*") if p.is_file()]
    faces: dict[str, Path] = {}
    for path in sorted(set(files)):
        if path.suffix.lower() not in (".ttf", ".otf"):
            continue
        try:
            family, style = ImageFont.truetype(str(path), 24).getname()
        except (OSError, ValueError):
            continue
        name = f"{family} {style}".strip()
        if any(word in name.lower() for word in SKIP_FAMILIES) or name in faces:
            continue
        faces[name] = path
    return [faces[name] for name in sorted(faces)]


def is_training_design(face: str) -> bool:
    """Whether a face (family and style) belongs to the designs training may use (TRAINING_DESIGNS)."""
    return face.startswith(TRAINING_DESIGNS)


def split_fonts(fonts: list[Path]) -> tuple[list[Path], list[Path]]:
    """(faces of the training designs, held-out faces)."""
    train = [f for f in fonts if is_training_design(face_name(f))]
    return train, [f for f in fonts if f not in train]


def face_name(path: Path) -> str:
    from PIL import ImageFont

    family, style = ImageFont.truetype(str(path), 24).getname()
    return f"{family} {style}".strip()


def face_style(path: Path) -> str:
    """The face's weight and slant, coarsely: regular, bold, light, each possibly italic (oblique counts as
    italic; semibold, extra bold and black as bold; thin and extra light as light; widths are ignored)."""
    from PIL import ImageFont

    words = (ImageFont.truetype(str(path), 24).getname()[1] or "").lower().replace("-", " ")
    weight = ("light" if any(w in words for w in ("thin", "light", "hairline")) else
              "bold" if any(w in words for w in ("bold", "black", "heavy", "demi")) else "regular")
    slant = " italic" if any(w in words for w in ("italic", "oblique", "slanted")) else ""
    return ("italic" if weight == "regular" and slant else weight + slant)


def render_char(char: str, font_path: Path, size: int) -> np.ndarray | None:
    """Typeset one character dark on light, as a user's screenshot would hold it, then frame it like a file.

    Returns (28, 28) float32 in [0, 1], or None where the face has no such glyph.
    """
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(font_path), size)
    if font.getmask(char).getbbox() is None:
        return None
    canvas = Image.new("L", (3 * size + 8, 3 * size + 8), 255)
    ImageDraw.Draw(canvas).text((canvas.width // 2, canvas.height // 2), char, font=font, fill=0, anchor="mm")
    return frame_digit(image_to_gray(canvas))


def _missing_glyph(font_path: Path, size: int) -> np.ndarray | None:
    """What the face draws for a character it lacks (its .notdef box), to recognise missing glyphs."""
    return render_char("\U0010fffd", font_path, size)


def typeset(fonts: list[Path] | None = None, chars: str = DIGITS, sizes: tuple[int, ...] = TYPESET_SIZES,
            name: str = "typeset") -> TestSet:
    """Every character in every face and size; digits get their value as label, anything else -1.

    By default the machine's faces held out from training (not of TRAINING_DESIGNS)."""
    fonts = split_fonts(find_fonts())[1] if fonts is None else [Path(f) for f in fonts]
    if not fonts:
        raise ValueError("no TrueType or OpenType fonts were found on this machine (install e.g. fonts-dejavu)")
    images, labels, groups, drawn, used, px, styles = [], [], [], [], [], [], []
    for path in fonts:
        face, style = face_name(path), face_style(path)
        notdef = _missing_glyph(path, 48)
        rendered = 0
        for char in chars:
            for size in sizes:
                img = render_char(char, path, size)
                if img is None or (notdef is not None and size == 48 and np.abs(img - notdef).max() < 1e-3):
                    continue
                images.append(img)
                labels.append(int(char) if char in DIGITS else -1)
                groups.append(face)
                drawn.append(char)
                px.append(size)
                styles.append(style)
                rendered += 1
        if rendered:
            used.append(face)
    if not images:
        raise ValueError("none of the fonts could draw the characters asked for")
    return TestSet(name, np.stack(images).astype(np.float32), np.asarray(labels, np.int64), np.asarray(groups),
                   np.asarray(drawn), tuple(used), np.asarray(px, np.int64), np.asarray(styles))


def printed_digits(fonts: list[Path] | None = None, sizes: tuple[int, ...] = PRINTED_SIZES) -> Dataset:
    """Training data: 0-9 typeset in the faces of TRAINING_DESIGNS only (never a test face), framed like a file.

    Returns a Dataset of uint8 images (ink = 255) like MNIST's, named after the faces used."""
    fonts = split_fonts(find_fonts())[0] if fonts is None else [Path(f) for f in fonts]
    held_out = [face_name(f) for f in fonts if not is_training_design(face_name(f))]
    if held_out:
        raise ValueError(f"printed training digits come only from the training designs; held-out faces given: {', '.join(held_out[:3])}")
    if not fonts:
        raise ValueError("no faces of the training designs (URW base35, TeX Gyre, FreeFont) on this machine: install "
                         "fonts-urw-base35, fonts-texgyre or fonts-freefont-ttf, or train without printed digits")
    ts = typeset(fonts, DIGITS, sizes, name="printed")
    images = np.round(ts.images * 255).astype(np.uint8)
    return Dataset(images=images, labels=ts.labels, name=f"printed digits ({len(ts.sources)} faces)")


def letters(fonts: list[Path] | None = None, sizes: tuple[int, ...] = LETTER_SIZES) -> TestSet:
    """A-Z and a-z typeset in the machine's held-out fonts (out of class, label -1), with 0-9 in the same faces
    and sizes: OOC should tell them apart (paper Sec. 3.2)."""
    return typeset(fonts, DIGITS + LETTERS, sizes, name="letters")


# -------------------------------------------------------------------------------------------- strokes


def _redraw(digit: np.ndarray, variant: str) -> np.ndarray:
    """One MNIST digit (28, 28) uint8, ink = 255, redrawn as a user's file (dark ink on light paper)."""
    from PIL import Image, ImageFilter

    up = 4
    big = Image.fromarray(digit, mode="L").resize((28 * up, 28 * up), Image.Resampling.BICUBIC)
    if variant == "thin":  # a thin pen: the stroke's core, about 1 pixel wide at 28x28
        pen = big.point(lambda v: 255 if v > 128 else 0).filter(ImageFilter.MinFilter(5))
        if pen.getbbox() is None:
            pen = big.point(lambda v: 255 if v > 128 else 0)
        big = pen.filter(ImageFilter.GaussianBlur(1.0))
    elif variant == "thick":  # a marker: strokes about 1.5 pixels wider
        big = big.filter(ImageFilter.MaxFilter(7)).filter(ImageFilter.MaxFilter(5))
    elif variant in ("slant-left", "slant-right"):
        shear = 0.35 if variant == "slant-right" else -0.35  # x_out = x + shear * (centre - y): top leans right
        pad = Image.new("L", (big.width * 2, big.height), 0)
        pad.paste(big, (big.width // 2, 0))
        c = big.height / 2
        big = pad.transform(pad.size, Image.Transform.AFFINE, (1, shear, -shear * c, 0, 1, 0), Image.Resampling.BICUBIC)
    elif variant == "small":  # written small on a large page: framing enlarges a low-resolution digit
        small = Image.fromarray(digit, mode="L").resize((14, 14), Image.Resampling.BOX)
        big = Image.new("L", (80, 80), 0)
        big.paste(small, (30, 25))
    elif variant == "large":  # written large with a crisp pen, downscaled by framing
        big = big.point(lambda v: 255 if v > 100 else 0).filter(ImageFilter.GaussianBlur(1.0))
    else:
        raise ValueError(f"unknown stroke variant {variant!r}: choose one of {', '.join(STROKE_VARIANTS)}")
    paper = Image.fromarray(255 - np.asarray(big, dtype=np.uint8), mode="L")  # dark ink on white, like a scan
    return frame_digit(image_to_gray(paper))


def strokes(mnist_test: Dataset, limit: int = 1000, variants: tuple[str, ...] = STROKE_VARIANTS) -> TestSet:
    """The first `limit` MNIST test digits, each redrawn in every variant (none of them is a training image)."""
    n = min(limit, len(mnist_test)) if limit else len(mnist_test)
    images, labels, groups = [], [], []
    for variant in variants:
        for i in range(n):
            images.append(_redraw(mnist_test.images[i], variant))
            labels.append(int(mnist_test.labels[i]))
            groups.append(variant)
    labels_arr = np.asarray(labels, np.int64)
    return TestSet("strokes", np.stack(images).astype(np.float32), labels_arr, np.asarray(groups),
                   np.asarray([str(v) for v in labels_arr]), (f"{mnist_test.name} (first {n})",))


# --------------------------------------------------------------------------------------------- photos

PHOTO_CONDITIONS = ("clean", "shadow", "gradient", "vignette", "ruled", "squared", "colour", "jpeg", "blur-noise",
                    "low-contrast", "photo")
PHOTO_STEP = 5  # every 5th MNIST test digit (0, 5, 10, ...): the same digits in every condition


def photo_page(digit: np.ndarray, condition: str, seed: int = 0):
    """One MNIST-style digit (28, 28) uint8 (ink = 255) written on a photographed page: (Pillow RGB image, format).

    The page is 360-520 px a side with the digit about a third of its height, dark ink (a ballpoint's blue-black)
    on white paper; the reflectance (paper, lines, ink) is multiplied by the light falling on it, then the camera
    blurs, adds noise and compresses. Each condition changes one thing a photo or a scan brings:

    clean: nothing; shadow: a band along one edge at 35-55% of the light, with a soft edge (a hand or a phone);
    gradient: light falling to 40-60% across the page; vignette: light falling to 45-60% in the corners; ruled:
    light-blue lines across, 1/8-1/12 of the page apart; squared: a grey-blue grid; colour: coloured ink on
    coloured paper (orange on a yellow note, green on pink, red on light blue) with 4% sensor noise; jpeg: JPEG
    quality 20-35; blur-noise: out of focus (blur 1.5-2.5 px) with sensor noise (4-7%); low-contrast: a pencil
    in dim light (paper at 55-65%, ink at 30-40%); photo: all at once (a shadow or a gradient, ruled paper,
    blur, noise, JPEG).
    Ruled and squared lines lean by up to 1 degree, as a page rarely lies straight.
    """
    from PIL import Image, ImageDraw, ImageFilter

    if condition not in PHOTO_CONDITIONS:
        raise ValueError(f"unknown photo condition {condition!r}: choose one of {', '.join(PHOTO_CONDITIONS)}")
    rng = np.random.default_rng(seed)
    height, width = int(rng.integers(360, 481)), int(rng.integers(360, 521))
    side = int(rng.uniform(0.4, 0.55) * min(height, width))  # the 28x28 frame; its ink is about 20/28 of it
    top = int(rng.integers(int(0.06 * height), height - side - int(0.06 * height)))
    left = int(rng.integers(int(0.06 * width), width - side - int(0.06 * width)))
    big = Image.fromarray(np.asarray(digit, np.uint8), mode="L").resize((side, side), Image.Resampling.BICUBIC)
    a = np.zeros((height, width), np.float32)  # ink coverage
    a[top : top + side, left : left + side] = np.asarray(big, np.float32) / 255.0

    paper = np.array([0.96, 0.95, 0.92], np.float32)
    ink = np.array([0.10, 0.12, 0.28], np.float32)  # a blue-black ballpoint
    if condition == "colour":
        paper, ink = [(np.array([0.99, 0.93, 0.55]), np.array([0.95, 0.50, 0.10])),  # orange on a yellow note
                      (np.array([0.98, 0.80, 0.85]), np.array([0.10, 0.55, 0.20])),  # green on pink
                      (np.array([0.75, 0.88, 0.98]), np.array([0.85, 0.15, 0.15]))][int(rng.integers(3))]  # red on blue
    elif condition == "low-contrast":
        paper, ink = np.full(3, 1.0, np.float32), np.full(3, 0.55, np.float32)  # scaled into dim light below
    page = np.broadcast_to(paper, (height, width, 3)).astype(np.float32)

    ruled = condition == "ruled" or (condition == "photo")
    if ruled or condition == "squared":
        lines = Image.new("L", (4 * width, 4 * height), 0)  # drawn at 4x, then reduced: anti-aliased
        draw = ImageDraw.Draw(lines)
        tilt = np.tan(np.radians(rng.uniform(-1.0, 1.0)))
        if ruled:  # light blue, 1/12-1/8 of the page apart
            gap, pen, colour = rng.uniform(1 / 12, 1 / 8) * height, rng.uniform(1.5, 2.5), np.array([0.55, 0.70, 0.92])
        else:  # a grey-blue grid of 4.5-6.5 % of the page
            gap, pen = rng.uniform(0.045, 0.065) * min(height, width), rng.uniform(1.0, 1.8)
            colour = np.array([0.62, 0.70, 0.82])
        pen = round(4 * pen)
        for y in np.arange(rng.uniform(0, gap), height + gap * abs(tilt) * width, gap):
            draw.line([(0, 4 * (y - tilt * width / 2)), (4 * width, 4 * (y + tilt * width / 2))], fill=255, width=pen)
        if condition == "squared":
            for x in np.arange(rng.uniform(0, gap), width, gap):
                draw.line([(4 * (x + tilt * height / 2), 0), (4 * (x - tilt * height / 2), 4 * height)], fill=255, width=pen)
        m = np.asarray(lines.resize((width, height), Image.Resampling.BOX), np.float32)[..., None] / 255.0
        page = page * (1 - m) + colour * m
    page = page * (1 - a[..., None]) + ink * a[..., None]  # ink over paper and lines

    ys, xs = np.indices((height, width), dtype=np.float32)
    light = np.ones((height, width), np.float32)
    lighting = condition if condition in ("shadow", "gradient", "vignette") else None
    if condition == "photo":
        lighting = ("shadow", "gradient")[int(rng.integers(2))]
    if lighting == "shadow":  # a band along one edge, its edge blurred (a penumbra)
        edge = int(rng.integers(4))
        dist = (xs, width - 1 - xs, ys, height - 1 - ys)[edge]
        extent = (width, width, height, height)[edge]
        band, soft, depth = rng.uniform(0.15, 0.35) * extent, rng.uniform(0.02, 0.05) * extent, rng.uniform(0.35, 0.55)
        light = 1 - (1 - depth) / (1 + np.exp((dist - band) / soft))
    elif lighting == "gradient":
        angle = rng.uniform(0, 2 * np.pi)
        t = np.cos(angle) * xs / width + np.sin(angle) * ys / height
        light = 1 - rng.uniform(0.4, 0.6) * (t - t.min()) / (t.max() - t.min())
    elif lighting == "vignette":
        cy, cx = height * rng.uniform(0.4, 0.6), width * rng.uniform(0.4, 0.6)
        r2 = ((ys - cy) / height) ** 2 + ((xs - cx) / width) ** 2
        light = 1 - rng.uniform(0.4, 0.55) * r2 / r2.max()
    elif condition == "low-contrast":
        light = np.full((height, width), rng.uniform(0.55, 0.65), np.float32)
    image = page * light[..., None]

    blur = {"blur-noise": (1.5, 2.5), "photo": (0.8, 1.2)}.get(condition)
    blur = rng.uniform(*blur) if blur else 0.0
    noise = {"blur-noise": rng.uniform(0.04, 0.07), "photo": 0.03, "colour": 0.04, "low-contrast": 0.01}
    noise = noise.get(condition, 0.0)
    out = Image.fromarray(np.clip(image * 255, 0, 255).round().astype(np.uint8), mode="RGB")
    if blur:
        out = out.filter(ImageFilter.GaussianBlur(blur))
    if noise:
        noisy = np.asarray(out, np.float32) + 255 * noise * rng.standard_normal((height, width, 1)).astype(np.float32)
        out = Image.fromarray(np.clip(noisy, 0, 255).round().astype(np.uint8), mode="RGB")
    if condition in ("jpeg", "photo"):
        return out, {"format": "JPEG", "quality": int(rng.integers(20, 36) if condition == "jpeg" else 60)}
    return out, {"format": "PNG"}


def photos(mnist_test: Dataset, limit: int = 30, conditions: tuple[str, ...] = PHOTO_CONDITIONS,
           seed: int = 0) -> TestSet:
    """MNIST test digits 0, 5, 10, ... (`limit` of them) each photographed in every condition (`photo_page`),
    written to an image file and read back with `framing.load_image`, exactly as a user's file is."""
    import tempfile

    from .framing import load_image

    chosen = list(range(0, len(mnist_test), PHOTO_STEP))[:limit]
    images, labels, groups = [], [], []
    with tempfile.TemporaryDirectory(prefix="igc-photos-") as folder:
        for c, condition in enumerate(conditions):
            for i in chosen:
                page, how = photo_page(mnist_test.images[i], condition, seed=seed * 1_000_003 + 10_007 * c + i)
                path = Path(folder) / f"{condition}-{i}.{'jpg' if how['format'] == 'JPEG' else 'png'}"
                page.save(path, **how)
                images.append(load_image(path))
                labels.append(int(mnist_test.labels[i]))
                groups.append(condition)
    if not images:
        raise ValueError("the photos set needs at least one MNIST test digit")
    labels_arr = np.asarray(labels, np.int64)
    source = f"{mnist_test.name} (test digits {', '.join(map(str, chosen[:3]))}, ... {chosen[-1]})"
    return TestSet("photos", np.stack(images).astype(np.float32), labels_arr, np.asarray(groups),
                   np.asarray([str(v) for v in labels_arr]), (source,))


# ---------------------------------------------------------------------------------------------- marks

MARKS = ("dot", "big-dot", "dash", "long-dash", "equals", "plus", "cross", "asterisk", "hash", "tick", "arrow",
         "caret", "wave", "zigzag", "box", "filled-box", "triangle", "diamond", "star", "spiral", "smiley",
         "scribble", "blob", "hatching", "bracket", "check-box", "heart", "cloud", "dots-row", "ellipsis")
MARK_PENS = (3, 8, 16)  # pen widths in pixels on a 256-pixel sheet: a fine pen, a marker, a brush
MARK_SHEET = 256


def _mark(kind: str, pen: int, rng: np.random.Generator):
    """One mark drawn dark on a white sheet (a Pillow image): random size, place and slight rotation."""
    from PIL import Image, ImageDraw

    S = MARK_SHEET
    img = Image.new("L", (S, S), 255)
    d = ImageDraw.Draw(img)
    size = rng.uniform(0.3, 0.8) * S
    cx, cy = S / 2 + rng.uniform(-0.1, 0.1) * S, S / 2 + rng.uniform(-0.1, 0.1) * S
    h = size / 2

    def P(x, y):  # a point relative to the mark's centre, in units of half its size
        return (cx + x * h, cy + y * h)

    def line(*pts):
        d.line([P(*p) for p in pts], fill=0, width=pen, joint="curve")

    def curve(fx, fy, n=120, t0=0.0, t1=1.0):
        t = np.linspace(t0, t1, n)
        line(*zip(fx(t), fy(t)))

    if kind == "dot":
        r = max(pen, 4) / 2
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=0)
    elif kind == "big-dot":
        r = h * 0.3
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=0)
    elif kind == "dash":
        line((-0.4, 0), (0.4, 0))
    elif kind == "long-dash":
        line((-1, 0.05), (1, -0.05))
    elif kind == "equals":
        line((-0.8, -0.3), (0.8, -0.3)); line((-0.8, 0.3), (0.8, 0.3))  # noqa: E702
    elif kind == "plus":
        line((-0.8, 0), (0.8, 0)); line((0, -0.8), (0, 0.8))  # noqa: E702
    elif kind == "cross":
        line((-0.7, -0.7), (0.7, 0.7)); line((-0.7, 0.7), (0.7, -0.7))  # noqa: E702
    elif kind == "asterisk":
        for a in np.linspace(0, np.pi, 3, endpoint=False) + np.pi / 2:
            line((-np.cos(a), -np.sin(a)), (np.cos(a), np.sin(a)))
    elif kind == "hash":
        for o in (-0.35, 0.35):
            line((-0.9, o), (0.9, o)); line((o + 0.1, -0.9), (o - 0.1, 0.9))  # noqa: E702
    elif kind == "tick":
        line((-0.8, 0), (-0.3, 0.6), (0.8, -0.7))
    elif kind == "arrow":
        line((-0.9, 0), (0.9, 0)); line((0.5, -0.4), (0.9, 0), (0.5, 0.4))  # noqa: E702
    elif kind == "caret":
        line((-0.8, 0.5), (0, -0.5), (0.8, 0.5))
    elif kind == "wave":
        curve(lambda t: -1 + 2 * t, lambda t: 0.3 * np.sin(t * 4 * np.pi))
    elif kind == "zigzag":
        line(*[(-1 + 0.4 * i, -0.3 if i % 2 else 0.3) for i in range(6)])
    elif kind == "box":
        line((-0.7, -0.7), (0.7, -0.7), (0.7, 0.7), (-0.7, 0.7), (-0.7, -0.7))
    elif kind == "filled-box":
        d.rectangle([*P(-0.5, -0.4), *P(0.5, 0.4)], fill=0)
    elif kind == "triangle":
        line((0, -0.8), (0.8, 0.7), (-0.8, 0.7), (0, -0.8))
    elif kind == "diamond":
        line((0, -0.9), (0.6, 0), (0, 0.9), (-0.6, 0), (0, -0.9))
    elif kind == "star":
        pts = [(np.cos(a) * (0.9 if i % 2 == 0 else 0.4), np.sin(a) * (0.9 if i % 2 == 0 else 0.4))
               for i, a in enumerate(np.linspace(-np.pi / 2, 1.5 * np.pi, 11))]
        line(*pts)
    elif kind == "spiral":
        curve(lambda t: t * np.cos(t * 6 * np.pi), lambda t: t * np.sin(t * 6 * np.pi), n=300, t0=0.05)
    elif kind == "smiley":
        curve(lambda t: np.cos(2 * np.pi * t), lambda t: np.sin(2 * np.pi * t))
        for ex in (-0.35, 0.35):
            r = max(pen, 0.08 * h)
            d.ellipse([*(np.array(P(ex, -0.3)) - r / 2), *(np.array(P(ex, -0.3)) + r / 2)], fill=0)
        curve(lambda t: 0.5 * np.cos(np.pi * t), lambda t: 0.15 + 0.3 * np.sin(np.pi * t))
    elif kind == "scribble":
        pts = rng.uniform(-0.9, 0.9, (12, 2))
        line(*map(tuple, pts))
    elif kind == "blob":
        a = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        r = rng.uniform(0.5, 0.9, 16)
        d.polygon([P(x, y) for x, y in zip(r * np.cos(a), r * np.sin(a))], fill=0)
    elif kind == "hatching":
        for o in np.linspace(-0.8, 0.8, 5):
            line((o - 0.3, 0.6), (o + 0.3, -0.6))
    elif kind == "bracket":
        line((0.3, -0.9), (-0.2, -0.9), (-0.2, 0.9), (0.3, 0.9))
    elif kind == "check-box":
        line((-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8), (-0.8, -0.8))
        line((-0.5, 0), (-0.1, 0.4), (0.5, -0.5))
    elif kind == "heart":
        curve(lambda t: 0.8 * np.sin(t) ** 3,
              lambda t: -(0.65 * np.cos(t) - 0.25 * np.cos(2 * t) - 0.1 * np.cos(3 * t) - 0.05 * np.cos(4 * t)),
              n=200, t0=0, t1=2 * np.pi)
    elif kind == "cloud":
        for x0 in (-0.5, 0, 0.5):
            curve(lambda t, x0=x0: x0 + 0.3 * np.cos(t), lambda t: 0.3 * np.sin(t) - 0.1, t0=np.pi, t1=2 * np.pi)
        line((-0.8, -0.1), (-0.8, 0.3), (0.8, 0.3), (0.8, -0.1))
    elif kind == "dots-row":
        for x0 in (-0.6, 0, 0.6):
            r = max(pen, 0.1 * h)
            d.ellipse([*(np.array(P(x0, 0)) - r), *(np.array(P(x0, 0)) + r)], fill=0)
    elif kind == "ellipsis":
        for x0 in (-0.8, 0, 0.8):
            r = max(pen, 0.06 * h) / 2
            d.ellipse([*(np.array(P(x0, 0.5)) - r), *(np.array(P(x0, 0.5)) + r)], fill=0)
    else:
        raise ValueError(f"unknown mark {kind!r}: choose one of {', '.join(MARKS)}")
    angle = rng.uniform(-12, 12)
    return img.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)


def marks(per_kind: int = 4, seed: int = 0, kinds: tuple[str, ...] = MARKS) -> TestSet:
    """Every mark kind in every pen width, `per_kind` random sizes/places each, framed like a user's file;
    all out of class (label -1), grouped by kind."""
    rng = np.random.default_rng(seed)
    images, groups = [], []
    for kind in kinds:
        for pen in MARK_PENS:
            for _ in range(per_kind):
                images.append(frame_digit(image_to_gray(_mark(kind, pen, rng))))
                groups.append(kind)
    n = len(images)
    return TestSet("marks", np.stack(images).astype(np.float32), np.full(n, -1, np.int64), np.asarray(groups),
                   np.asarray(groups), ("drawn by igc_core.testsets.marks",))


def build(name: str, mnist_test: Dataset | None = None, limit: int = 1000, fonts: list[Path] | None = None) -> TestSet:
    """One of SETS by name."""
    if name == "typeset":
        return typeset(fonts)
    if name == "letters":
        return letters(fonts)
    if name == "marks":
        return marks()
    if name == "strokes":
        if mnist_test is None:
            raise ValueError("the strokes set is made from the MNIST test set: give its folder with --data")
        return strokes(mnist_test, limit)
    if name == "photos":
        if mnist_test is None:
            raise ValueError("the photos set is made from the MNIST test set: give its folder with --data")
        return photos(mnist_test, limit)
    raise ValueError(f"unknown test set {name!r}: choose one of {', '.join(SETS)}")


# ------------------------------------------------------------------------------------------ measuring


def accuracy_by_group(ts: TestSet, predicted: np.ndarray, key: str = "group") -> list[dict]:
    """Accuracy on the set's digits, per group (font face or stroke variant), per character ("char"), or, for
    typeset sets, per font size ("size", in pixels) or face style ("style")."""
    values = {"group": ts.groups, "char": ts.chars, "size": ts.sizes, "style": ts.styles}[key]
    if values is None:
        raise ValueError(f"the {ts.name} set has no {key} per image")
    digits = ts.labels >= 0
    rows = []
    for value in dict.fromkeys(values[digits].tolist()):
        sel = digits & (values == value)
        rows.append({key: value, "images": int(sel.sum()), "correct": int(np.sum(predicted[sel] == ts.labels[sel]))})
    return rows


def out_of_class_report(ts: TestSet, ooc: np.ndarray) -> dict:
    """How well OOC separates the set's out-of-class images (label -1) from its digits: AUROC, and the share of
    out-of-class images let through when 95% of these digits are kept; also without the digit look-alikes."""
    from .evaluate import auroc

    digits, others = ts.labels >= 0, ts.labels < 0
    if not digits.any() or not others.any():
        raise ValueError(f"the {ts.name} set needs both digits and out-of-class images to measure OOC separation")
    threshold = float(np.quantile(ooc[digits], 0.95))
    unlike = others & ~np.isin(ts.chars, list(LOOKALIKES))
    return {
        "digits": int(digits.sum()), "others": int(others.sum()),
        "auroc": auroc(ooc[digits], ooc[others]),
        "auroc_without_lookalikes": auroc(ooc[digits], ooc[unlike]),
        "lookalikes": LOOKALIKES,
        "fpr_at_95tpr": float(np.mean(ooc[others] <= threshold)),
        "threshold_95tpr": threshold,
    }
