"""Data: IDX files (MNIST and look-alikes), downloading them, and framing a user's image like MNIST.

Pixel conventions used across igc_core:
- data sets are returned as uint8 arrays of shape (N, 28, 28), 0 = background, 255 = ink;
- the models see float images in [-0.5, 0.5] (the IGC paper's scale, Sec. 4), made by `to_model_range`.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

IMAGE_SIZE = 28
BOX_SIZE = 20  # MNIST fits the ink into a 20x20 box, then centres it by centre of mass in 28x28.
MAX_PIXELS = 50_000_000  # refuse absurdly large images before decoding them fully

MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


class DataError(ValueError):
    """A data set or image that cannot be used, with a message for the user."""


def default_data_dir() -> Path:
    """`$IGC_DATA` if set, else a per-user cache folder."""
    env = os.environ.get("IGC_DATA")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "igc" / "mnist"


# ----------------------------------------------------------------------------------------- IDX files


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (gzip-compressed or not) into a numpy array of its stored type."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: corrupt gzip data ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    dtype = dtypes.get(raw[2])
    ndim = raw[3]
    if dtype is None or ndim == 0:
        raise DataError(f"{path}: not an IDX file (type 0x{raw[2]:02x}, {ndim} dimensions)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    count = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if len(raw) - header != count:
        raise DataError(f"{path}: holds {len(raw) - header} data bytes, its header promises {count} (truncated?)")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(np.dtype(dtype).newbyteorder("="))


@dataclass(frozen=True)
class Dataset:
    images: np.ndarray  # (N, 28, 28) uint8, ink = 255
    labels: np.ndarray  # (N,) int64
    name: str

    def __len__(self) -> int:
        return len(self.labels)


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / name.removesuffix(".gz")):
        if candidate.exists():
            return candidate
    return None


def download_mnist(folder: str | Path, mirrors: tuple[str, ...] = MNIST_MIRRORS, timeout: float = 30.0) -> None:
    """Download the four MNIST files into `folder`, verifying their MD5 checksums."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, md5 in MNIST_FILES.items():
        if _find(folder, name):
            continue
        errors = []
        for mirror in mirrors:
            try:
                with urllib.request.urlopen(mirror + name, timeout=timeout) as response:
                    payload = response.read()
            except OSError as exc:
                errors.append(f"{mirror}: {exc}")
                continue
            if hashlib.md5(payload).hexdigest() != md5:
                errors.append(f"{mirror}: checksum mismatch")
                continue
            tmp = folder / (name + ".part")
            tmp.write_bytes(payload)
            tmp.replace(folder / name)
            break
        else:
            raise DataError(
                f"could not download {name} ({'; '.join(errors)}).\n"
                f"Put the four MNIST files ({', '.join(MNIST_FILES)}) into {folder} "
                "or point --data / IGC_DATA at a folder that holds them."
            )


def load_dataset(folder: str | Path | None = None, split: str = "test", download: bool = True) -> Dataset:
    """Load a split ("train" or "test") of MNIST or any data set stored under the MNIST file names.

    Missing MNIST files are downloaded when `download` is true and the network is there.
    """
    if split not in SPLIT_FILES:
        raise DataError(f"unknown split {split!r}: use 'train' or 'test'")
    folder = Path(folder).expanduser() if folder is not None else default_data_dir()
    image_name, label_name = SPLIT_FILES[split]
    paths = [_find(folder, image_name), _find(folder, label_name)]
    if None in paths:
        if not download:
            raise DataError(f"{folder} lacks {image_name} and/or {label_name}")
        download_mnist(folder)
        paths = [_find(folder, image_name), _find(folder, label_name)]
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE) or images.dtype != np.uint8:
        raise DataError(f"{paths[0]}: expected uint8 images of 28x28, found {images.dtype} {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{paths[1]}: {labels.shape} labels for {len(images)} images")
    return Dataset(images=images, labels=labels.astype(np.int64), name=f"{folder.name}/{split}")


def to_model_range(images: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] or float [0, 1] images -> float32 in [-0.5, 0.5], the scale the models use."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0 - 0.5
    return images.astype(np.float32) - 0.5


def add_noise(images: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """The paper's corruption (Sec. 4.2): x + sigma * N(0, 1), clipped back to [-0.5, 0.5]."""
    if sigma <= 0:
        return images.astype(np.float32, copy=True)
    noisy = images + sigma * rng.standard_normal(images.shape).astype(np.float32)
    return np.clip(noisy, -0.5, 0.5).astype(np.float32)


# --------------------------------------------------------------------------- framing a user's image


def frame_digit(gray: np.ndarray, ink_threshold: float = 0.05) -> np.ndarray:
    """Frame a greyscale image (float, 1 = ink, 0 = paper, any size) the way MNIST was made.

    The ink's bounding box is fitted into a 20x20 box keeping its aspect ratio (anti-aliased),
    then placed in 28x28 so that its centre of mass is at the centre. Returns float32 (28, 28) in [0, 1].
    """
    return _frame(gray, (BOX_SIZE, BOX_SIZE), (IMAGE_SIZE, IMAGE_SIZE), ink_threshold)


# A two-digit number (igc_core.pairs): 28 x 56; the ink of the composed MNIST pairs measures 22 x 39 pixels
# (median; 95% within 25 x 45), so a user's number is fitted into 22 x 44.
NUMBER_SIZE = (IMAGE_SIZE, 2 * IMAGE_SIZE)
NUMBER_BOX = (22, 44)


def frame_number(gray: np.ndarray, ink_threshold: float = 0.05) -> np.ndarray:
    """Frame a greyscale image of a two-digit number (float, 1 = ink, any size) like the composed MNIST pairs:
    the ink fitted into a 22 x 44 box keeping its aspect ratio, centred by mass in 28 x 56. float32 (28, 56)."""
    return _frame(gray, NUMBER_BOX, NUMBER_SIZE, ink_threshold)


def _frame(gray: np.ndarray, box: tuple[int, int], size: tuple[int, int], ink_threshold: float) -> np.ndarray:
    """Crop the ink, fit it into `box` (height, width) keeping its aspect, centre its mass in `size`."""
    from PIL import Image

    gray = np.asarray(gray, dtype=np.float32)
    if gray.ndim != 2 or gray.size == 0:
        raise DataError(f"expected a 2-D greyscale image, got shape {gray.shape}")
    if not np.all(np.isfinite(gray)):
        raise DataError("the image holds NaN or infinite values")
    mask = gray > ink_threshold
    if not mask.any():
        raise DataError("the image is empty: there is no ink to classify")
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    crop = gray[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
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


def image_to_gray(image) -> np.ndarray:
    """A Pillow image of any mode -> float32 greyscale in [0, 1] with ink = 1 (dark-on-light inverted)."""
    from PIL import Image

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
    # Dark ink on light paper (the usual scan or drawing) is inverted; decide by the border, which is paper.
    border = lambda a: np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])  # noqa: E731
    if np.median(border(gray)) > 0.5:
        gray = 1.0 - gray
    # Remove a uniform paper tone so that only ink remains, then stretch the ink to full strength.
    gray = np.clip(gray - np.median(border(gray)), 0.0, None)
    peak = gray.max()
    return (gray / peak if peak > 0 else gray).astype(np.float32)


def load_image(path: str | Path, frame: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Read an image file Pillow understands and frame it like MNIST: float32 (28, 28) in [0, 1].

    `frame` replaces the framing (`frame_number` for a two-digit number's 28 x 56)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                raise DataError(f"{image.width}x{image.height} is too large (over {MAX_PIXELS:,} pixels)")
            image.load()
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
