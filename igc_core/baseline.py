"""The plain CNN classifier IGC is compared with (the paper claims IGC is the more robust to noise)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .data import Dataset, to_model_range


@dataclass(frozen=True)
class CNNConfig:
    kind: str = "cnn"
    num_classes: int = 10
    channels: tuple[int, ...] = (32, 64)
    hidden: int = 128

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if self.kind != "cnn" or self.num_classes < 2 or len(self.channels) != 2 or self.hidden < 1:
            raise ValueError("a cnn config needs kind 'cnn', >= 2 classes, two channel widths and a hidden width")

    def to_dict(self) -> dict:
        return asdict(self)


class CNNClassifier(nn.Module):
    """Two conv blocks and an MLP head (the usual MNIST baseline, ~99% clean)."""

    def __init__(self, config: CNNConfig):
        super().__init__()
        self.config = config
        c1, c2 = config.channels
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.fc1 = nn.Linear(c2 * 7 * 7, config.hidden)
        self.fc2 = nn.Linear(config.hidden, config.num_classes)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 28, 28) in [-0.5, 0.5] -> (B, hidden): the penultimate layer (the feature space of `igc.fid`)."""
        h = F.max_pool2d(F.relu(self.conv1(images.unsqueeze(1))), 2)  # (B, c1, 14, 14)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)  # (B, c2, 7, 7)
        return F.relu(self.fc1(h.flatten(1)))

    def head(self, features: torch.Tensor) -> torch.Tensor:
        """(B, hidden) penultimate features -> (B, classes) logits."""
        return self.fc2(F.dropout(features, 0.25, self.training))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 28, 28) in [-0.5, 0.5] -> (B, classes) logits."""
        return self.head(self.features(images))

    @torch.no_grad()
    def predict(self, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        self.eval()
        x = torch.as_tensor(np.asarray(images, np.float32))
        return torch.cat([self(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)]).numpy()


def train_classifier(config: CNNConfig, data: Dataset, train, progress=None) -> tuple[CNNClassifier, dict]:
    """Train on clean images with cross-entropy and Adam (no noise augmentation: the paper's baseline)."""
    import time

    from .training import batches, check_finite_loss, tensors

    torch.manual_seed(train.seed)
    rng = torch.Generator().manual_seed(train.seed)
    model = CNNClassifier(config)
    x, y = tensors(data, train.limit)
    opt = torch.optim.Adam(model.parameters(), lr=train.lr)
    n, step = len(x), 0
    total = train.epochs * ((n + train.batch_size - 1) // train.batch_size)
    started = time.perf_counter()
    model.train()
    for epoch in range(train.epochs):
        for idx in batches(n, train.batch_size, rng):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            check_finite_loss(epoch, loss=loss)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if progress:
                progress(epoch, step, total, {"loss": loss.item()})
    model.eval()
    return model, {"train_seconds": round(time.perf_counter() - started, 1)}


def evaluate_classifier(model: CNNClassifier, data: Dataset) -> float:
    return float(np.mean(model.predict(to_model_range(data.images)) == data.labels))
