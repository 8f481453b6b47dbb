"""Evaluation: metrics against brute force, and `igc evaluate` / `igc bench` end to end on tiny data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from igc_core import checkpoints
from igc_core.cli import main
from igc_core.evaluate import auroc, noisy_images, ood_report, wilson_interval


def test_auroc_matches_pairwise_count():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 60).round(1), rng.normal(1, 1, 40).round(1)  # rounded: ties included
    pairs = (b[None, :] > a[:, None]).mean() + 0.5 * (b[None, :] == a[:, None]).mean()
    assert auroc(a, b) == pytest.approx(pairs)
    assert auroc(np.zeros(3), np.ones(3)) == 1.0 and auroc(np.ones(3), np.zeros(3)) == 0.0


def test_wilson_interval_brackets_the_proportion():
    lo, hi = wilson_interval(951, 1000)
    assert lo < 95.1 < hi and hi - lo == pytest.approx(2.7, abs=0.1)  # the paper's +-1.4 points
    lo, hi = wilson_interval(9900, 10000)
    assert hi - lo < 0.5


def test_ood_report_threshold_and_rates():
    digits = np.linspace(0.0, 1.0, 101)
    threshold, rows = ood_report(digits, {"far": np.full(50, 2.0), "same": digits.copy()})
    assert threshold == pytest.approx(0.95)
    far, same = rows
    assert far["auroc"] == 1.0 and far["fpr_at_95tpr"] == 0.0
    assert same["auroc"] == pytest.approx(0.5) and same["fpr_at_95tpr"] == pytest.approx(96 / 101, abs=1e-4)


def test_noise_is_seeded_and_scaled():
    images = np.zeros((3, 28, 28), np.uint8)
    assert np.array_equal(noisy_images(images, 0.2), noisy_images(images, 0.2))
    assert np.array_equal(noisy_images(images, 0.0), np.full((3, 28, 28), -0.5, np.float32))


@pytest.fixture
def tiny_checkpoints(tiny_data_dir, tmp_path):
    gen, cnn = tmp_path / "gen", tmp_path / "cnn"
    assert main(["train", "--model", "cvae", "--data", str(tiny_data_dir), "--out", str(gen), "--epochs", "1",
                 "--latent", "4", "--hidden", "32,32", "--check", "0", "--quiet"]) == 0
    assert main(["train", "--model", "cnn", "--data", str(tiny_data_dir), "--out", str(cnn), "--epochs", "2", "--quiet"]) == 0
    return gen, cnn


def test_evaluate_prints_the_papers_table_with_ours(tiny_data_dir, tiny_checkpoints, tmp_path, capsys):
    gen, cnn = tiny_checkpoints
    out = tmp_path / "eval.json"
    assert main(["evaluate", "--data", str(tiny_data_dir), "--model", str(gen), "--cnn", str(cnn), "--limit", "20",
                 "--sigmas", "0,0.4", "--restarts", "1,2", "--steps", "3", "--json", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "| IGC | 1 | 0.4 |" in text and "| CNN |  | 0 |" in text and "95.1" in text
    report = json.loads(out.read_text())
    assert len(report["rows"]) == 6 and report["images"] == 20
    row = report["rows"][0]
    assert row["paper_accuracy"] == 95.1 and row["ci95"][0] <= row["accuracy"] <= row["ci95"][1]
    assert report["command"].startswith("igc evaluate")


def test_evaluate_ood_saves_a_threshold(tiny_data_dir, tiny_checkpoints, tmp_path, capsys):
    gen, _ = tiny_checkpoints
    assert main(["evaluate", "--data", str(tiny_data_dir), "--model", str(gen), "--ood", str(tiny_data_dir),
                 "--limit", "10", "--steps", "2", "--save-threshold", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "AUROC" in text and "uniform noise" in text and "gaussian noise" in text
    threshold = checkpoints.recommended_threshold(checkpoints.load(gen)[1])
    assert threshold is not None and threshold > 0


def test_bench_reports_both_ways_and_their_ratio(tiny_data_dir, tiny_checkpoints, tmp_path, capsys):
    gen, _ = tiny_checkpoints
    out = tmp_path / "bench.json"
    assert main(["bench", "--data", str(tiny_data_dir), "--model", str(gen), "--images", "12", "--loop-images", "3",
                 "--repeats", "1", "--steps", "2", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["batched"]["images"] == 12 and report["loop"]["images"] == 3
    assert report["loop"]["same_labels_as_batched"] == 3
    assert report["speedup"] == pytest.approx(report["loop"]["seconds_per_image"] / report["batched"]["seconds_per_image"])
    assert "faster per image" in capsys.readouterr().out


def test_bench_compare_times_models_side_by_side(tiny_model, tiny_data_dir, tmp_path, capsys):
    """`igc bench --compare`: every model on the same images, rounds taken in turn, ratios to the first."""
    import json

    import torch

    from igc_core import checkpoints
    from igc_core.cli import main
    from igc_core.generators import ConditionalGenerator, GeneratorConfig

    first, second = tmp_path / "first", tmp_path / "second"
    checkpoints.save(tiny_model, first, {"command": "test"})
    torch.manual_seed(1)
    checkpoints.save(ConditionalGenerator(GeneratorConfig(latent_dim=2, hidden=(8,), encoder_hidden=(8,))).eval(), second, {"command": "test"})
    out = tmp_path / "bench.json"
    code = main(["bench", "--model", str(first), "--compare", str(second), "--data", str(tiny_data_dir), "--images", "16",
                 "--repeats", "2", "--steps", "2", "--threads", "1", "--precision", "fp32", "--json", str(out)])
    assert code == 0
    assert "| model | ms/image (fastest round) |" in capsys.readouterr().out
    rows = json.loads(out.read_text())["compare"]
    assert [r["model"] for r in rows][1] == str(second) and rows[0]["ratio_to_first"] == 1.0
    assert all(r["images"] == 16 and r["rounds"] == 2 and 0 <= r["accuracy"] <= 1 and r["seconds_per_image"] > 0 for r in rows)
    assert main(["bench", "--model", str(first), "--compare", str(tmp_path / "missing"), "--data", str(tiny_data_dir),
                 "--images", "8", "--steps", "1", "--quiet"]) == 2
