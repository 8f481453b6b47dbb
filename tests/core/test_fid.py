"""The per-class Frechet distance: the matrix square root, the distance, and the table on a tiny model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synthetic import synthetic_digits
from igc_core.baseline import CNNClassifier, CNNConfig
from igc_core.data import Dataset
from igc_core.fid import format_fid_table, frechet_distance, gaussian_stats, per_class_fid, sqrtm_psd


def test_sqrtm_of_a_known_matrix():
    a = np.array([[5.0, 4.0], [4.0, 5.0]])  # eigenvalues 9 and 1 along (1, 1) and (1, -1)
    root = sqrtm_psd(a)
    assert np.allclose(root, [[2.0, 1.0], [1.0, 2.0]])
    rng = np.random.default_rng(0)
    m = rng.normal(size=(6, 6))
    spd = m @ m.T + 0.1 * np.eye(6)
    r = sqrtm_psd(spd)
    assert np.allclose(r @ r, spd, atol=1e-9) and np.allclose(r, r.T)


def test_frechet_distance_known_cases():
    rng = np.random.default_rng(1)
    f = rng.normal(size=(500, 8))
    mu, cov = gaussian_stats(f)
    assert frechet_distance(mu, cov, mu, cov) == pytest.approx(0.0, abs=1e-7)
    # a shift of the mean adds its squared length; isotropic Gaussians: d^2 = |dmu|^2 + D (s1 - s2)^2
    assert frechet_distance(mu, cov, mu + 2.0, cov) == pytest.approx(8 * 4.0, rel=1e-6)
    eye = np.eye(3)
    assert frechet_distance(np.zeros(3), eye, np.zeros(3), 4 * eye) == pytest.approx(3 * (2 - 1) ** 2)
    # non-commuting covariances: compare with the closed form for 2x2 through an independent route
    c1, c2 = np.array([[2.0, 0.5], [0.5, 1.0]]), np.array([[1.0, -0.3], [-0.3, 3.0]])
    vals = np.linalg.eigvals(c1 @ c2)  # Tr((c1 c2)^(1/2)) = sum of the square roots of c1 c2's eigenvalues
    expected = np.trace(c1) + np.trace(c2) - 2 * np.sqrt(vals.real).sum()
    assert frechet_distance(np.zeros(2), c1, np.zeros(2), c2) == pytest.approx(expected, rel=1e-9)


def test_per_class_fid_of_real_images_against_themselves_is_near_zero():
    images, labels = synthetic_digits(400, seed=5)
    keep = np.concatenate([np.flatnonzero(labels == k)[:30] for k in range(10)])  # 30 images of every class
    images, labels = images[keep], labels[keep]
    data = Dataset(images, labels, "synthetic")
    torch.manual_seed(0)
    cnn = CNNClassifier(CNNConfig(channels=(4, 8), hidden=16)).eval()

    class Replay:
        """A 'generator' that returns the real images of the asked class (its FID against them is ~0)."""

        num_classes, latent_dim = 10, 1
        prior_mean, prior_std = torch.zeros(1), torch.ones(1)

        def eval(self):
            return self

        def one_hot(self, labels):
            return torch.nn.functional.one_hot(labels, 10).float()

        def decode(self, z, condition):
            k = int(condition[0].argmax())
            real = torch.from_numpy(images[labels == k] / 255.0 - 0.5).float()
            return real[torch.arange(len(z)) % len(real)]

    rows = per_class_fid(Replay(), cnn, data, data, per_class=30)
    for r in rows:  # every real image once, on both sides: the same set, the same Gaussian
        assert r.generated == r.real == 30
        assert r.fid == pytest.approx(0.0, abs=1e-6) and r.floor == pytest.approx(0.0, abs=1e-6)
        assert 0 <= r.own_class <= 1
    assert "| mean |" in format_fid_table(rows)
