"""Per-class sample quality: the Frechet distance in the CNN baseline's features, as the IGC paper reports FID
per condition (Sec. 4.1).

FID (Heusel et al. 2017) fits a Gaussian to the features of each image set and measures
    d^2 = |mu_1 - mu_2|^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2)).
Inception features mean nothing on 28x28 digits, so the features here are the penultimate layer of our own
MNIST CNN (`assets/cnn`); the numbers are therefore not comparable with the paper's Inception FID, only with
each other. Beside each class's distance we print its floor: the same distance between real training and
real test images of that class, which is what a perfect generator would score with these sample sizes.
The share of generated images the CNN assigns to their own condition says whether the classes are right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .data import Dataset, to_model_range


def sqrtm_psd(matrix: np.ndarray) -> np.ndarray:
    """The square root of a symmetric positive semi-definite matrix, by eigendecomposition."""
    m = np.asarray(matrix, dtype=np.float64)
    values, vectors = np.linalg.eigh((m + m.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of features (N, D), in float64."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"need at least two feature vectors of shape (N, D), got {f.shape}")
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """The Frechet distance between N(mu1, cov1) and N(mu2, cov2) (squared, as FID is reported).

    Tr((S1 S2)^(1/2)) equals Tr((S1^(1/2) S2 S1^(1/2))^(1/2)), whose argument is symmetric PSD, so the
    square root needs only symmetric eigendecompositions (no scipy).
    """
    root1 = sqrtm_psd(cov1)
    middle = root1 @ np.asarray(cov2, np.float64) @ root1
    trace_sqrt = float(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum())
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    return float(max(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * trace_sqrt, 0.0))


@torch.no_grad()
def cnn_features(cnn: torch.nn.Module, images: np.ndarray, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """The CNN's penultimate features (N, hidden) and predicted labels (N,) of images (N, 28, 28) in [-0.5, 0.5]."""
    cnn.eval()
    x = torch.as_tensor(np.asarray(images, np.float32))
    feats, labels = [], []
    for i in range(0, len(x), batch_size):
        f = cnn.features(x[i : i + batch_size])
        feats.append(f)
        labels.append(cnn.head(f).argmax(1))
    return torch.cat(feats).numpy(), torch.cat(labels).numpy()


@dataclass(frozen=True)
class FIDRow:
    """One class: generated vs real test images, and the real-vs-real floor, in the CNN's features."""

    label: int
    fid: float
    floor: float
    own_class: float  # share of generated images the CNN assigns to this class
    generated: int
    real: int


@torch.no_grad()
def generate(generator, label: int, n: int, rng: torch.Generator, batch_size: int = 500) -> np.ndarray:
    """n images of class `label` drawn from the generator's latent prior, (n, H, W) in [-0.5, 0.5]."""
    generator.eval()
    out = []
    for i in range(0, n, batch_size):
        m = min(batch_size, n - i)
        eps = torch.randn(m, generator.latent_dim, generator=rng)
        z = generator.prior_mean + generator.prior_std * eps
        out.append(generator.decode(z, generator.one_hot(torch.full((m,), label, dtype=torch.long))).float())
    return torch.cat(out).numpy()


def per_class_fid(generator, cnn: torch.nn.Module, train: Dataset, test: Dataset, per_class: int = 1000,
                  seed: int = 0, progress=None) -> list[FIDRow]:
    """For each class: FID(generated, real test) and the floor FID(real train, real test), `per_class`
    generated and training images against all of the class's test images."""
    if per_class < 2:
        raise ValueError("per_class must be at least 2")
    rng = torch.Generator().manual_seed(seed)
    pick = np.random.default_rng(seed)
    rows = []
    for k in range(generator.num_classes):
        real_test = to_model_range(test.images[test.labels == k])
        train_k = train.images[train.labels == k]
        if len(real_test) < 2 or len(train_k) < 2:
            raise ValueError(f"class {k} has fewer than two real images in the train or test set")
        real_train = to_model_range(train_k[pick.choice(len(train_k), min(per_class, len(train_k)), replace=False)])
        fake = generate(generator, k, per_class, rng)
        f_test, _ = cnn_features(cnn, real_test)
        f_train, _ = cnn_features(cnn, real_train)
        f_fake, fake_labels = cnn_features(cnn, fake)
        s_test = gaussian_stats(f_test)
        rows.append(FIDRow(
            label=k,
            fid=frechet_distance(*gaussian_stats(f_fake), *s_test),
            floor=frechet_distance(*gaussian_stats(f_train), *s_test),
            own_class=float(np.mean(fake_labels == k)),
            generated=len(fake),
            real=len(real_test),
        ))
        if progress:
            progress(k)
    return rows


def format_fid_table(rows: list[FIDRow]) -> str:
    """A markdown table, one row per class and their mean."""
    lines = ["| class | FID (generated vs test) | floor (train vs test) | CNN says own class % | generated | real test |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.label} | {r.fid:.2f} | {r.floor:.2f} | {100 * r.own_class:.1f} | {r.generated} | {r.real} |")
    mean = lambda key: float(np.mean([getattr(r, key) for r in rows]))  # noqa: E731
    lines.append(f"| mean | {mean('fid'):.2f} | {mean('floor'):.2f} | {100 * mean('own_class'):.1f} | | |")
    return "\n".join(lines)
