"""The shipped conditional GAN (assets/cgan): it describes itself, each class draws its own digit (the CNN tells
the classes apart), and the search at the paper's settings reads the shipped sample digits."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from igc_core import checkpoints
from igc_core.data import to_model_range
from igc_core.framing import load_image
from igc_core.gan import CGANGenerator
from igc_core.search import PRESETS, search

CGAN = checkpoints.ASSETS / "cgan.safetensors"


@pytest.fixture(scope="module")
def cgan():
    if not CGAN.exists():
        pytest.skip("assets/cgan.safetensors is not present")
    return checkpoints.load_generator(CGAN)


def test_the_shipped_cgan_describes_itself(cgan):
    model, meta = cgan
    assert isinstance(model, CGANGenerator) and meta["kind"] == "cgan-conv"
    # the shipped sidecar predates the name cgan-conv: an old file, kind "cgan" with conv channels, still loads
    on_disk = json.loads(CGAN.with_suffix(".json").read_text())
    assert on_disk["kind"] == "cgan" and "channels" in on_disk["model"]
    assert meta["command"].startswith("igc train --model cgan") and meta["dataset"]["name"] == "mnist"
    assert meta["metrics"]["train_seconds"] > 0 and meta["training"]["epochs"] >= 1
    assert not model.has_encoder and model.num_classes == 10 and model.image_shape == (28, 28)
    assert torch.all(model.prior_mean == 0)
    assert torch.allclose(model.prior_std, torch.full_like(model.prior_std, meta["model"]["latent_scale"]))
    assert CGAN.stat().st_size < 4_000_000  # float16 weights, a few MB at most


def test_every_class_draws_its_own_digit(cgan):
    """The shipped CNN reads the cGAN's samples of class k as k (the old MLP cGAN drew one 7-like image for all),
    and the image the search starts from (the prior mean) of every class as that class."""
    model, _ = cgan
    cnn, _ = checkpoints.load_classifier(checkpoints.DEFAULT_CNN)
    labels = torch.arange(10).repeat_interleave(20)
    with torch.no_grad():
        images = model.sample(labels, torch.Generator().manual_seed(0))
        start = model.decode(model.prior_mean.expand(10, -1), model.one_hot(torch.arange(10)))
    per_class = [np.mean(cnn.predict(images[labels == k].numpy()) == k) for k in range(10)]
    assert min(per_class) >= 0.85 and np.mean(per_class) >= 0.95, per_class
    assert (cnn.predict(start.numpy()) == np.arange(10)).all()


def test_the_search_at_the_papers_settings_reads_the_sample_digits(cgan):
    """assets/samples holds the first MNIST test digit of each class, framed by the loader as `igc classify` does."""
    model, _ = cgan
    digits = np.stack([load_image(checkpoints.ASSETS / "samples" / f"{k}.png") for k in range(10)])
    result = search(model, to_model_range(digits), PRESETS["paper"])
    assert not result.diverged.any()
    assert np.mean(result.labels == np.arange(10)) >= 0.9
