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
