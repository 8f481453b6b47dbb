"""IDX loading, downloading, and MNIST-style framing of user images."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest
from PIL import Image

from synthetic import synthetic_digits, write_idx
from igc_core import data, framing
from igc_core.data import DataError


def test_read_idx_round_trip_compressed_and_plain(tmp_path):
    images, _ = synthetic_digits(5)
    assert np.array_equal(data.read_idx(write_idx(tmp_path / "a.gz", images)), images)
    assert np.array_equal(data.read_idx(write_idx(tmp_path / "b", images, compress=False)), images)


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"\x01\x02\x08\x01\x00\x00\x00\x01\x00", "bad magic"),
        (bytes([0, 0, 0x08, 3]) + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"\x00" * 100, "truncated"),
        (bytes([0, 0, 0x07, 1]) + (1).to_bytes(4, "big") + b"\x00", "not an IDX"),
        (gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01")[:-6], "corrupt gzip"),
    ],
)
def test_read_idx_rejects_bad_files(tmp_path, payload, message):
    path = tmp_path / "bad"
    path.write_bytes(payload)
    with pytest.raises(DataError, match=message):
        data.read_idx(path)


def test_load_dataset_from_any_folder(tiny_data_dir):
    train = data.load_dataset(tiny_data_dir, "train", download=False)
    assert train.images.shape == (256, 28, 28) and train.images.dtype == np.uint8
    assert len(train) == 256 and train.labels.dtype == np.int64
    with pytest.raises(DataError, match="unknown split"):
        data.load_dataset(tiny_data_dir, "validation")


def test_real_mnist_and_fashion_load(mnist_dir):
    test = data.load_dataset(mnist_dir, "test", download=False)
    assert test.images.shape == (10000, 28, 28)
    assert np.bincount(test.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    fashion = mnist_dir.parent / "fashion-mnist"
    if fashion.exists():
        assert data.load_dataset(fashion, "test", download=False).images.shape == (10000, 28, 28)


def test_missing_files_without_download_say_what_is_missing(tmp_path):
    with pytest.raises(DataError, match="lacks t10k-images"):
        data.load_dataset(tmp_path, "test", download=False)


def test_download_verifies_checksums_and_explains_failure(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    images, labels = synthetic_digits(8)
    sums = {}
    for name in data.MNIST_FILES:
        array = images if "images" in name else labels
        path = write_idx(mirror / name, array)
        sums[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setattr(data, "MNIST_FILES", sums)
    target = tmp_path / "cache"
    data.download_mnist(target, mirrors=(mirror.as_uri() + "/",))
    assert data.load_dataset(target, "train", download=False).images.shape == (8, 28, 28)

    # a mirror serving different bytes fails the checksum, and the message says where to put the files
    bad = dict(sums, **{"t10k-labels-idx1-ubyte.gz": "0" * 64})
    monkeypatch.setattr(data, "MNIST_FILES", bad)
    with pytest.raises(DataError, match="(?s)checksum mismatch.*Put the four MNIST files"):
        data.download_mnist(tmp_path / "other", mirrors=(mirror.as_uri() + "/",))


def test_default_data_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("IGC_DATA", str(tmp_path))
    assert data.default_data_dir() == tmp_path


def test_noise_is_the_papers_clipped_gaussian():
    x = np.full((100, 28, 28), -0.5, np.float32)
    noisy = data.add_noise(x, 0.4, np.random.default_rng(0))
    assert noisy.min() >= -0.5 and noisy.max() <= 0.5
    assert 0.1 < (noisy + 0.5).mean() < 0.2  # E[max(0, 0.4 N)] = 0.4 / sqrt(2 pi) ~ 0.16
    assert np.array_equal(data.add_noise(x, 0.0, np.random.default_rng(0)), x)


# ------------------------------------------------------------------------------------------- framing


def test_framing_reproduces_mnist_digits(mnist_dir):
    test = data.load_dataset(mnist_dir, "test", download=False)
    for image in test.images[:50]:
        framed = framing.frame_digit(image / 255.0)
        # the same place and size; only specks fainter than the ink threshold (5%) may be dropped
        assert np.abs(framed - image / 255.0).max() < 0.05
        assert np.abs(framed - image / 255.0).mean() < 1e-3


def _digit_canvas(width=300, height=200, dark_on_light=True):
    """A big drawing of a '7'-like stroke, off-centre."""
    image = Image.new("L", (width, height), 255 if dark_on_light else 0)
    from PIL import ImageDraw

    draw = ImageDraw.Draw(image)
    ink = 0 if dark_on_light else 255
    draw.line([(40, 30), (140, 30), (80, 170)], fill=ink, width=14)
    return image


def _check_framed(framed):
    assert framed.shape == (28, 28) and framed.dtype == np.float32
    assert 0 <= framed.min() and framed.max() <= 1 and framed.max() > 0.9
    ys, xs = np.nonzero(framed > 0.05)
    assert max(ys.max() - ys.min(), xs.max() - xs.min()) <= 21  # fitted into the 20x20 box
    yy, xx = np.indices(framed.shape)
    cy, cx = (yy * framed).sum() / framed.sum(), (xx * framed).sum() / framed.sum()
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1  # centred by centre of mass


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "I;16", "1"])
def test_load_image_any_mode_dark_on_light(tmp_path, mode):
    image = _digit_canvas()
    if mode == "I;16":
        image = Image.fromarray((np.asarray(image, np.uint16) * 257).astype(np.uint16))
    else:
        image = image.convert(mode)
    path = tmp_path / f"digit_{mode.replace(';', '')}.png"
    image.save(path)
    framed = framing.load_image(path)
    _check_framed(framed)
    light = framing.load_image(_save(tmp_path / "light.png", _digit_canvas(dark_on_light=False)))
    assert np.abs(framed - light).mean() < 0.02  # inverted to the same light-on-dark digit


def _save(path, image):
    image.save(path)
    return path


def test_transparent_background_strokes(tmp_path):
    image = Image.new("RGBA", (120, 120), (0, 0, 0, 0))
    from PIL import ImageDraw

    ImageDraw.Draw(image).line([(60, 10), (60, 110)], fill=(20, 20, 20, 255), width=10)
    framed = framing.load_image(_save(tmp_path / "t.png", image))
    _check_framed(framed)


def test_jpeg_and_bmp(tmp_path):
    for ext in ("jpg", "bmp"):
        _check_framed(framing.load_image(_save(tmp_path / f"d.{ext}", _digit_canvas().convert("RGB"))))


@pytest.mark.parametrize(
    "content, message",
    [
        (b"hello, I am text", "not an image"),
        (b"", "not an image"),
    ],
)
def test_non_images_are_refused_clearly(tmp_path, content, message):
    path = tmp_path / "x.png"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        framing.load_image(path)


def test_truncated_empty_missing_and_huge_images(tmp_path, monkeypatch):
    good = _save(tmp_path / "good.png", _digit_canvas())
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(DataError, match="truncated|corrupt"):
        framing.load_image(truncated)
    with pytest.raises(DataError, match="empty"):
        framing.load_image(_save(tmp_path / "blank.png", Image.new("L", (50, 50), 255)))
    with pytest.raises(DataError, match="no such file"):
        framing.load_image(tmp_path / "nope.png")
    with pytest.raises(DataError, match="folder"):
        framing.load_image(tmp_path)
    monkeypatch.setattr(framing, "MAX_PIXELS", 1000)
    with pytest.raises(DataError, match="too large"):
        framing.load_image(good)


def test_frame_digit_rejects_empty_and_nan():
    with pytest.raises(DataError, match="empty"):
        framing.frame_digit(np.zeros((100, 100)))
    with pytest.raises(DataError, match="NaN"):
        framing.frame_digit(np.full((10, 10), np.nan))
    tiny = np.zeros((5, 5), np.float32)
    tiny[2, 2] = 1.0  # a single dot still frames to a visible mark
    assert framing.frame_digit(tiny).max() > 0


# ------------------------------------------------------------------------------ noise and large images


def test_a_28x28_image_is_taken_as_framed(tmp_path):
    rng = np.random.default_rng(0)
    digit = np.zeros((28, 28), np.float32)
    digit[6:22, 12:15] = 1.0  # a '1' already framed
    noisy = np.clip(digit + 0.4 * rng.standard_normal(digit.shape), 0, 1).astype(np.float32)
    framing.save_digit_png(noisy, tmp_path / "noisy.png")
    loaded = framing.load_image(tmp_path / "noisy.png")
    # as it was: not cropped to a noise-wide ink box, only the paper's tone (the border's median, here about
    # 0.01) removed and the ink stretched to full strength, in 8 bits
    assert np.abs(loaded - noisy / noisy.max()).max() <= 0.02


def _noisy_scan(sigma, seed=0, size=160):
    """A dark-on-light '7' drawn off-centre on a big page, with per-pixel Gaussian noise."""
    from PIL import ImageDraw

    image = Image.new("L", (size, size), 0)
    ImageDraw.Draw(image).line([(30, 20), (90, 20), (50, 100)], fill=255, width=9)
    ink = np.asarray(image, np.float32) / 255
    rng = np.random.default_rng(seed)
    noisy = np.clip(ink + sigma * rng.standard_normal(ink.shape), 0, 1)
    return Image.fromarray((255 * (1 - noisy)).round().astype(np.uint8)), ink


@pytest.mark.parametrize("sigma", [0.2, 0.4])
def test_noisy_scans_are_framed_like_the_clean_drawing(tmp_path, sigma):
    noisy, clean = _noisy_scan(sigma)
    noisy.save(tmp_path / "scan.png")
    framed = framing.load_image(tmp_path / "scan.png")
    reference = framing.frame_digit(clean)
    _check_framed(reference)
    # the digit found, cropped and centred as the clean drawing is: the noise did not widen the ink box
    ys, xs = np.nonzero(framed > 0.5)
    ry, rx = np.nonzero(reference > 0.5)
    assert abs((ys.max() - ys.min()) - (ry.max() - ry.min())) <= 2 and abs((xs.max() - xs.min()) - (rx.max() - rx.min())) <= 2
    assert np.abs(framed - reference).mean() < 0.08
    assert framed[reference < 0.05].mean() < 0.05  # the paper around the digit is clean


def test_a_stray_speck_does_not_shrink_the_digit():
    page = np.zeros((200, 200), np.float32)
    page[40:160, 95:105] = 1.0  # a '1'
    alone = framing.frame_digit(page)
    page[190:192, 5:7] = 1.0  # a speck of dust in the corner
    assert np.abs(framing.frame_digit(page) - alone).max() < 1e-6


def test_noise_level_estimates():
    rng = np.random.default_rng(1)
    flat = np.zeros((100, 100))
    flat[20:80, 45:55] = 1.0
    assert framing.noise_level(flat) == 0.0
    assert framing.noise_level(flat + 0.1 * rng.standard_normal(flat.shape)) == pytest.approx(0.1, rel=0.15)


def test_large_images_are_reduced_while_loading(tmp_path):
    import tracemalloc

    big = Image.new("L", (6000, 6000), 255)
    from PIL import ImageDraw

    ImageDraw.Draw(big).line([(1000, 1000), (5000, 1000), (2500, 5000)], fill=0, width=300)
    big.save(tmp_path / "big.png")
    big.convert("RGB").save(tmp_path / "big.jpg", quality=90)
    del big
    for name in ("big.png", "big.jpg"):
        tracemalloc.start()
        framed = framing.load_image(tmp_path / name)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        _check_framed(framed)
        assert peak < 100e6  # numpy work happens on the reduced image, not on 36 megapixels of floats


def test_decompression_bomb_is_refused_without_a_warning(tmp_path, monkeypatch, recwarn):
    Image.new("L", (3000, 3000), 255).save(tmp_path / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)  # Pillow's own limit below this image's size
    with pytest.raises(DataError, match="too large"):
        framing.load_image(tmp_path / "huge.png")
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


def test_data_option_pointing_at_a_file_or_a_missing_folder(tmp_path, monkeypatch):
    afile = tmp_path / "notes.txt"
    afile.write_text("x")
    with pytest.raises(DataError, match="is a file"):
        data.load_dataset(afile, "train")
    missing = tmp_path / "nowhere" / "mnist"

    def offline(*a, **k):
        raise OSError("network is unreachable")

    monkeypatch.setattr(data.urllib.request, "urlopen", offline)
    with pytest.raises(DataError, match="could not download"):
        data.load_dataset(missing, "train")
    assert not missing.exists() and not missing.parent.exists()  # nothing was created for nothing
