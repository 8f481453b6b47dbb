"""Data: IDX files (MNIST and look-alikes), downloading them, and noise (a user's image is framed in `framing`).

Pixel conventions used across igc_core:
- data sets are returned as uint8 arrays of shape (N, 28, 28), 0 = background, 255 = ink;
- the models see float images in [-0.5, 0.5] (the IGC paper's scale, Sec. 4), made by `to_model_range`.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .files import FileRefused, regular_size, user_path
from .framing import DataError  # one error type for data sets and images alike

IMAGE_SIZE = 28

# SHA-256 of the four standard files as the mirrors serve them (gzip-compressed), as published alongside MNIST
# downloaders (torchvision's mirror list, TensorFlow Datasets, Bazel's http_file rules agree)
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MNIST_MIRRORS = (  # https only: the checksum protects the bytes, TLS who sends them
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
MAX_DOWNLOAD_BYTES = 64 << 20  # the largest MNIST file is 9.9 MB compressed
MAX_IDX_BYTES = 1 << 30  # data an IDX file may hold once decompressed (MNIST's largest: 47 MB; EMNIST's: 0.55 GB)
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def default_data_dir() -> Path:
    """`$IGC_DATA` if set, else a per-user cache folder (~/.cache/igc/mnist)."""
    return user_path("IGC_DATA", "cache", "mnist")


# ----------------------------------------------------------------------------------------- IDX files


def read_idx(path: str | Path, limit: int = MAX_IDX_BYTES) -> np.ndarray:
    """Read one IDX file (gzip-compressed or not) into a numpy array of its stored type.

    Only a regular file is read, and never more than its header promises: a FIFO or a device is refused at once,
    and a gzip bomb (or a header promising more than `limit` bytes) is refused before it is decompressed."""
    path = Path(path)
    try:
        size = regular_size(path, "data file")
        with path.open("rb") as raw_file:
            compressed = raw_file.read(2) == b"\x1f\x8b"
            raw_file.seek(0)
            stream = gzip.GzipFile(fileobj=raw_file) if compressed else raw_file
            try:
                return _read_idx_stream(stream, path, None if compressed else size, limit)
            except (OSError, EOFError, zlib.error) as exc:
                if not compressed:
                    raise
                raise DataError(f"{path}: corrupt gzip data ({exc})") from None
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except FileRefused as exc:
        raise DataError(str(exc)) from None


def _read_idx_stream(stream, path: Path, size: int | None, limit: int) -> np.ndarray:
    """The IDX array in `stream` (a file of `size` bytes, or None for a decompressing stream of unknown size)."""
    head = stream.read(4)
    if len(head) < 4 or head[0] != 0 or head[1] != 0:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    dtypes = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    dtype = dtypes.get(head[2])
    ndim = head[3]
    if dtype is None or ndim == 0:
        raise DataError(f"{path}: not an IDX file (type 0x{head[2]:02x}, {ndim} dimensions)")
    dims = stream.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", dims)
    count = int(np.prod(shape, dtype=object)) * np.dtype(dtype).itemsize
    if count > limit:
        raise DataError(f"{path}: its header promises {count:,} bytes of data, more than igc reads "
                        f"(at most {limit:,}; MNIST's largest file holds 47 MB)")
    header = 4 + 4 * ndim
    if size is not None and size - header != count:
        raise DataError(f"{path}: holds {size - header} data bytes, its header promises {count} (truncated?)")
    data = stream.read(count + 1)  # one byte more than promised: never decompresses beyond that
    if len(data) != count:
        held = f"more than {count}" if len(data) > count else str(len(data))
        raise DataError(f"{path}: holds {held} data bytes, its header promises {count} (truncated or padded?)")
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(np.dtype(dtype).newbyteorder("="))


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
    """Download the four MNIST files into `folder` over https, verifying their SHA-256 checksums."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder} is a file, not a folder for the MNIST files")
    for name, sha256 in MNIST_FILES.items():
        if _find(folder, name):
            continue
        errors = []
        for mirror in mirrors:
            if urllib.parse.urlsplit(mirror).scheme not in ("https", "file"):
                errors.append(f"{mirror}: not https (refused)")
                continue
            try:
                with urllib.request.urlopen(mirror + name, timeout=timeout) as response:
                    payload = response.read(MAX_DOWNLOAD_BYTES + 1)
            except OSError as exc:
                errors.append(f"{mirror}: {exc}")
                continue
            if len(payload) > MAX_DOWNLOAD_BYTES or hashlib.sha256(payload).hexdigest() != sha256:
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
