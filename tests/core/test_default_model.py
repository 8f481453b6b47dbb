"""The shipped default generator does its job: real MNIST digits, classified from files, at the paper's settings."""

from __future__ import annotations

import json

import numpy as np

from igc_core.cli import main
from igc_core.data import load_dataset, to_model_range
from igc_core.framing import save_digit_png
from igc_core.search import PRESETS, search


def test_default_model_classifies_real_digits_at_the_papers_settings(default_model, mnist_dir):
    model, _ = default_model
    test = load_dataset(mnist_dir, "test", download=False)
    result = search(model, to_model_range(test.images[:60]), PRESETS["paper"])
    assert np.mean(result.labels == test.labels[:60]) >= 0.93
    assert not result.diverged.any()


def test_classify_files_with_the_default_model(default_model, mnist_dir, tmp_path, capsys):
    test = load_dataset(mnist_dir, "test", download=False)
    paths = []
    for i in range(5):
        path = tmp_path / f"digit{i}.png"
        save_digit_png(test.images[i] / 255.0, path)
        paths.append(str(path))
    assert main(["classify", *paths, "--json", "--quiet"]) == 0
    labels = [json.loads(line)["label"] for line in capsys.readouterr().out.splitlines()]
    assert labels == test.labels[:5].tolist()


def test_the_shipped_samples_read_right_and_in_class_with_the_default(capsys):
    """Issue 14: samples a teacher can show: each of assets/samples/0-9.png reads as its class and "in class" with
    the default model and search, whose verdict the sidecar calibrates."""
    from pathlib import Path

    samples = Path(__file__).resolve().parents[2] / "assets" / "samples"
    paths = [str(samples / f"{d}.png") for d in range(10)]
    assert main(["classify", *paths, "--json", "--quiet", "--threads", "1"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["label"] for r in records] == list(range(10))
    assert [r["verdict"] for r in records] == ["in class"] * 10 and all(r["ooc_score"] == "ink" for r in records)


def test_the_default_sidecars_carry_calibrations_for_the_default_and_the_papers_search():
    from igc_core import checkpoints, verdict
    from igc_core.search import SearchConfig

    for name in ("default", "two-digit"):
        _, meta = checkpoints.load_generator(checkpoints.paths(asset(name))[0])
        assert verdict.find(meta, SearchConfig.from_preset(None)) is not None, name
    _, meta = checkpoints.load_generator(None)
    assert verdict.find(meta, SearchConfig.from_preset("paper")) is not None  # paper = igc's distances in fp32


def asset(name: str):
    from pathlib import Path

    return Path(__file__).resolve().parents[2] / "assets" / name
