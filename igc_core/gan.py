"""The conditional GAN of the IGC paper (Sec. 4.1): a small DCGAN trained with the least-squares loss.

The generator G(z, c) is convolutional (DCGAN, Radford et al. 2016, at MNIST size): the latent goes through a
linear layer to a 7x7 map, two transposed convolutions double it to 14x14 and 28x28. The class reaches every
layer through class-conditional batch normalisation (de Vries et al. 2017): each normalised feature map is
scaled and shifted by a per-class gain and bias, so every layer's activations depend on the class and the
generator cannot ignore it; a per-class output bias image is added to the logits as well. The condition enters
linearly (a weighted sum of per-class gains), so the relaxed, soft conditions of the multi-label search work.

The discriminator D(x, c) is a projection discriminator (Miyato & Koyama 2018) with spectral normalisation
(Miyato et al. 2018): a score from the image's features plus the inner product of those features with the
class's embedding. Training uses the least-squares loss (Mao et al. 2017) as the paper did, and the shipped
weights are an exponential moving average of the generator's (Karras et al. 2018, Yazici et al. 2019).

The latent: the generator is trained on u ~ N(0, I) and takes z = latent_scale * u, so its prior is
N(0, latent_scale^2 I). The scale does not change what G can draw, only the unit the search's learning rate
is measured in: with latent_scale 1 the prior is the paper's N(0, 1).

Only the generator is kept after training (`CGANGenerator`, the model kind `cgan-conv` of
igc_core.model_kinds; sidecars written before that name say `cgan` and have `channels`); it is a
`igc_core.generators.Generator`, the interface the search uses.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

from .data import Dataset, to_model_range
from .generators import ConfiguredGenerator
from .training import check_finite_loss, check_training_numbers

Progress = Callable[[int, int, int, dict], None]


@dataclass(frozen=True)
class GANConfig:
    """The conditional GAN's shape. `channels`: generator widths at 7x7 and 14x14; `d_channels`: the
    discriminator's at 14x14 and 7x7 (the discriminator is not shipped, its size is recorded)."""

    kind: str = "cgan-conv"
    latent_dim: int = 64
    num_classes: int = 10
    image_size: int = 28
    channels: tuple[int, int] = (64, 32)
    d_channels: tuple[int, int] = (32, 64)
    d_features: int = 256
    latent_scale: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "d_channels", tuple(int(c) for c in self.d_channels))
        if self.kind != "cgan-conv":
            raise ValueError(f"a convolutional GAN config needs kind 'cgan-conv' (got {self.kind!r})")
        if self.image_size != 28:
            raise ValueError("the convolutional GAN draws 28x28 images (image_size 28)")
        if self.latent_dim < 1 or self.num_classes < 2:
            raise ValueError("latent_dim >= 1 and num_classes >= 2 are required")
        if len(self.channels) != 2 or len(self.d_channels) != 2 or min(self.channels + self.d_channels) < 1 or self.d_features < 1:
            raise ValueError("channels and d_channels need two positive widths each, d_features a positive width")
        if not (isinstance(self.latent_scale, (int, float)) and 0 < self.latent_scale < float("inf")):
            raise ValueError(f"latent_scale must be a positive finite number (got {self.latent_scale!r})")

    @property
    def image_shape(self) -> tuple[int, int]:
        return (self.image_size, self.image_size)

    @property
    def label_classes(self) -> tuple[int, ...]:
        """Classes per label: the cGAN reads one label (no multi-label search, paper Sec. 1.4)."""
        return (self.num_classes,)

    @property
    def pixels(self) -> int:
        return self.image_size * self.image_size

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class GANTrainConfig:
    """How the GAN is trained: Adam (lr, betas 0.5/0.999, as DCGAN), the generator's weight average `ema`."""

    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-4
    ema: float = 0.999  # 0 turns the moving average off
    # weight of real images shown to D with a wrong class as fakes (the matching-aware discriminator of
    # Reed et al. 2016): D must check that image and class agree, so G must draw the class it is given
    mismatch: float = 0.5
    seed: int = 0
    limit: int = 0  # > 0: train on the first `limit` images only

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2 or not self.lr > 0 or not 0 <= self.ema < 1 or self.limit < 0 or not 0 <= self.mismatch <= 1:
            raise ValueError("epochs >= 1, batch size >= 2, lr > 0, 0 <= ema < 1, 0 <= mismatch <= 1 and limit >= 0 are required")
        check_training_numbers(self.lr, self.limit)

    def to_dict(self) -> dict:
        return asdict(self)


class ConditionalBatchNorm2d(nn.Module):
    """Batch normalisation without its own affine, then a per-class gain and bias: (1 + gamma(c)) x_hat + beta(c).

    The running statistics are plain float buffers (no batch counter), so a checkpoint holds floats only.
    """

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        self.momentum = 0.1
        self.gain = nn.Linear(num_classes, channels, bias=False)
        self.bias = nn.Linear(num_classes, channels, bias=False)
        nn.init.zeros_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        x_hat = F.batch_norm(x, self.running_mean, self.running_var, None, None, self.training, self.momentum, 1e-5)
        gamma, beta = self.gain(c)[:, :, None, None], self.bias(c)[:, :, None, None]  # (B, ch, 1, 1)
        return (1 + gamma) * x_hat + beta


class ConvGenerator(nn.Module):
    """u (B, L), c (B, K) -> (B, 1, 28, 28) logits."""

    def __init__(self, config: GANConfig):
        super().__init__()
        c1, c2 = config.channels
        K = config.num_classes
        self.fc = nn.Linear(config.latent_dim, c1 * 7 * 7)
        self.fc_class = nn.Linear(K, c1 * 7 * 7, bias=False)  # a per-class input map
        self.bn0 = ConditionalBatchNorm2d(c1, K)
        self.up1 = nn.ConvTranspose2d(c1, c2, 4, 2, 1)
        self.bn1 = ConditionalBatchNorm2d(c2, K)
        self.up2 = nn.ConvTranspose2d(c2, 1, 4, 2, 1)
        self.out_bias = nn.Linear(K, config.pixels, bias=False)  # a per-class bias image on the logits
        nn.init.zeros_(self.out_bias.weight)
        self.c1 = c1

    def forward(self, u: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = (self.fc(u) + self.fc_class(c)).view(len(u), self.c1, 7, 7)  # (B, c1, 7, 7)
        h = F.relu(self.bn0(h, c))
        h = F.relu(self.bn1(self.up1(h), c))  # (B, c2, 14, 14)
        logits = self.up2(h).flatten(1)  # (B, 784)
        return logits + self.out_bias(c)


class ProjectionDiscriminator(nn.Module):
    """D(x, c) = w . phi(x) + <embed(c), phi(x)>, spectrally normalised; x (B, 28, 28) in [-0.5, 0.5]."""

    def __init__(self, config: GANConfig):
        super().__init__()
        d1, d2 = config.d_channels
        self.conv1 = spectral_norm(nn.Conv2d(1, d1, 4, 2, 1))  # -> (B, d1, 14, 14)
        self.conv2 = spectral_norm(nn.Conv2d(d1, d2, 4, 2, 1))  # -> (B, d2, 7, 7)
        self.fc = spectral_norm(nn.Linear(d2 * 7 * 7, config.d_features))
        self.out = spectral_norm(nn.Linear(config.d_features, 1))
        self.embed = spectral_norm(nn.Linear(config.num_classes, config.d_features, bias=False))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.conv1(x.unsqueeze(1)), 0.2)
        h = F.leaky_relu(self.conv2(h), 0.2)
        phi = F.leaky_relu(self.fc(h.flatten(1)), 0.2)  # (B, d_features)
        return self.out(phi).squeeze(1) + (self.embed(c) * phi).sum(1)  # (B,)


class CGANGenerator(ConfiguredGenerator):
    """A trained conditional GAN generator G(z, c) with its latent prior N(0, latent_scale^2 I)."""

    def __init__(self, config: GANConfig):
        super().__init__()
        self.config = config
        self.net = ConvGenerator(config)
        self.register_buffer("prior_mean", torch.zeros(config.latent_dim))
        self.register_buffer("prior_std", torch.full((config.latent_dim,), float(config.latent_scale)))

    @property
    def has_encoder(self) -> bool:
        return False

    def decode_logits(self, z: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """(B, latent), (B, classes) -> (B, pixels) pre-sigmoid outputs."""
        return self.net(z / self.config.latent_scale, condition)

    def encode(self, images: torch.Tensor, condition: torch.Tensor):
        raise ValueError("a cgan-conv generator has no encoder")


# ---------------------------------------------------------------------------------------------- training


def _batches(n: int, batch_size: int, rng: torch.Generator):
    order = torch.randperm(n, generator=rng)
    for i in range(0, n - batch_size + 1, batch_size):  # full batches only: batch norm needs them
        yield order[i : i + batch_size]


@torch.no_grad()
def _ema_update(ema: nn.Module, live: nn.Module, decay: float) -> None:
    for e, p in zip(ema.parameters(), live.parameters()):
        e.lerp_(p, 1 - decay)


@torch.no_grad()
def _standing_stats(g: ConvGenerator, config: GANConfig, labels: torch.Tensor, rng: torch.Generator,
                    batches: int = 100, batch_size: int = 256) -> None:
    """Recompute batch-norm statistics for (averaged) generator weights: the average over many batches."""
    norms = [m for m in g.modules() if isinstance(m, ConditionalBatchNorm2d)]
    g.train()
    for i in range(batches):
        for m in norms:
            m.momentum = 1.0 / (i + 1)  # a running average of all the batches so far
        y = labels[torch.randint(len(labels), (batch_size,), generator=rng)]
        u = torch.randn(batch_size, config.latent_dim, generator=rng)
        g(u, F.one_hot(y, config.num_classes).float())
    for m in norms:
        m.momentum = 0.1
    g.eval()


def _snapshot(g: ConvGenerator, config: GANConfig, labels: torch.Tensor, seed: int, batches: int) -> CGANGenerator:
    """The shippable generator from training weights: a copy with its own batch-norm statistics."""
    net = copy.deepcopy(g)
    _standing_stats(net, config, labels, torch.Generator().manual_seed(seed), batches=batches)
    model = CGANGenerator(config)
    model.net.load_state_dict(net.state_dict())
    return model.eval()


def train_cgan(config: GANConfig, images: torch.Tensor, labels: torch.Tensor, train: GANTrainConfig,
               progress: Progress | None = None,
               on_epoch: Callable[[int, Callable[[], CGANGenerator]], None] | None = None) -> tuple[CGANGenerator, dict]:
    """Train a conditional least-squares GAN (Mao et al. 2017; IGC paper Sec. 4.1) on images (N, 28, 28)
    in [-0.5, 0.5] with labels (N,); returns the generator (the weight average when `train.ema` > 0).

    `on_epoch(epoch, snapshot)` is called after each epoch; `snapshot()` builds the generator as it would be
    shipped now (for measuring how it improves with training), without touching the training's random state.
    """
    torch.manual_seed(train.seed)
    rng = torch.Generator().manual_seed(train.seed)
    if train.limit:
        images, labels = images[: train.limit], labels[: train.limit]
    n = len(images)
    if n < train.batch_size:
        raise ValueError(f"training needs at least one full batch ({train.batch_size} images), got {n}")
    g, d = ConvGenerator(config), ProjectionDiscriminator(config)
    g_avg = copy.deepcopy(g).requires_grad_(False) if train.ema else None
    opt_g = torch.optim.Adam(g.parameters(), lr=train.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=train.lr, betas=(0.5, 0.999))
    K, L = config.num_classes, config.latent_dim
    per_epoch = n // train.batch_size
    total = train.epochs * per_epoch
    stat_batches = min(100, per_epoch)  # batches for the batch-norm statistics of the shipped weights
    step, started, cpu_started = 0, time.perf_counter(), time.process_time()
    sums = np.zeros(2)
    g.train(), d.train()
    for epoch in range(train.epochs):
        sums[:] = 0
        for idx in _batches(n, train.batch_size, rng):
            x, c = images[idx], F.one_hot(labels[idx], K).float()
            u = torch.randn(len(idx), L, generator=rng)
            fake = torch.sigmoid(g(u, c)).view_as(x) - 0.5  # (B, 28, 28)
            # least-squares GAN (Mao et al. 2017): D pulls real to 1 and fake to 0, G pulls fake to 1
            d_fake = d(fake.detach(), c).square().mean()
            if train.mismatch:
                shift = torch.randint(1, K, (len(idx),), generator=rng)
                wrong = F.one_hot((labels[idx] + shift) % K, K).float()  # a different class for every image
                d_fake = (1 - train.mismatch) * d_fake + train.mismatch * d(x, wrong).square().mean()
            loss_d = 0.5 * ((d(x, c) - 1).square().mean() + d_fake)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            loss_g = 0.5 * (d(fake, c) - 1).square().mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            if g_avg is not None:
                _ema_update(g_avg, g, train.ema)
            step += 1
            sums += (loss_d.item(), loss_g.item())
            check_finite_loss(epoch, loss_d=loss_d, loss_g=loss_g)
            if progress:
                progress(epoch, step, total, {"loss_d": loss_d.item(), "loss_g": loss_g.item()})
        if on_epoch:
            on_epoch(epoch, lambda: _snapshot(g_avg if g_avg is not None else g, config, labels, train.seed, stat_batches))
    model = _snapshot(g_avg if g_avg is not None else g, config, labels, train.seed, stat_batches)
    metrics = {
        "last_epoch_loss_d": float(sums[0] / per_epoch), "last_epoch_loss_g": float(sums[1] / per_epoch),
        "train_seconds": round(time.perf_counter() - started, 1),
        # CPU time of this process: what the training cost, whatever else ran beside it
        "train_cpu_seconds": round(time.process_time() - cpu_started, 1),
    }
    return model, metrics


def train_model(config: GANConfig, data, train: GANTrainConfig, progress: Progress | None = None) -> tuple[CGANGenerator, dict]:
    """The model-kind table's trainer (igc_core.model_kinds): `train_cgan` on a data set of single digits."""
    if not isinstance(data, Dataset) or np.asarray(data.labels).ndim != 1:
        raise ValueError("the convolutional cGAN reads one digit: train it on a data set of single digits")
    images = torch.from_numpy(to_model_range(data.images))  # train_cgan applies train.limit itself
    return train_cgan(config, images, torch.from_numpy(data.labels).long(), train, progress)
