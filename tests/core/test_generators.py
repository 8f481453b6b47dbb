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


@pytest.mark.parametrize("kw", [{}, {"conditioning": "film"}, {"class_heads": True}, {"kind": "cgan-mlp"}, {"decoder": "per_class"}])
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
    for bad in ({"kind": "flow"}, {"activation": "sine"}, {"latent_dim": 0}, {"conditioning": "x"}, {"latent_scale": 0}, {"decoder": "conv"}):
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


def test_cgan_prior_is_its_noise_distribution(tiny_data_dir):
    data = load_dataset(tiny_data_dir, "train", download=False)
    config = GeneratorConfig(kind="cgan-mlp", latent_dim=2, hidden=(16,), encoder_hidden=(16,), latent_scale=0.1)
    model, metrics = train_generator(config, data, TrainConfig(epochs=1, batch_size=64))
    assert torch.allclose(model.prior_std, torch.full((2,), 0.1)) and "final_loss_d" in metrics
    with pytest.raises(ValueError, match="no encoder"):
        model.encode(torch.zeros(1, 28, 28), model.one_hot(torch.tensor([0])))


def test_per_class_decoders_draw_each_row_with_its_own_class():
    model = _model(decoder="per_class")
    z, labels = torch.randn(7, 3), torch.tensor([4, 2, 4, 7, 2, 0, 9])
    together = model.decode_logits(z, model.one_hot(labels))
    for i in range(7):  # the grouped path (unequal class counts) equals one row at a time
        assert torch.allclose(together[i], model.decode_logits(z[i : i + 1], model.one_hot(labels[i : i + 1]))[0], atol=1e-6)
    # the search's layout (every class as often): the batched path gives the same rows
    zz, ll = torch.randn(20, 3), torch.arange(20) % 10
    batched = model.decode_logits(zz, model.one_hot(ll))
    assert torch.allclose(batched, torch.cat([model.decode_logits(zz[i : i + 1], model.one_hot(ll[i : i + 1])) for i in range(20)]), atol=1e-6)
    # a soft condition mixes the classes' outputs
    soft = 0.25 * model.one_hot(labels) + 0.75 * model.one_hot((labels + 3) % 10)
    mixed = 0.25 * together + 0.75 * model.decode_logits(z, model.one_hot((labels + 3) % 10))
    assert torch.allclose(model.decode_logits(z, soft), mixed, atol=1e-6)
    # changing class 7's weights changes only the rows drawn as 7
    with torch.no_grad():
        model.decoder.weights[-1][7].add_(1.0)
    changed = (model.decode_logits(z, model.one_hot(labels)) - together).abs().amax(1) > 0
    assert changed.tolist() == (labels == 7).tolist()


def test_per_class_cvae_training_lowers_its_loss(tiny_data_dir):
    from igc_core.augment import AugmentConfig

    data = load_dataset(tiny_data_dir, "train", download=False)
    config = GeneratorConfig(latent_dim=2, hidden=(16, 32), encoder_hidden=(32,), latent_scale=0.5, decoder="per_class")
    losses = []
    train = TrainConfig(epochs=4, batch_size=32, lr=5e-3, seed=2, kl_warmup=2, augment=AugmentConfig(probability=0.5))
    model, _ = train_generator(config, data, train, lambda e, s, t, m: losses.append(m["rec"]))
    assert len(losses) == 4 * 8
    assert sum(losses[-8:]) < 0.8 * sum(losses[:8])
    assert model.decode(model.prior_mean.expand(3, 2), model.one_hot(torch.tensor([0, 1, 2]))).shape == (3, 28, 28)
