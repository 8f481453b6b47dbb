"""Training the conditional generators (and the CNN baseline), reporting through a callback.

The trainers know nothing of files or progress bars: they take a `progress(epoch, step, total, metrics)`
callable, as minGPT's trainer reports through `on_batch_end`; the CLI turns it into a tqdm bar.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from .augment import AugmentConfig, augment
from .data import Dataset, to_model_range
from .generators import ConditionalGenerator, GeneratorConfig

Progress = Callable[[int, int, int, dict], None]


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    beta: float = 1.0  # weight of the KL term (cvae)
    seed: int = 0
    limit: int = 0  # > 0: train on the first `limit` images only (tests, quick trials)
    augment: AugmentConfig | None = None  # redraw training digits as users draw them (igc_core.augment)
    kl_warmup: int = 0  # cvae: the KL weight rises linearly from 0 to beta over this many epochs
    # cvae, hybrid training: weight of a classification term on IGC's own distances (see _contrast), 0 = off
    contrast: float = 0.0
    contrast_temperature: float = 0.01  # distances are MAE in [0, 1]; class gaps are about 0.01
    contrast_images: int = 16  # images per batch that get the (10x dearer) every-class term

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0 or self.beta < 0 or self.limit < 0:
            raise ValueError("epochs and batch size must be positive, lr positive, beta and limit not negative")
        if self.kl_warmup < 0:
            raise ValueError(f"kl_warmup must not be negative (got {self.kl_warmup})")
        if self.contrast < 0 or not self.contrast_temperature > 0 or self.contrast_images < 1:
            raise ValueError("contrast must not be negative, its temperature and images must be positive")
        if isinstance(self.augment, dict):
            object.__setattr__(self, "augment", AugmentConfig(**self.augment))

    def to_dict(self) -> dict:
        return asdict(self)


def batches(n: int, batch_size: int, rng: torch.Generator):
    order = torch.randperm(n, generator=rng)
    for i in range(0, n, batch_size):
        yield order[i : i + batch_size]


def tensors(data: Dataset, limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = data.images, data.labels
    if limit:
        images, labels = images[:limit], labels[:limit]
    return torch.from_numpy(to_model_range(images)), torch.from_numpy(labels)


EpochData = Callable[[int], tuple[torch.Tensor, torch.Tensor]]  # epoch -> (images, labels) to train on


def epoch_data(data: Dataset | Callable[[int], Dataset], limit: int = 0) -> EpochData:
    """The same data set every epoch, or fresh data per epoch from a callable (two-digit pairs, igc_core.pairs)."""
    if isinstance(data, Dataset):
        fixed = tensors(data, limit)
        return lambda epoch: fixed
    return lambda epoch: tensors(data(epoch), limit)


def train_generator(
    gen_config: GeneratorConfig, data: Dataset | Callable[[int], Dataset], config: TrainConfig,
    progress: Progress | None = None, start: ConditionalGenerator | None = None,
) -> tuple[ConditionalGenerator, dict]:
    """Train an MLP generator of `gen_config.kind` (cvae, cgan-mlp); returns the model and its training metrics.

    `data` is a data set, or a function of the epoch that returns that epoch's data (fresh pairs).
    Labels are (N,) class indices, or (N, K) for a model of K labels. `start`: a trained generator of the same
    configuration to continue from (fine-tuning, e.g. on augmented digits), instead of fresh weights; it is not
    modified. Every kind's trainer, this one included, is found through `igc_core.model_kinds.train`.
    """
    torch.manual_seed(config.seed)
    rng = torch.Generator().manual_seed(config.seed)
    model = ConditionalGenerator(gen_config)
    if start is not None:
        if start.config != gen_config:
            raise ValueError("the starting model's configuration differs from the one to train: fine-tuning keeps the architecture")
        model.load_state_dict(start.state_dict())
        model.train()
    source = epoch_data(data, config.limit)
    started = time.perf_counter()
    if gen_config.kind == "cvae":
        metrics = _train_cvae(model, source, config, rng, progress)
    else:
        metrics = _train_cgan(model, source, config, rng, progress)
    metrics["train_seconds"] = round(time.perf_counter() - started, 1)
    if gen_config.kind == "cgan-mlp":
        with torch.no_grad():
            model.prior_mean.zero_()
            model.prior_std.fill_(gen_config.latent_scale)
    model.eval()
    return model, metrics


def _train_cvae(model, source: EpochData, config, rng, progress) -> dict:
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs)
    x_all, y_all = source(0)
    if (config.augment is not None or config.contrast) and (len(model.label_classes) > 1 or x_all.shape[1:] != (28, 28)):
        raise ValueError("augmentation and the contrast term are for single-digit models (28x28, one label)")
    n = len(x_all)
    total = config.epochs * ((n + config.batch_size - 1) // config.batch_size)
    step = 0
    L = model.latent_dim
    scale = model.config.latent_scale
    for epoch in range(config.epochs):
        x_all, y_all = source(epoch) if epoch else (x_all, y_all)
        sums = np.zeros(2)
        beta = config.beta * min(1.0, (epoch + 1) / config.kl_warmup) if config.kl_warmup else config.beta
        for idx in batches(n, config.batch_size, rng):
            x, c = x_all[idx], model.one_hot(y_all[idx])
            if config.augment is not None:
                x = augment(x, config.augment, rng)
            mu, logvar = model.encode(x, c)
            z = mu + torch.randn(mu.shape, generator=rng) * (0.5 * logvar).exp()
            logits = model.decode_logits(z, c)
            # ELBO (Kingma & Welling 2014): Bernoulli likelihood on [0, 1] pixels + KL to N(0, I)
            rec = F.binary_cross_entropy_with_logits(logits, x.reshape(len(x), -1) + 0.5, reduction="sum") / len(x)
            # KL to the prior N(0, latent_scale^2 I), computed in the unit latent u = z / latent_scale
            mu_u, logvar_u = mu / scale, logvar - 2 * math.log(scale)
            kl = -0.5 * (1 + logvar_u - mu_u.square() - logvar_u.exp()).sum() / len(x)
            loss = rec + beta * kl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            extra = {}
            if config.contrast:
                extra = _contrast(model, x[: config.contrast_images], y_all[idx][: config.contrast_images], config)
            opt.step()
            sums += (rec.item() * len(x), kl.item() * len(x))
            step += 1
            if progress:
                progress(epoch, step, total, {"rec": rec.item(), "kl": kl.item(), **extra})
        sched.step()
    # The latent distribution the decoder was trained on: the aggregate posterior over the training set.
    with torch.no_grad():
        mus, stds = [], []
        for i in range(0, n, 1024):
            mu, logvar = model.encode(x_all[i : i + 1024], model.one_hot(y_all[i : i + 1024]))
            mus.append(mu)
            stds.append((0.5 * logvar).exp())
        mu, sd = torch.cat(mus), torch.cat(stds)
        model.prior_mean.copy_(mu.mean(0))
        # variance of z = mu + sd * eps over the data set: var(mu) + mean(sd^2)
        model.prior_std.copy_((mu.var(0) + sd.square().mean(0)).sqrt().clamp_min(1e-3))
    return {"rec_bce_per_image": float(sums[0] / n), "kl_per_image": float(sums[1] / n), "latent_dims": L}


def _contrast(model, x, y, config) -> dict:
    """Hybrid training (a discriminative term on the generator, cf. Lasserre, Bishop & Minka 2006).

    Every class's encoder inverts x (it stands in for IGC's search, paper Sec. 3); d_k is the MAE between x and
    class k's reconstruction, the distance IGC ranks classes by. The decoder is pushed to make the true class
    the nearest, -log softmax(-d / T)_y, i.e. not to draw other classes' digits well, while the encoder is
    trained to fit every class as well as it can (so the decoder cannot win by a poor fit of the wrong classes).
    Adds the gradients to the parameters' .grad.
    """
    B, C = len(x), model.num_classes
    cond = model.one_hot(torch.arange(C)).repeat(B, 1)  # (B C, C): rows (image, class)
    xx = x.repeat_interleave(C, 0)  # (B C, H, W)
    mu, _ = model.encode(xx, cond)  # (B C, L)
    recon = torch.sigmoid(model.decode_logits(mu, cond)) - 0.5
    d = (recon - xx.reshape(B * C, -1)).abs().mean(-1).view(B, C)  # L_DD per class, (B, C)
    disc = F.cross_entropy(-d / config.contrast_temperature, y)
    fit = d.mean() / config.contrast_temperature
    dec, enc = list(model.decoder.parameters()), list(model.encoder.parameters())
    g_dec = torch.autograd.grad(config.contrast * disc, dec, retain_graph=True)
    g_enc = torch.autograd.grad(config.contrast * fit, enc)
    for p, g in zip(dec + enc, g_dec + g_enc):
        p.grad = g if p.grad is None else p.grad + g
    return {"disc": disc.item(), "acc": float((d.argmin(1) == y).float().mean())}


def _train_cgan(model, source: EpochData, config, rng, progress) -> dict:
    """Least-squares conditional GAN (Mao et al. 2017), the loss the IGC paper used (Sec. 4.1)."""
    gen_params = list(model.decoder.parameters())
    opt_g = torch.optim.Adam(gen_params, lr=config.lr * 2, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(model.encoder.parameters(), lr=config.lr * 2, betas=(0.5, 0.999))
    x_all, y_all = source(0)
    n = len(x_all)
    total = config.epochs * ((n + config.batch_size - 1) // config.batch_size)
    step = 0
    last = {}
    for epoch in range(config.epochs):
        x_all, y_all = source(epoch) if epoch else (x_all, y_all)
        for idx in batches(n, config.batch_size, rng):
            x, c = x_all[idx].reshape(len(idx), -1), model.one_hot(y_all[idx])
            # the prior: N(0, latent_scale^2 I)
            z = model.config.latent_scale * torch.randn(len(idx), model.latent_dim, generator=rng)
            fake = torch.sigmoid(model.decode_logits(z, c)) - 0.5
            d_real = model.encoder(x, c)
            d_fake = model.encoder(fake.detach(), c)
            loss_d = 0.5 * ((d_real - 1).square().mean() + d_fake.square().mean())
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            loss_g = 0.5 * (model.encoder(fake, c) - 1).square().mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            step += 1
            last = {"loss_d": loss_d.item(), "loss_g": loss_g.item()}
            if progress:
                progress(epoch, step, total, last)
    return {"final_" + k: v for k, v in last.items()}
