"""The not-MNIST test sets: framed 28x28 images with the right labels, built by our own code."""

from __future__ import annotations

import numpy as np
import pytest

from igc_core import testsets
from igc_core.data import load_dataset


@pytest.fixture(scope="module")
def a_font():
    fonts = testsets.find_fonts()
    if not fonts:
        pytest.skip("no TrueType/OpenType fonts on this machine")
    return fonts[:1]


def _framed(images: np.ndarray) -> None:
    assert images.ndim == 3 and images.shape[1:] == (28, 28) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1 and (images.reshape(len(images), -1).max(1) > 0.5).all()
    # framed like MNIST: ink within the middle 20x20 box along its longer side, centre of mass near (14, 14)
    ys, xs = np.indices((28, 28))
    mass = images.sum((1, 2))
    assert np.all(np.abs((images * ys).sum((1, 2)) / mass - 14) < 1.5)
    assert np.all(np.abs((images * xs).sum((1, 2)) / mass - 14) < 1.5)


def test_typeset_digits_have_their_value_as_label(a_font):
    ts = testsets.typeset(a_font, sizes=(24, 48))
    _framed(ts.images)
    assert len(ts) == 20 and ts.labels.tolist() == [int(c) for c in "0123456789" for _ in range(2)]
    assert set(ts.chars) == set("0123456789") and len(ts.sources) == 1
    assert ts.sizes.tolist() == [24, 48] * 10 and len(set(ts.styles)) == 1
    assert ts.styles[0] in ("regular", "italic", "bold", "bold italic", "light", "light italic")
    by_size = testsets.accuracy_by_group(ts, ts.labels, "size")
    assert by_size == [{"size": 24, "images": 10, "correct": 10}, {"size": 48, "images": 10, "correct": 10}]
    assert testsets.accuracy_by_group(ts, np.zeros_like(ts.labels), "style") == [{"style": ts.styles[0], "images": 20, "correct": 2}]


def test_letters_are_out_of_class_beside_digits_of_the_same_face(a_font):
    ts = testsets.letters(a_font, sizes=(32,))
    _framed(ts.images)
    assert "".join(ts.chars) == testsets.DIGITS + testsets.LETTERS
    assert ts.labels[:10].tolist() == list(range(10)) and (ts.labels[10:] == -1).all()
    # OOC separation: letters scored higher than digits (here by construction) gives AUROC 1
    ooc = np.where(ts.labels < 0, 1.0, 0.0) + 0.01 * np.arange(len(ts))
    report = testsets.out_of_class_report(ts, ooc)
    assert report["auroc"] == 1.0 and report["fpr_at_95tpr"] == 0.0 and report["others"] == 52
    rows = testsets.accuracy_by_group(ts, np.where(ts.labels >= 0, ts.labels, 0))
    assert rows == [{"group": ts.sources[0], "images": 10, "correct": 10}]


def test_strokes_redraw_mnist_test_digits_in_every_variant(tiny_data_dir):
    test = load_dataset(tiny_data_dir, "test", download=False)
    ts = testsets.strokes(test, limit=4)
    _framed(ts.images)
    assert len(ts) == 4 * len(testsets.STROKE_VARIANTS)
    assert ts.labels.tolist() == test.labels[:4].tolist() * len(testsets.STROKE_VARIANTS)
    thin, thick = ts.images[ts.groups == "thin"], ts.images[ts.groups == "thick"]
    assert thin.sum() < thick.sum()  # a thin pen leaves less ink than a marker
    with pytest.raises(ValueError, match="no size"):
        testsets.accuracy_by_group(ts, ts.labels, "size")


def test_unknown_set_and_missing_data_say_what_to_do():
    with pytest.raises(ValueError, match="unknown test set"):
        testsets.build("cursive")
    with pytest.raises(ValueError, match="MNIST test set"):
        testsets.build("strokes")
    with pytest.raises(ValueError, match="no TrueType"):
        testsets.typeset([])


def test_evaluate_set_command_on_a_folder_of_fonts(a_font, tiny_model, tmp_path, capsys):
    import json

    from igc_core import checkpoints
    from igc_core.cli import main

    folder = tmp_path / "fonts"
    folder.mkdir()
    (folder / a_font[0].name).symlink_to(a_font[0])
    model = tmp_path / "tiny"
    checkpoints.save(tiny_model, model, {"command": "test"})
    report = tmp_path / "letters.json"
    args = ["evaluate", "--set", "letters", "--fonts", str(folder), "--model", str(model), "--steps", "2", "--cnn", "none",
            "--quiet", "--json", str(report)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "OOC letters vs digits" in out and "| digit | digits | IGC % |" in out
    assert main(["evaluate", "--set", "typeset", "--fonts", str(folder), "--model", str(model), "--steps", "2", "--cnn", "none",
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "| font size px | digits | IGC % |" in out and "| weight and slant | digits | IGC % |" in out
    # --save-metrics: the model card records each set's result and the command that measured it
    for name in ("typeset", "letters"):
        assert main(["evaluate", "--set", name, "--fonts", str(folder), "--model", str(model), "--steps", "2", "--cnn",
                     "none", "--quiet", "--save-metrics"]) == 0
    card = json.loads((tmp_path / "tiny.json").read_text())["metrics"]["not_mnist"]
    assert set(card) == {"typeset", "letters"} and card["typeset"]["images"] == 40
    assert set(card["typeset"]["by_size_px"]) == {"14", "24", "48", "96"} and 0 <= card["letters"]["ooc_auroc"] <= 1
    assert "--save-metrics" in card["letters"]["measured_by"]
    data = json.loads(report.read_text())
    assert data["images"] == 62 and data["sources"] == [testsets.face_name(a_font[0])] and 0 <= data["ooc"]["auroc"] <= 1
    assert main(["evaluate", "--set", "typeset", "--fonts", str(tmp_path / "none"), "--model", str(model), "--quiet"]) == 2
    assert "no .ttf or .otf" in capsys.readouterr().err


def test_printed_training_digits_never_use_a_held_out_face():
    train, held_out = testsets.split_fonts(testsets.find_fonts())
    assert not any(testsets.is_training_design(testsets.face_name(f)) for f in held_out)
    if not train or not held_out:
        pytest.skip("needs faces of both the training designs and others")
    printed = testsets.printed_digits(train[:1], sizes=(28,))
    assert printed.images.shape == (10, 28, 28) and printed.images.dtype == np.uint8
    assert printed.labels.tolist() == list(range(10))
    with pytest.raises(ValueError, match="held-out faces"):
        testsets.printed_digits(held_out[:1], sizes=(28,))
