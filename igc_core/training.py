"""Training the conditional generators (and the CNN baseline), reporting through a callback.

The trainers know nothing of files or progress bars: they take a `progress(epoch, step, total, metrics)`
callable, as minGPT's trainer reports through `on_batch_end`; the CLI turns it into a tqdm bar.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes
from torch.nn import functional as F

from . import files
from .augment import AugmentConfig, augment
from .data import Dataset, to_model_range
from .generators import ConditionalGenerator, GeneratorConfig
from .marks import training_negatives
from .search import PRESETS, SearchConfig, adam_step, objective
from .verdict import INK_FLOOR

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
    # the contrast term's inversion: the encoder's guess refined by this many steps of IGC's own search (Adam on
    # the preset's objective, weights frozen), so the wrong class that the search fits best is the hard negative
    contrast_steps: int = 0
    contrast_lr: float = 0.002  # the refinement's Adam step (latent units; the search's is 0.001 over 100 steps)
    contrast_preset: str = "igc"  # the search preset whose distance (dif, intensity fit, lambda_LR) is trained on
    # where the refinement starts: the encoder's guess, or "both" that and the prior mean (where IGC's search
    # starts), each class keeping the closer of the two (the search can fit a wrong class or a mark better than
    # the encoder's guess suggests)
    contrast_start: str = "encoder"
    # outlier exposure (Hendrycks et al. 2019): marks no class may draw well (igc_core.marks); each mark's OOC
    # score (igc_core.verdict's ink score: its nearest class's distance over the square root of its ink) is pushed
    # above `negative_level`. A fixed level: one relative to the digits' own fit rewards drawing digits worse.
    negatives: float = 0.0  # weight of the marks term, 0 = off
    negative_images: int = 16  # marks per batch
    negative_level: float = 0.25  # the default model's digits: 99 % score below 0.19 (MAE search)
    checkpoint: str = ""  # a folder: the state after every epoch is saved there, and training resumes from it

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0 or self.beta < 0 or self.limit < 0:
            raise ValueError("epochs and batch size must be positive, lr positive, beta and limit not negative")
        if self.kl_warmup < 0:
            raise ValueError(f"kl_warmup must not be negative (got {self.kl_warmup})")
        if self.contrast < 0 or not self.contrast_temperature > 0 or self.contrast_images < 1:
            raise ValueError("contrast must not be negative, its temperature and images must be positive")
        if self.contrast_start not in ("encoder", "both"):
            raise ValueError(f"contrast_start is 'encoder' or 'both' (got {self.contrast_start!r})")
        if self.contrast_steps < 0 or not self.contrast_lr > 0:
            raise ValueError("contrast_steps must not be negative and contrast_lr must be positive")
        if self.negatives < 0 or self.negative_images < 1 or not self.negative_level > 0:
            raise ValueError("negatives must not be negative, negative_images and negative_level must be positive")
        if self.negatives and not self.contrast:
            raise ValueError("the marks term (negatives) is part of the contrast term: set contrast too")
        numbers = (self.lr, self.beta, self.contrast, self.contrast_temperature, self.contrast_lr, self.negatives,
                   self.negative_level)
        if not all(math.isfinite(v) for v in numbers):
            raise ValueError("training settings must be finite numbers")
        check_training_numbers(self.lr, self.limit)
        if self.contrast_preset not in PRESETS:
            raise ValueError(f"unknown contrast preset {self.contrast_preset!r}: choose one of {', '.join(PRESETS)}")
        if isinstance(self.augment, dict):
            object.__setattr__(self, "augment", AugmentConfig(**self.augment))

    def to_dict(self) -> dict:
        return asdict(self)


MAX_TRAIN_LR = 1.0  # Adam at a rate above 1 only diverges (the kinds train at 1e-3 and 2e-4)
MIN_TRAINING_IMAGES = 10  # fewer cannot show every class, nor estimate the latent prior's spread


def check_training_numbers(lr: float, limit: int) -> None:
    """Refuse, before any training, a learning rate that can only diverge and an image limit too small to train on."""
    if not lr <= MAX_TRAIN_LR:
        raise ValueError(f"the training learning rate must be above 0 and at most {MAX_TRAIN_LR:g} (got {lr!r}); "
                         "the models train at 0.001 (cvae) and 0.0002 (cgan-conv)")
    if 0 < limit < MIN_TRAINING_IMAGES:
        raise ValueError(f"--limit {limit} is too few images to train on: give 0 (all) or {MIN_TRAINING_IMAGES} or more")


def check_finite_loss(epoch: int, **losses: torch.Tensor | float) -> None:
    """Stop training at the first non-finite loss (FloatingPointError, which `igc` reports as a message): the
    model would only hold NaN from here on, and a model of NaN never loads."""
    for name, value in losses.items():
        value = value.item() if isinstance(value, torch.Tensor) else float(value)
        if not math.isfinite(value):
            raise FloatingPointError(f"the training loss {name} became {value} at epoch {epoch + 1}: lower the "
                                     "learning rate (--train-lr) or check the settings")


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
    if (config.augment is not None or config.negatives) and (len(model.label_classes) > 1 or x_all.shape[1:] != (28, 28)):
        raise ValueError("augmentation and the marks term are for single-digit models (28x28, one label)")
    n = len(x_all)
    per_epoch = (n + config.batch_size - 1) // config.batch_size
    total = config.epochs * per_epoch
    L = model.latent_dim
    scale = model.config.latent_scale
    first_epoch = 0
    if config.checkpoint:
        first_epoch = resume(config.checkpoint, model, opt, sched, rng, config)
    step = first_epoch * per_epoch
    for epoch in range(first_epoch, config.epochs):
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
            check_finite_loss(epoch, loss=loss)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            extra = {}
            if config.contrast:
                k = config.contrast_images
                marks = None
                if config.negatives:
                    marks = training_negatives(config.negative_images, rng, x_all[idx])
                extra = _contrast(model, x[:k], y_all[idx][:k], config, marks)
            opt.step()
            sums += (rec.item() * len(x), kl.item() * len(x))
            step += 1
            if progress:
                progress(epoch, step, total, {"rec": rec.item(), "kl": kl.item(), **extra})
        sched.step()
        if config.checkpoint:
            save_state(config.checkpoint, model, opt, sched, rng, config, epoch + 1)
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
    return {"rec_bce_per_image": float(sums[0] / n), "kl_per_image": float(sums[1] / n), "latent_dims": L,
            **({"resumed_at_epoch": first_epoch} if first_epoch else {})}


def _refine(model, z: torch.Tensor, cond: torch.Tensor, target: torch.Tensor, search_config, steps: int,
            lr: float) -> torch.Tensor:
    """`steps` Adam steps of IGC's own search objective (paper Sec. 3.1) from z (M, L), the weights untouched:
    where the search would take each class's latent. Returns the latents, detached."""
    z = z.detach().clone()
    m1, m2 = torch.zeros_like(z), torch.zeros_like(z)
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        for t in range(1, steps + 1):
            z.requires_grad_(True)
            loss, _, _ = objective(model, z, cond, target, search_config)
            (grad,) = torch.autograd.grad(loss.sum(), z)
            z = adam_step(z.detach(), grad, m1, m2, t, lr)
    finally:
        for p in params:
            p.requires_grad_(True)
    return z.detach()


def _contrast(model, x, y, config, marks: torch.Tensor | None = None) -> dict:
    """Hybrid training (a discriminative term on the generator, cf. Lasserre, Bishop & Minka 2006).

    Every class's encoder inverts x, and `contrast_steps` steps of IGC's own search refine the guess (it stands
    in for the search, paper Sec. 3); d_k is the search's distance L_DD (the `contrast_preset`'s image distance
    and intensity fit) between x and class k's reconstruction at that latent, the distance IGC ranks classes by.
    By the envelope theorem the gradient of the searched minimum with respect to the weights is the gradient at
    the found latent, so z is held fixed. The decoder is pushed to make the true class the nearest,
    -log softmax(-d / T)_y (the wrong class the search fits best weighs most), i.e. not to draw other classes'
    digits well; and, with `marks`, to draw no mark as well as it draws digits (outlier exposure): each mark's
    OOC score (igc_core.verdict's ink score) is pushed above the fixed `negative_level`. A model of several
    labels (two digits) is pushed label by label: each label's classes compete with the other labels held at
    their true classes (`_candidates`).
    The encoder is trained to fit every class as well as it can (so the decoder cannot win by a poor start for
    the wrong classes). Adds the gradients to the parameters' .grad.
    """
    sc = SearchConfig.from_preset(config.contrast_preset, precision="fp32")
    classes = model.label_classes
    B = len(x)
    labels = y.view(B, -1)  # (B, K)
    inputs = x if marks is None else torch.cat([x, marks])
    N = len(inputs)
    known = labels if marks is None else torch.cat([labels, labels.new_zeros(len(marks), len(classes))])
    cand = _candidates(known, classes)  # (N, C, K): C = all labels' classes together
    C = cand.shape[1]
    cond = model.one_hot(cand.view(N * C, -1).squeeze(1))  # (N C, width): rows (image, candidate)
    xx = inputs.repeat_interleave(C, 0)  # (N C, H, W)
    target = xx.reshape(N * C, -1)
    mu, _ = model.encode(xx, cond)  # (N C, L)
    starts = mu.detach()
    if config.contrast_start == "both":  # also where the search starts: the prior mean
        starts = torch.cat([starts, model.prior_mean.detach().expand_as(starts)])  # (2 N C, L)
        cond, target = cond.repeat(2, 1), target.repeat(2, 1)
    z = _refine(model, starts, cond, target, sc, config.contrast_steps, config.contrast_lr) if config.contrast_steps else starts
    _, d_all, _ = objective(model, z, cond, target, sc)  # L_DD per (start, input, class), gradient to the decoder
    d_all = d_all.view(-1, N, C).amin(0)  # (N, C): each class's closer start
    cond, target = cond[: N * C], target[: N * C]
    d = d_all[:B]
    T = config.contrast_temperature
    disc, right, first = d.new_zeros(()), torch.ones(B, dtype=torch.bool), 0
    for k, size in enumerate(classes):  # each label's candidates, the other labels held at their true classes
        d_k = d[:, first : first + size]
        disc = disc + F.cross_entropy(-d_k / T, labels[:, k])
        right &= d_k.argmin(1) == labels[:, k]
        first += size
    true_d = d[:, : classes[0]].gather(1, labels[:, :1]).squeeze(1)
    total = disc
    out = {"disc": disc.item(), "acc": float(right.float().mean()), "fit": true_d.mean().item()}
    if marks is not None:
        ink = (marks + 0.5).flatten(1).mean(1)
        score = d_all[B:].min(1).values / (ink + INK_FLOOR).sqrt()  # (marks,) the OOC score of the best class's fit
        neg = F.softplus((config.negative_level - score) / (3 * T)).mean()  # the score's unit is about 3x L_DD's
        total = total + config.negatives / config.contrast * neg
        out["marks_in"] = float((score < config.negative_level).float().mean())
    dec, enc = list(model.decoder.parameters()), list(model.encoder.parameters())
    g_dec = torch.autograd.grad(config.contrast * total, dec, allow_unused=True)
    # the encoder's own fit of every class (its guess is where the refinement starts)
    recon_mu = torch.sigmoid(model.decode_logits(mu, cond)) - 0.5
    fit = (recon_mu - target).abs().mean() / T
    g_enc = torch.autograd.grad(config.contrast * fit, enc)
    for p, g in zip(dec + enc, g_dec + g_enc):
        if g is not None:
            p.grad = g if p.grad is None else p.grad + g
    return out


def _candidates(labels: torch.Tensor, classes: tuple[int, ...]) -> torch.Tensor:
    """The conditions the contrast term compares, (N, sum(classes), K) labels: for each label k in turn, every
    class of label k with the other labels at their true classes. One label: every class. Several labels: the
    confusions IGC's multi-label search (one label at a time) makes, without trying every combination."""
    blocks = []
    for k, size in enumerate(classes):
        block = labels.unsqueeze(1).repeat(1, size, 1)
        block[:, :, k] = torch.arange(size)
        blocks.append(block)
    return torch.cat(blocks, 1)


# ----------------------------------------------------------------------------------- resumable state


def _state_paths(folder: str):
    root = Path(folder)
    return root / "state.safetensors", root / "state.json"


def save_state(folder: str, model, opt, sched, rng: torch.Generator, config, epochs_done: int) -> None:
    """The training state after `epochs_done` epochs (weights, Adam's moments, the scheduler, the random
    generator), as safetensors plus JSON, written to temporary files and renamed: a run stopped at any moment
    resumes from the last whole epoch."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    tensors_path, json_path = _state_paths(folder)
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    steps = {}
    for i, p in enumerate(model.parameters()):
        st = opt.state.get(p)
        if st:
            tensors[f"opt.{i}.exp_avg"] = st["exp_avg"].contiguous()
            tensors[f"opt.{i}.exp_avg_sq"] = st["exp_avg_sq"].contiguous()
            steps[str(i)] = float(st["step"])
    tensors["rng"] = rng.get_state()
    state = {"epochs_done": epochs_done, "adam_steps": steps, "scheduler": sched.state_dict(),
             "config": _resumable(config)}
    files.write_atomically(tensors_path, safetensors_bytes(tensors))
    files.write_atomically(json_path, json.dumps(state).encode())  # last: the record of a whole epoch


def _resumable(config) -> dict:
    """The settings a resumed run must share with the run it continues (everything but the folder)."""
    d = config.to_dict()
    d.pop("checkpoint", None)
    return json_safe(d)


def json_safe(value):
    return json.loads(json.dumps(value, default=str))


def resume(folder: str, model, opt, sched, rng: torch.Generator, config) -> int:
    """Load the state saved in `folder`, if any, into the model, optimiser, scheduler and generator; returns the
    number of epochs already done (0 when there is nothing to resume). Refuses a state of other settings."""
    tensors_path, json_path = _state_paths(folder)
    if not json_path.exists():
        return 0
    try:
        state = files.load_json(json_path, what="training state")
        tensors = load_file(str(tensors_path))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot resume from {folder}: {exc}") from None
    if state.get("config") != _resumable(config):
        raise ValueError(f"cannot resume from {folder}: it was saved by a run with other settings "
                         "(use another checkpoint folder, or the same command)")
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    for i, p in enumerate(model.parameters()):
        if f"opt.{i}.exp_avg" in tensors:
            opt.state[p] = {"step": torch.tensor(state["adam_steps"][str(i)]),
                            "exp_avg": tensors[f"opt.{i}.exp_avg"], "exp_avg_sq": tensors[f"opt.{i}.exp_avg_sq"]}
    sched.load_state_dict(state["scheduler"])
    for group, lr in zip(opt.param_groups, sched.get_last_lr()):  # the rate the scheduler had set
        group["lr"] = lr
    rng.set_state(tensors["rng"])
    return int(state["epochs_done"])


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
            check_finite_loss(epoch, **last)
            if progress:
                progress(epoch, step, total, last)
    return {"final_" + k: v for k, v in last.items()}
