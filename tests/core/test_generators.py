"""The conditional generators' interface and training."""

from __future__ import annotations

import math

import pytest
import torch

from igc_core.data import load_dataset
from igc_core.generators import ConditionalGenerator, GeneratorConfig
from igc_core.training import TrainConfig, train_generator


def _model(**kw):
    torch.manual_seed(0)
    return ConditionalGenerator(GeneratorConfig(latent_dim=3, hidden=(16, 24), encoder_hidden=(16,), **kw)).eval()


@pytest.mark.parametrize("kw", [{}, {"conditioning": "film"}, {"class_heads": True}])
def test_decode_shapes_range_and_soft_conditions(kw):
    model = _model(**kw)
    z = torch.randn(6, 3)
    labels = torch.tensor([0, 3, 3, 9, 1, 0])
    images = model.decode(z, model.one_hot(labels))
    assert images.shape == (6, 28, 28) and images.min() >= -0.5 and images.max() <= 0.5
    # the condition enters linearly: a soft condition is the weighted sum of the one-hot logits
    soft = 0.3 * model.one_hot(labels) + 0.7 * model.one_hot((labels + 1) % 10)
    mixed = 0.3 * model.decode_logits(z, model.one_hot(labels)) + 0.7 * model.decode_logits(z, model.one_hot((labels + 1) % 10))
    if kw.get("class_heads"):  # per-class heads are linear in the condition; the body is not, so compare the heads
        h = torch.randn(6, 24)
        heads = model.decoder._heads
        assert torch.allclose(heads(h, soft), 0.3 * heads(h, model.one_hot(labels)) + 0.7 * heads(h, model.one_hot((labels + 1) % 10)), atol=1e-5)
    assert model.decode_logits(z, soft).shape == mixed.shape


def test_class_heads_use_each_rows_own_class():
    model = _model(class_heads=True)
    z, labels = torch.randn(5, 3), torch.tensor([4, 2, 4, 7, 2])
    together = model.decode_logits(z, model.one_hot(labels))
    for i in range(5):
        alone = model.decode_logits(z[i : i + 1], model.one_hot(labels[i : i + 1]))
        assert torch.allclose(together[i], alone[0], atol=1e-6)


def test_latent_scale_is_only_a_change_of_units():
    unit, scaled = _model(), _model(latent_scale=0.02)
    scaled.load_state_dict(unit.state_dict())
    z, c = torch.randn(4, 3), unit.one_hot(torch.tensor([1, 2, 3, 4]))
    assert torch.allclose(unit.decode(z, c), scaled.decode(0.02 * z, c), atol=1e-6)
    x = unit.decode(z, c)
    (m1, v1), (m2, v2) = unit.encode(x, c), scaled.encode(x, c)
    assert torch.allclose(0.02 * m1, m2, atol=1e-7) and torch.allclose(v1 + 2 * math.log(0.02), v2, atol=1e-5)


def test_config_validation():
    for bad in ({"kind": "flow"}, {"activation": "sine"}, {"latent_dim": 0}, {"conditioning": "x"}, {"latent_scale": 0}):
        with pytest.raises(ValueError):
            GeneratorConfig(**bad)


def test_cvae_training_learns_and_records_the_latent_prior(tiny_data_dir):
    data = load_dataset(tiny_data_dir, "train", download=False)
    config = GeneratorConfig(latent_dim=2, hidden=(32, 32), encoder_hidden=(32,), latent_scale=0.5)
    model, metrics = train_generator(config, data, TrainConfig(epochs=3, batch_size=32, seed=1))
    assert metrics["rec_bce_per_image"] > 0 and metrics["train_seconds"] >= 0
    assert model.prior_std.shape == (2,) and (model.prior_std > 0).all()
    assert float(model.prior_std.max()) < 2.0  # the aggregate posterior lives at the latent's scale
    again, _ = train_generator(config, data, TrainConfig(epochs=3, batch_size=32, seed=1))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
