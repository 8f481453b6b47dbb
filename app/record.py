"""The search as an animation for a slide: one frame per recorded step, from the recorded history (no new search).

`record(path, session, grab)` asks the session for the screen as it was at each recorded step (`Session.view_at`:
provisional until the end, the curves drawn up to that step) and `grab(view)` paints it: the window
(`MainWindow.grab_view`) or the exported figure (`export.render_figure`). A GIF is written with Pillow: one palette
for the whole animation (taken from the first and the last frames, so colours never flicker), no dithering, and
every pixel that did not change since the frame before left transparent, so a frame costs only what moved; the last
frame is held. `.mp4` (H.264) and `.webm` (VP9) need imageio with its ffmpeg plugin (the `video` extra:
`pip install imageio imageio-ffmpeg`), and say so when it is missing: 12.5 frames a second, the last frame repeated
for its hold, the size rounded down to even (yuv420p, which every player reads, halves the colour resolution).
Either file is written whole or not at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import io
import tempfile

import numpy as np
from PIL import Image
from PySide6.QtGui import QImage

from igc_core.files import write_atomically

from .style import CLASS_COLOURS, INK, MUTED

FORMATS = (".gif", ".mp4", ".webm")
FRAME_MS = 80  # a 100-step search plays in about 8 s
HOLD_MS = 3000  # the last frame (the verdict) stays on screen
MAX_FRAMES = 240  # longer runs are sampled evenly (the first and the last step always kept)
TRANSPARENT = 255  # the palette index of "unchanged since the frame before"


def check_path(path: str | Path) -> Path:
    """The output path, or ValueError saying what is possible."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"an animation is written as {', '.join(FORMATS)}; got {path.name!r}")
    if suffix != ".gif" and not video_available():
        raise ValueError(f"writing {suffix} needs imageio and its ffmpeg plugin (pip install imageio imageio-ffmpeg, "
                         "or igc's video extra); a .gif needs nothing more")
    return path


def video_available() -> bool:
    """Whether .mp4 / .webm can be written: imageio, its ffmpeg plugin, and an ffmpeg program it can run."""
    try:
        import imageio.v2  # noqa: F401
        import imageio_ffmpeg
        imageio_ffmpeg.get_ffmpeg_exe()  # the plugin's own binary, or a system one; RuntimeError when neither runs
    except (ImportError, RuntimeError):
        return False
    return True


def frame_indices(n: int, most: int = MAX_FRAMES) -> list[int]:
    """Which of `n` recorded frames to show: all of them, or `most` spread evenly (first and last included)."""
    if n <= most:
        return list(range(n))
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, most)})


def to_pil(image: QImage) -> Image.Image:
    """A QImage as an RGB Pillow image (a copy)."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h = image.width(), image.height()
    data = np.frombuffer(image.constBits(), np.uint8).reshape(h, image.bytesPerLine())[:, : 3 * w]
    return Image.fromarray(data.reshape(h, w, 3).copy(), "RGB")


def record(path: str | Path, session, grab: Callable[[object], QImage],
           progress: Callable[[int, int], None] | None = None) -> Path:
    """Write the session's recorded run as an animation at `path` (.gif, or .mp4 / .webm with imageio-ffmpeg)."""
    path = check_path(path)
    n = len(session.history)
    if n < 1 or session.view.run is None:
        raise ValueError("there is no run to record yet: run a search first (Space)")
    if session.is_active():
        raise ValueError("the search is still running: record it once it has finished (or stop it)")
    indices = frame_indices(n)
    frames = []
    for k, i in enumerate(indices):
        frames.append(to_pil(grab(session.view_at(i))))
        if progress is not None:
            progress(k + 1, len(indices))
    durations = [FRAME_MS] * (len(frames) - 1) + [HOLD_MS]
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        write_gif(path, frames, durations)
    else:
        write_video(path, frames, durations)
    return path


def write_gif(path: Path, frames: list[Image.Image], durations: list[int]) -> None:
    """One palette (255 colours from the first and last frames, index 255 transparent), unchanged pixels transparent."""
    first, last = frames[0], frames[-1]
    both = Image.new("RGB", (first.width, first.height * 2))
    both.paste(first, (0, 0))
    both.paste(last, (0, first.height))
    fixed = [_rgb(c) for c in (*CLASS_COLOURS, INK, MUTED, "#ffffff", "#000000")]  # the class colours stay exact
    found = both.quantize(colors=255 - len(fixed), method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    colours = found.getpalette()[: 3 * (255 - len(fixed))] + [v for rgb in fixed for v in rgb]
    palette = Image.new("P", (1, 1))
    palette.putpalette(colours + [255, 0, 255])
    indexed = [np.asarray(f.quantize(palette=palette, dither=Image.Dither.NONE)) for f in frames]
    out = [Image.fromarray(indexed[0], "P")]
    for prev, now in zip(indexed, indexed[1:]):
        delta = np.where(now == prev, TRANSPARENT, now).astype(np.uint8)
        out.append(Image.fromarray(delta, "P"))
    pal = palette.getpalette()[: 3 * 255] + [255, 0, 255]  # index 255 never shows (transparent)
    for im in out:
        im.putpalette(pal)
    data = io.BytesIO()
    out[0].save(data, format="GIF", save_all=True, append_images=out[1:], duration=durations, loop=0, disposal=1,
                transparency=TRANSPARENT, optimize=False)
    write_atomically(path, data.getvalue())


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


# What each container gets from ffmpeg: a codec and its options, both at constant quality (crf; VP9 needs -b:v 0 for
# it, else libvpx warns and guesses). H.264's index goes at the front, so that a browser or a slide starts playing
# before the whole file has arrived; VP9 at a speed that halves its encoding time for a slightly larger file.
CODECS = {
    ".mp4": ("libx264", ("-crf", "25", "-movflags", "+faststart")),
    ".webm": ("libvpx-vp9", ("-crf", "32", "-b:v", "0", "-deadline", "good", "-cpu-used", "4", "-row-mt", "1")),
}


def write_video(path: Path, frames: Iterable[Image.Image], durations: list[int]) -> None:
    """An .mp4 or .webm through imageio's ffmpeg plugin: FRAME_MS a frame, the last one repeated for its hold, each
    frame cut to an even width and height (the codecs' yuv420p needs them). Written in a temporary folder first, so
    a failure leaves nothing at `path`."""
    import imageio.v2 as imageio

    frames = list(frames)
    hold = max(1, round(durations[-1] / FRAME_MS))
    codec, options = CODECS[path.suffix.lower()]
    with tempfile.TemporaryDirectory(prefix="igc-video-") as folder:
        tmp = Path(folder) / f"run{path.suffix.lower()}"
        with imageio.get_writer(str(tmp), format="FFMPEG", fps=1000 / FRAME_MS, codec=codec, quality=None,
                                output_params=list(options), pixelformat="yuv420p", macro_block_size=2) as writer:
            for k, frame in enumerate(frames):
                even = np.asarray(frame)[: frame.height // 2 * 2, : frame.width // 2 * 2]
                for _ in range(hold if k == len(frames) - 1 else 1):
                    writer.append_data(even)
        write_atomically(path, tmp.read_bytes())
