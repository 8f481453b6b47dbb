"""The convolutional conditional GAN: interface, conditioning, training, checkpoints, and the search on it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from synthetic import synthetic_digits
from igc_core import checkpoints
from igc_core.data import to_model_range
from igc_core.gan import CGANGenerator, GANConfig, GANTrainConfig, train_cgan
from igc_core.search import SearchConfig, search

TINY = dict(latent_dim=4, channels=(8, 4), d_channels=(4, 8), d_features=16)


def _tiny(**kw) -> CGANGenerator:
    torch.manual_seed(0)
    model = CGANGenerator(GANConfig(**{**TINY, **kw}))
    with torch.no_grad():  # untrained class gains are zero: give the condition some weight, as training does
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return model.eval()


def _data(n=128):
    images, labels = synthetic_digits(n, seed=1)
    return torch.from_numpy(to_model_range(images)), torch.from_numpy(labels.astype(np.int64))


def test_interface_shapes_range_and_prior():
    model = _tiny(latent_scale=0.05)
    z, labels = torch.randn(6, 4), torch.tensor([0, 3, 3, 9, 1, 0])
    images = model.decode(z, model.one_hot(labels))
    assert images.shape == (6, 28, 28) and images.min() >= -0.5 and images.max() <= 0.5
    assert model.decode_logits(z, model.one_hot(labels)).shape == (6, 784)
    assert model.image_shape == (28, 28) and model.latent_dim == 4 and model.num_classes == 10
    assert not model.has_encoder
    assert torch.equal(model.prior_mean, torch.zeros(4)) and torch.allclose(model.prior_std, torch.full((4,), 0.05))


def test_output_depends_on_the_condition_and_rows_are_independent():
    model = _tiny()
    z = torch.randn(1, 4).expand(10, 4)
    images = model.decode(z, model.one_hot(torch.arange(10)))  # one latent, every class
    gaps = (images[:, None] - images[None]).abs().mean((-1, -2))  # (10, 10)
    assert gaps[~torch.eye(10, dtype=torch.bool)].min() > 1e-3
    alone = model.decode(z[:1], model.one_hot(torch.tensor([7])))
    assert torch.allclose(images[7], alone[0], atol=1e-5)  # eval mode: no batch statistics leak between rows


def test_latent_scale_is_only_a_change_of_units():
    unit, scaled = _tiny(), _tiny(latent_scale=0.02)
    scaled.load_state_dict(unit.state_dict() | {"prior_std": scaled.prior_std})
    z, c = torch.randn(4, 4), unit.one_hot(torch.tensor([1, 2, 3, 4]))
    assert torch.allclose(unit.decode(z, c), scaled.decode(0.02 * z, c), atol=1e-6)


def test_soft_conditions_are_accepted():
    model = _tiny()
    soft = torch.full((2, 10), 0.1)
    assert model.decode(torch.zeros(2, 4), soft).shape == (2, 28, 28)


def test_training_steps_are_seeded_and_save_load_round_trip(tmp_path):
    x, y = _data()
    config = GANConfig(**TINY, latent_scale=0.1)
    train = GANTrainConfig(epochs=1, batch_size=32, seed=3)
    model, metrics = train_cgan(config, x, y, train)
    assert metrics["train_seconds"] >= 0 and np.isfinite(metrics["last_epoch_loss_d"])
    seen = []
    again, _ = train_cgan(config, x, y, train, on_epoch=lambda epoch, snapshot: seen.append((epoch, snapshot())))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    assert [e for e, _ in seen] == [0] and isinstance(seen[0][1], CGANGenerator)  # snapshots leave training alone
    path = checkpoints.save(model, tmp_path / "gan", {"command": "test"}, half=True)
    loaded, meta = checkpoints.load_generator(path)
    assert meta["kind"] == "cgan-conv" and isinstance(loaded, CGANGenerator) and loaded.config == config
    assert meta["latent_prior"]["std"] == pytest.approx([0.1] * 4)
    z, c = torch.randn(3, 4) * 0.1, model.one_hot(torch.tensor([2, 5, 8]))
    assert torch.allclose(loaded.decode(z, c), model.decode(z, c), atol=2e-3)  # float16 weights


def test_training_moves_the_generator_towards_the_data():
    x, y = _data(256)
    config = GANConfig(**TINY)
    before, _ = train_cgan(config, x, y, GANTrainConfig(epochs=1, batch_size=64, lr=1e-9, ema=0))
    after, _ = train_cgan(config, x, y, GANTrainConfig(epochs=8, batch_size=64, lr=2e-3, ema=0))
    real_mean = x.mean(0)
    def gap(m):
        with torch.no_grad():
            return float((m.sample(y, torch.Generator().manual_seed(0)).mean(0) - real_mean).abs().mean())
    assert gap(after) < gap(before)


def test_the_search_runs_on_a_cgan():
    model = _tiny(latent_scale=0.05)
    images = to_model_range(synthetic_digits(3, seed=2)[0])
    result = search(model, images, SearchConfig(steps=4, restarts=2), return_reconstructions=True)
    assert result.labels.shape == (3,) and result.reconstructions.shape == (3, 10, 28, 28)
    with pytest.raises(ValueError, match="needs a CVAE"):
        search(model, images, SearchConfig(steps=2, init="encoder"))


def test_bad_configs_are_refused():
    for bad in ({"kind": "cvae"}, {"latent_dim": 0}, {"channels": (8,)}, {"latent_scale": 0}, {"image_size": 32}):
        with pytest.raises(ValueError):
            GANConfig(**{**TINY, **bad})
    with pytest.raises(ValueError):
        GANTrainConfig(mismatch=2)
    x, y = _data(16)
    with pytest.raises(ValueError, match="full batch"):
        train_cgan(GANConfig(**TINY), x, y, GANTrainConfig(batch_size=32))


def _as_old_sidecar(weights) -> None:
    """Rewrite a sidecar as igc wrote it before the two cGANs had names of their own: kind "cgan" for both."""
    sidecar = weights.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    meta["kind"] = meta["model"]["kind"] = "cgan"
    sidecar.write_text(json.dumps(meta))


def test_an_mlp_cgan_checkpoint_still_loads_as_one(tmp_path):
    """Checkpoints of the earlier MLP cGAN (kind cgan, no conv channels in the sidecar) keep loading."""
    from igc_core.generators import ConditionalGenerator, GeneratorConfig

    mlp = ConditionalGenerator(GeneratorConfig(kind="cgan-mlp", latent_dim=4, hidden=(16,), encoder_hidden=(16,)))
    loaded, meta = checkpoints.load_generator(checkpoints.save(mlp, tmp_path / "mlp", {"command": "test"}))
    assert meta["kind"] == "cgan-mlp" and isinstance(loaded, ConditionalGenerator) and not isinstance(loaded, CGANGenerator)
    _as_old_sidecar(tmp_path / "mlp.safetensors")
    loaded, meta = checkpoints.load_generator(tmp_path / "mlp")
    assert meta["kind"] == meta["model"]["kind"] == "cgan-mlp" and isinstance(loaded, ConditionalGenerator)
    assert not isinstance(loaded, CGANGenerator) and not loaded.has_encoder


def test_an_old_conv_cgan_sidecar_loads_as_cgan_conv(tmp_path):
    """A sidecar of kind "cgan" with conv `channels` is the convolutional cGAN, now named cgan-conv."""
    path = checkpoints.save(CGANGenerator(GANConfig(**TINY)).eval(), tmp_path / "gan", {"command": "test"})
    _as_old_sidecar(path)
    loaded, meta = checkpoints.load_generator(path)
    assert isinstance(loaded, CGANGenerator) and meta["kind"] == loaded.config.kind == "cgan-conv"
