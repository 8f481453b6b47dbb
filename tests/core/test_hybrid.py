"""Hybrid training of issue 15 (the search-refined contrast term, non-digit marks as negatives, resuming a
stopped run) and the calibrated out-of-class verdict of issue 14 (igc_core.verdict)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from igc_core import checkpoints, marks, testsets, verdict
from igc_core.cli import main
from igc_core.data import load_dataset, to_model_range
from igc_core.generators import GeneratorConfig
from igc_core.search import SearchConfig
from igc_core.training import TrainConfig, train_generator

TINY = GeneratorConfig(latent_dim=2, hidden=(16, 24), encoder_hidden=(24,), latent_scale=0.5)


# ------------------------------------------------------------------------------------------ training


def test_training_negatives_are_framed_marks_and_repeat_with_the_seed():
    digits = torch.rand(8, 28, 28) - 0.5
    a = marks.training_negatives(40, torch.Generator().manual_seed(1), digits)
    b = marks.training_negatives(40, torch.Generator().manual_seed(1), digits)
    assert a.shape == (40, 28, 28) and torch.equal(a, b)
    assert float(a.min()) >= -0.5 and float(a.max()) <= 0.5
    assert bool(((a + 0.5).flatten(1).amax(1) > 0.5).all())  # every mark has ink
    with pytest.raises(ValueError, match="unknown mark"):
        marks.draw("digit", 2, torch.Generator())


def test_hand_drawn_letters_are_letters_no_hand_writes_as_a_digit_and_never_from_a_font():
    assert not set(marks.LETTERS) & set("OIlSZBGgqbo0123456789")
    x = marks.training_negatives(30, torch.Generator().manual_seed(2), kinds=("letter",))
    ink = (x + 0.5).flatten(1)
    assert bool((ink.amax(1) > 0.9).all())  # every letter is drawn
    # a letter is a few strokes, not a blob: between 5 % and 45 % of the framed square is ink
    share = (ink > 0.5).float().mean(1)
    assert bool((share > 0.05).all() and (share < 0.45).all()), share
    # jittered: no two of the same letter are the same picture
    assert len({tuple(v.round(decimals=2).tolist()) for v in x.flatten(1)}) == 30
    # nothing here reads a font (the letters test set is typeset; training must not share its source)
    assert "ImageFont" not in open(marks.__file__).read()


def test_refined_contrast_with_marks_trains_and_reports(tiny_data_dir):
    data = load_dataset(tiny_data_dir, "train", download=False)
    seen = []
    config = TrainConfig(epochs=1, batch_size=64, lr=5e-3, contrast=1.0, contrast_images=4, contrast_steps=2,
                         contrast_start="both", negatives=1.0, negative_images=3)
    model, _ = train_generator(TINY, data, config, lambda e, s, t, m: seen.append(m))
    assert seen and {"disc", "acc", "fit", "marks_in"} <= set(seen[-1])
    assert all(np.isfinite(m["disc"]) for m in seen)
    assert all(p.requires_grad for p in model.parameters())  # the refinement gave the weights back
    with pytest.raises(ValueError, match="part of the contrast term"):
        TrainConfig(negatives=1.0)
    with pytest.raises(ValueError, match="unknown contrast preset"):
        TrainConfig(contrast=1.0, contrast_preset="nope")
    with pytest.raises(ValueError, match="finite"):
        TrainConfig(lr=float("inf"))


class _Stop(Exception):
    pass


def test_a_stopped_run_resumes_to_the_same_model(tiny_data_dir, tmp_path):
    data = load_dataset(tiny_data_dir, "train", download=False)
    settings = dict(epochs=3, batch_size=64, lr=5e-3, contrast=1.0, contrast_images=4, contrast_steps=1, seed=2)
    whole, _ = train_generator(TINY, data, TrainConfig(**settings))

    folder = tmp_path / "state"
    config = TrainConfig(**settings, checkpoint=str(folder))

    def stop_in_epoch_two(epoch, step, total, metrics):
        if epoch == 1:
            raise _Stop

    with pytest.raises(_Stop):
        train_generator(TINY, data, config, stop_in_epoch_two)
    assert json.loads((folder / "state.json").read_text())["epochs_done"] == 1
    resumed, metrics = train_generator(TINY, data, config)
    assert metrics["resumed_at_epoch"] == 1
    for (k, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), k
    with pytest.raises(ValueError, match="other settings"):
        train_generator(TINY, data, TrainConfig(**{**settings, "lr": 1e-3}, checkpoint=str(folder)))


def test_train_resume_on_the_command_line(tiny_data_dir, tmp_path):
    args = ["train", "--model", "cvae", "--data", str(tiny_data_dir), "--epochs", "1", "--check", "0", "--quiet",
            "--threads", "1", "--latent", "2", "--hidden", "16,24", "--out", str(tmp_path / "m"),
            "--contrast", "1", "--contrast-steps", "1", "--negatives", "1", "--resume", str(tmp_path / "state")]
    assert main(args) == 0
    assert (tmp_path / "state" / "state.safetensors").exists()
    meta = json.loads((tmp_path / "m.json").read_text())
    assert meta["training"]["negatives"] == 1.0 and meta["training"]["contrast_steps"] == 1
    assert main(["train", "--model", "cgan", "--data", str(tiny_data_dir), "--out", str(tmp_path / "g"),
                 "--resume", str(tmp_path / "s2")]) == 2  # the cGAN does not take it


# ------------------------------------------------------------------------------------------- verdict


def test_the_marks_test_set_is_every_kind_in_every_pen_and_out_of_class():
    ts = testsets.marks(per_kind=1, kinds=("dot", "plus", "spiral"))
    assert len(ts) == 3 * len(testsets.MARK_PENS) and (ts.labels == -1).all()
    assert set(ts.groups) == {"dot", "plus", "spiral"}
    assert (ts.images.reshape(len(ts), -1).max(1) > 0.2).all()  # framed, with ink (a fine pen comes out faint)


def test_the_ink_score_divides_by_the_ink():
    best = np.array([0.02, 0.02])
    images = np.stack([np.full((28, 28), -0.5), np.full((28, 28), -0.5)])
    images[1, :14] = 0.5  # half the sheet inked
    score = verdict.ooc_score(best, images, "ink")
    assert score[0] > score[1]  # the same distance on less ink is the stranger fit
    assert np.allclose(verdict.ooc_score(best, images, "distance"), best)
    with pytest.raises(ValueError, match="unknown OOC score"):
        verdict.ooc_score(best, images, "magic")


def test_a_calibration_holds_for_its_own_settings_only():
    cal = verdict.Calibration("ink", verdict.settings_of(SearchConfig()), {0.0: 0.1, 0.4: 0.3}, margin=0.002)
    meta = verdict.with_calibration({}, cal)
    assert verdict.find(meta, SearchConfig()) == verdict.Calibration.from_dict(cal.to_dict())
    assert verdict.find(meta, SearchConfig(precision="fp32", threads=1, seed=3)) is not None  # no change of distances
    assert verdict.find(meta, SearchConfig(intensity="affine")) is None
    assert verdict.find(meta, SearchConfig(steps=30)) is None
    assert verdict.find(meta, SearchConfig()).threshold(0.2) == pytest.approx(0.2)
    again = verdict.with_calibration(meta, verdict.Calibration("ink", cal.settings, {0.0: 0.5}, margin=0.0))
    assert len(again["calibrations"]) == 1 and verdict.find(again, SearchConfig()).threshold(0) == 0.5
    for bad in ({"score": "magic"}, {**cal.to_dict(), "thresholds": {"0": -1}}, {**cal.to_dict(), "margin": "x"},
                {**cal.to_dict(), "thresholds": {"loud": 0.1}}, {**cal.to_dict(), "evil": 1}):
        with pytest.raises(ValueError):
            verdict.Calibration.from_dict(bad)


def test_judge_calls_in_uncertain_and_out():
    cal = verdict.Calibration("distance", {}, {0.0: 0.05}, margin=0.01)
    img = np.zeros((28, 28))
    assert verdict.judge(np.array([0.02, 0.1]), img, cal).kind == "in class"
    assert verdict.judge(np.array([0.02, 0.025]), img, cal).kind == "uncertain"
    assert verdict.judge(np.array([0.09, 0.2]), img, cal).kind == "out of class"
    assert verdict.judge(np.array([np.nan, 0.2]), img, cal).kind == "out of class"
    assert verdict.judge(np.array([0.02, 0.1]), img, None).kind is None


def test_measure_keeps_the_asked_share_of_digits(tiny_data_dir):
    data = load_dataset(tiny_data_dir, "test", download=False)
    model, _ = train_generator(TINY, load_dataset(tiny_data_dir, "train", download=False),
                               TrainConfig(epochs=1, batch_size=64, lr=5e-3))
    x = to_model_range(data.images[:60])
    config = SearchConfig(steps=5, threads=1)
    cal = verdict.measure(model, config, x, data.labels[:60], sigmas=(0.0, 0.3), keep=0.9)
    assert set(cal.thresholds) == {0.0, 0.3} and cal.settings == verdict.settings_of(config)
    from igc_core.search import search

    r = search(model, x, config)
    kept = verdict.ooc_score(r.distances.min(1), x, cal.score) <= cal.threshold(0)
    assert kept.mean() == pytest.approx(0.9, abs=0.02)
    assert cal.margin >= 0 and "0" in cal.report


def test_igc_calibrate_stores_a_calibration_the_sidecar_keeps(tiny_data_dir, tmp_path):
    model, _ = train_generator(TINY, load_dataset(tiny_data_dir, "train", download=False),
                               TrainConfig(epochs=1, batch_size=64, lr=5e-3))
    checkpoints.save(model, tmp_path / "m", {"command": "test"})
    assert main(["calibrate", "--model", str(tmp_path / "m"), "--data", str(tiny_data_dir), "--digits", "40",
                 "--sigmas", "0,0.2", "--steps", "5", "--threads", "1", "--quiet"]) == 0
    _, meta = checkpoints.load_generator(tmp_path / "m")
    cal = verdict.find(meta, SearchConfig.from_preset(None, steps=5))
    assert cal is not None and set(cal.thresholds) == {0.0, 0.2} and "igc calibrate" in cal.measured_by


def test_two_digit_candidates_are_each_label_in_turn_with_the_other_held_true():
    from igc_core.training import _candidates

    cand = _candidates(torch.tensor([[3, 7]]), (10, 10))
    assert cand.shape == (1, 20, 2)
    assert cand[0, :10, 0].tolist() == list(range(10)) and set(cand[0, :10, 1].tolist()) == {7}
    assert cand[0, 10:, 1].tolist() == list(range(10)) and set(cand[0, 10:, 0].tolist()) == {3}
    assert _candidates(torch.tensor([[4]]), (10,))[0, :, 0].tolist() == list(range(10))  # one label: every class


def test_two_digit_model_fine_tunes_with_the_contrast_term_and_learns_to_tell_digits_apart(tiny_data_dir, tmp_path,
                                                                                           capsys):
    from igc_core.cli import main
    from igc_core.training import _contrast

    first, tuned = tmp_path / "two", tmp_path / "tuned"
    common = ["--data", str(tiny_data_dir), "--epochs", "1", "--limit", "64", "--check", "0", "--quiet"]
    assert main(["train", "--model", "cvae", "--task", "two-digit", "--latent", "4", "--hidden", "32", "--seed", "7",
                 "--out", str(first), *common]) == 0
    assert main(["train", "--model", "cvae", "--task", "two-digit", "--init", str(first), "--out", str(tuned),
                 "--contrast", "1", "--contrast-images", "4", "--contrast-steps", "2", "--contrast-start", "both",
                 *common]) == 0
    assert "--contrast 1" in checkpoints.read_meta(tuned)["command"]
    # continued from the first model's weights (one Adam step away), not from fresh ones (seed 0, not 7)
    a, b = (dict(checkpoints.load(path)[0].named_parameters()) for path in (first, tuned))
    assert max(float((a[k] - b[k]).detach().abs().max()) for k in a) < 0.02
    assert main(["train", "--model", "cvae", "--task", "two-digit", "--init", str(first), "--out", str(tmp_path / "x"),
                 "--contrast", "1", "--negatives", "1", *common]) == 2
    assert "single-digit" in capsys.readouterr().err  # the marks are drawn for one digit
    assert main(["train", "--model", "cvae", "--init", str(first), "--out", str(tmp_path / "y"), *common]) == 2
    assert "--task digit continues a model of 1 label(s)" in capsys.readouterr().err
    # the term itself: a few steps on it alone make the true digits the nearest candidates of one fixed batch
    model, _ = checkpoints.load(first)
    model.train()
    x = torch.rand(6, 28, 56) - 0.5
    y = torch.stack([torch.arange(6) % 10, (torch.arange(6) * 3 + 1) % 10], 1)
    config = TrainConfig(epochs=1, contrast=1.0, contrast_images=6, contrast_steps=0, contrast_temperature=0.01)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    discs = []
    for _ in range(25):
        opt.zero_grad(set_to_none=True)
        discs.append(_contrast(model, x, y, config)["disc"])
        opt.step()
    assert discs[-1] < 0.5 * discs[0], discs
