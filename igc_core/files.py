"""Reading and writing the files a user (or anyone) can put in igc's way, without hanging, exhausting memory or
losing what was there.

- `read_regular` reads a regular file only, and only up to a size limit: a FIFO, a device (a link to /dev/zero),
  a folder or a socket is refused at once instead of blocking or reading forever.
- `load_json` adds what JSON needs beyond that: a size limit before parsing and a nesting limit (a deeply nested
  document is refused with a message, never a RecursionError).
- `user_path` says where igc keeps a user's files (settings, caches, data sets) unless told otherwise.
- `write_atomically` writes whole or not at all (a temporary file in the same folder, then a rename): a full disk,
  a folder where the file should be, or an interrupt leaves the old file as it was and no temporary file behind.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

MAX_JSON_BYTES = 1 << 20  # sidecars are a few kB (the largest shipped one ~10 kB); runtime.json less
MAX_JSON_DEPTH = 32  # the deepest shipped sidecar nests 5 levels


XDG_BASES = {"cache": ("XDG_CACHE_HOME", ".cache"), "config": ("XDG_CONFIG_HOME", ".config")}


def user_path(env: str, base: str, name: str = "") -> Path:
    """`$env` if it is set (`~` expanded), else `<base folder>/igc/<name>`, the base folder being the XDG one:
    "cache" ($XDG_CACHE_HOME, else ~/.cache) or "config" ($XDG_CONFIG_HOME, else ~/.config)."""
    own = os.environ.get(env)
    if own:
        return Path(own).expanduser()
    xdg, fallback = XDG_BASES[base]
    return Path(os.environ.get(xdg) or Path.home() / fallback) / "igc" / name


class FileRefused(ValueError):
    """A file that igc will not read (not a regular file, too large, too deeply nested), with the reason."""


def regular_size(path: str | Path, what: str = "file") -> int:
    """The size of `path` if it is a regular file (links followed); raises FileRefused for a FIFO, a device or a
    socket, which could block a reader or never end (IsADirectoryError for a folder, FileNotFoundError)."""
    info = os.stat(path)
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(21, "is a folder", str(path))
    if not stat.S_ISREG(info.st_mode):
        kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(info.st_mode)
                else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) else "a socket or other special file")
        raise FileRefused(f"{Path(path).name} is {kind}, not a regular {what}")
    return info.st_size


def read_regular(path: str | Path, limit: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most `limit` bytes.

    The file is opened without blocking (a FIFO swapped in after the check cannot hang the open) and checked
    again on the open descriptor, and never more than `limit` + 1 bytes are read.
    """
    regular_size(path, what)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(f"{Path(path).name} is not a regular {what}")
        if info.st_size > limit:
            raise FileRefused(f"{Path(path).name} is {info.st_size:,} bytes: too large for a {what} (at most {limit:,})")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise FileRefused(f"{Path(path).name} is too large for a {what} (over {limit:,} bytes)")
    return data


def depth(value: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """How deeply lists and dicts nest in `value` (a scalar: 0), counted without recursion and up to `limit` + 1."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def parse_json(text: str | bytes, name: str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON, refusing a document nested deeper than `max_depth` (FileRefused) and invalid JSON (ValueError)."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise FileRefused(f"{name} nests too deeply to be read (at most {max_depth} levels)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{name} is not valid JSON ({exc})") from None
    if depth(value, max_depth) > max_depth:
        raise FileRefused(f"{name} nests too deeply to be read (at most {max_depth} levels)")
    return value


def load_json(path: str | Path, limit: int = MAX_JSON_BYTES, what: str = "JSON file") -> Any:
    """A regular JSON file of at most `limit` bytes and MAX_JSON_DEPTH levels; FileRefused or ValueError otherwise."""
    return parse_json(read_regular(path, limit, what), Path(path).name)


def write_atomically(path: str | Path, data: bytes, mode: int | None = None) -> None:
    """Write `data` to `path` whole or not at all: a new temporary file in the same folder, flushed, then renamed
    over `path`. The file keeps its permissions (a new one gets `mode`, default rw-r--r--); on any failure the
    temporary file is removed and `path` is as it was."""
    path = Path(path)
    if mode is None:
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:
            mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
