"""Data: IDX files (MNIST and look-alikes), downloading them, and noise (a user's image is framed in `framing`).

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

import numpy as np

from .framing import DataError  # one error type for data sets and images alike

IMAGE_SIZE = 28

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
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder} is a file, not a folder for the MNIST files")
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
            try:  # the folder is created only now, when there is something to put in it
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DataError(f"cannot create the data folder {folder} ({exc.strerror or exc})") from None
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
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder} is a file: the data option takes a folder holding the MNIST IDX files")
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
