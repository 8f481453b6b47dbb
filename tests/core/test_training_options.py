"""Training options of issue 10: fine-tuning from a checkpoint (--init), the hybrid contrast term, and printed
digits that need fonts (a machine without fonts gets a message, not a traceback)."""

from __future__ import annotations

import json

import pytest
import torch

from igc_core import checkpoints, testsets
from igc_core.cli import main
from igc_core.data import load_dataset
from igc_core.generators import ConditionalGenerator, GeneratorConfig
from igc_core.training import TrainConfig, train_generator

TINY = GeneratorConfig(latent_dim=2, hidden=(16, 24), encoder_hidden=(24,), latent_scale=0.5)


def _trained(data, epochs: int = 1, **kw) -> ConditionalGenerator:
    model, _ = train_generator(TINY, data, TrainConfig(epochs=epochs, batch_size=64, lr=5e-3, **kw))
    return model


def test_fine_tuning_starts_from_the_given_weights_and_leaves_them_alone(tiny_data_dir):
    data = load_dataset(tiny_data_dir, "train", download=False)
    start = _trained(data)
    before = {k: v.clone() for k, v in start.state_dict().items()}
    # a vanishing learning rate: the continued model is the start (weights and the latent prior it measures again)
    tuned, _ = train_generator(TINY, data, TrainConfig(epochs=1, batch_size=64, lr=1e-12, seed=3), start=start)
    fresh, _ = train_generator(TINY, data, TrainConfig(epochs=1, batch_size=64, lr=1e-12, seed=3))
    z, c = start.prior_mean.expand(10, -1), start.one_hot(torch.arange(10))
    assert torch.allclose(tuned.decode(z, c), start.decode(z, c), atol=1e-5)
    assert torch.allclose(tuned.prior_mean, start.prior_mean, atol=1e-5)
    assert not torch.allclose(fresh.decode(z, c), start.decode(z, c), atol=1e-3)
    assert all(torch.equal(before[k], v) for k, v in start.state_dict().items())  # the start is not modified
    other = GeneratorConfig(latent_dim=3, hidden=(16, 24), encoder_hidden=(24,), latent_scale=0.5)
    with pytest.raises(ValueError, match="keeps the architecture"):
        train_generator(other, data, TrainConfig(epochs=1), start=start)


def test_train_init_on_the_command_line_records_where_it_started(tiny_data_dir, tmp_path):
    data = load_dataset(tiny_data_dir, "train", download=False)
    start = tmp_path / "start"
    checkpoints.save(_trained(data), start, {"command": "igc train (test)"})
    out = tmp_path / "tuned"
    common = ["train", "--model", "cvae", "--data", str(tiny_data_dir), "--epochs", "1", "--check", "0", "--quiet", "--threads", "1"]
    assert main([*common, "--init", str(start), "--out", str(out), "--augment", "0.5"]) == 0
    meta = json.loads((tmp_path / "tuned.json").read_text())
    assert meta["training"]["init"] == {"model": str(start), "command": "igc train (test)"}
    assert meta["model"]["latent_dim"] == TINY.latent_dim and meta["model"]["hidden"] == list(TINY.hidden)
    assert main([*common, "--init", str(start), "--out", str(tmp_path / "x"), "--model", "cgan"]) == 2
    assert main([*common, "--init", str(start), "--out", str(tmp_path / "y"), "--model", "cnn"]) == 2


def test_contrast_term_trains_and_reports_its_accuracy(tiny_data_dir):
    data = load_dataset(tiny_data_dir, "train", download=False)
    seen = []
    model, _ = train_generator(TINY, data, TrainConfig(epochs=1, batch_size=64, lr=5e-3, contrast=1.0, contrast_images=4),
                               lambda e, s, t, m: seen.append(m))
    assert len(seen) == 4 and all({"rec", "kl", "disc", "acc"} <= set(m) for m in seen)
    assert all(m["disc"] >= 0 and 0 <= m["acc"] <= 1 and m["acc"] * 4 == round(m["acc"] * 4) for m in seen)
    with pytest.raises(ValueError, match="contrast"):
        TrainConfig(contrast=-1.0)


def test_no_fonts_on_the_machine_gives_messages_not_tracebacks(monkeypatch, tiny_data_dir, tiny_model, tmp_path, capsys):
    """CI machines may have no fonts: the font-made sets and --printed refuse with what to install."""
    monkeypatch.setattr(testsets, "find_fonts", lambda folders=None: [])
    with pytest.raises(ValueError, match="no TrueType or OpenType fonts"):
        testsets.build("typeset")
    with pytest.raises(ValueError, match="no TrueType or OpenType fonts"):
        testsets.build("letters")
    with pytest.raises(ValueError, match="install"):
        testsets.printed_digits()
    model = tmp_path / "tiny"
    checkpoints.save(tiny_model, model, {"command": "test"})
    assert main(["evaluate", "--set", "typeset", "--model", str(model), "--quiet", "--cnn", "none"]) == 2
    assert "no TrueType" in capsys.readouterr().err
    assert main(["train", "--model", "cvae", "--data", str(tiny_data_dir), "--out", str(tmp_path / "p"), "--epochs", "1",
                 "--printed", "--check", "0", "--quiet"]) == 2
    assert "printed digits" in capsys.readouterr().err
    # strokes need no fonts: MNIST digits redrawn by our own code
    ts = testsets.build("strokes", load_dataset(tiny_data_dir, "test", download=False), limit=2)
    assert ts.images.shape == (2 * len(testsets.STROKE_VARIANTS), 28, 28) and (ts.labels >= 0).all()
