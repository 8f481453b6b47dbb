"""Training-time augmentation: seeded, shape- and range-preserving, and framed like a user's file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthetic import synthetic_digits
from igc_core.augment import AugmentConfig, augment, frame
from igc_core.data import to_model_range
from igc_core.framing import frame_digit


def _batch(n: int = 12) -> torch.Tensor:
    images, _ = synthetic_digits(n, seed=3)
    return torch.from_numpy(to_model_range(images))


def test_augment_is_seeded_and_keeps_shape_and_range():
    x = _batch()
    a = augment(x, AugmentConfig(probability=1.0), torch.Generator().manual_seed(5))
    b = augment(x, AugmentConfig(probability=1.0), torch.Generator().manual_seed(5))
    c = augment(x, AugmentConfig(probability=1.0), torch.Generator().manual_seed(6))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.min()) >= -0.5 and float(a.max()) <= 0.5
    assert torch.equal(x, _batch())  # the input is not modified


def test_augment_probability_zero_is_identity_and_identity_settings_change_nothing():
    x = _batch()
    assert torch.equal(augment(x, AugmentConfig(probability=0.0), torch.Generator().manual_seed(0)), x)
    none = AugmentConfig(probability=1.0, thickness=0, slant=0, rotate=0, aspect=0, elastic=0, blur=0, gamma=0)
    out = augment(x, none, torch.Generator().manual_seed(0))
    # redrawn with nothing changed: the digit framed like a user's file (these synthetic ones are not framed)
    assert torch.allclose(out, frame(x + 0.5) - 0.5, atol=1e-4)


def test_thickness_changes_the_amount_of_ink():
    x = _batch()
    still = dict(probability=1.0, slant=0, rotate=0, aspect=0, elastic=0, blur=0, gamma=0)
    thick = augment(x, AugmentConfig(thickness=1.0, **still), torch.Generator().manual_seed(0))
    ink = lambda t: float((t + 0.5).sum())  # noqa: E731
    # radii are drawn in [-0.5, 1]: mostly thicker, so there is more ink overall
    assert ink(thick) > ink(x)


def test_frame_matches_frame_digit():
    rng = np.random.default_rng(0)
    canvas = np.zeros((5, 60, 50), np.float32)
    for i in range(5):  # a bar and a blob at random places and sizes
        top, left = rng.integers(2, 30, 2)
        canvas[i, top : top + rng.integers(8, 25), left : left + rng.integers(3, 15)] = 1.0
        canvas[i, top : top + 4, left : left + 12] = 0.6
    ours = frame(torch.from_numpy(canvas)).numpy()
    for i in range(5):
        reference = frame_digit(canvas[i])
        assert ours[i].shape == (28, 28)
        assert np.abs(ours[i] - reference).mean() < 0.03
        ys, xs = np.indices((28, 28))
        assert abs((ours[i] * ys).sum() / ours[i].sum() - (reference * ys).sum() / reference.sum()) < 0.6


def test_config_validation():
    for bad in ({"probability": 1.5}, {"slant": -0.1}, {"elastic": float("nan")}):
        with pytest.raises(ValueError):
            AugmentConfig(**bad)
