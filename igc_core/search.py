"""The batched IGC latent search: every image x every class x every restart in one tensor.

IGC paper (Inverted Generator Classifier), Sec. 3: for each class condition c a latent z is optimised with
the generator frozen to minimise
    L(z) = L_DD + lambda_LR * L_LR,   L_DD = dif(G(c, z), d),   L_LR = mean(|zscore(z)|)
The predicted class is the one whose final reconstruction is closest to d, and that smallest distance is the
out-of-class degree OOC (Sec. 3.2); Parallel IGC (Sec. 3.3) runs R latents per class and keeps the best.

Each latent's loss depends on its own z only, and Adam is elementwise, so the latents never interact:
the summed loss gives every latent exactly its own gradient, and a batch equals a one-image loop.
The random restarts are drawn once per (class, restart) from the seed and shared by all images, so an
image's result does not depend on which images share its batch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Callable

import numpy as np
import torch
from torch.nn import functional as F

from .generators import ConditionalGenerator
from .runtime import ThreadTuner, check_threads, choose_precision

DIFS = ("mae", "mse", "bce")
SCORES = ("dif", "loss")
INITS = ("mean", "encoder")
PRECISIONS = ("auto", "fp32", "bf16")
MAX_MEAN_ZSCORE = 4.0  # a latent further out than this (mean |zscore|) has left the prior: diverged


@dataclass(frozen=True)
class SearchConfig:
    """Everything that decides a search's outcome. Validated on creation."""

    steps: int = 100
    lr: float = 0.001
    lambda_lr: float = 0.03
    restarts: int = 1
    dif: str = "mae"  # image distance L_DD: "mae" (the paper's), "mse" or "bce"
    score: str = "dif"  # rank classes by the final L_DD ("dif", the paper's) or by the whole loss ("loss")
    init: str = "mean"  # restart 0 starts at the prior mean ("mean") or at the CVAE encoder's guess ("encoder")
    restart_spread: float = 1.0  # restarts 1.. start at mean + spread * std * N(0, 1)
    keep_classes: int = 0  # > 0: after `prune_step` steps only the best k classes per image keep searching
    prune_step: int = 0
    seed: int = 0
    device: str = "cpu"
    # "bf16" runs the generator in bfloat16 (autocast; the latents stay fp32); "auto" picks the faster of the two
    # for this machine and batch (igc_core.runtime.choose_precision: bf16 only where the CPU has it natively)
    precision: str = "auto"
    batch_size: int = 256  # images per chunk
    threads: int = 0  # torch threads; 0 = automatic (igc_core.runtime.ThreadTuner times the steps themselves)

    def __post_init__(self) -> None:
        problems = []
        if not (isinstance(self.steps, int) and 0 <= self.steps <= 1_000_000):
            problems.append(f"steps must be a whole number from 0 to 1,000,000 (got {self.steps!r})")
        if not (math.isfinite(self.lr) and self.lr > 0):
            problems.append(f"learning rate must be a positive number (got {self.lr!r})")
        if not (math.isfinite(self.lambda_lr) and self.lambda_lr >= 0):
            problems.append(f"lambda_LR must be zero or positive (got {self.lambda_lr!r})")
        if not (isinstance(self.restarts, int) and 1 <= self.restarts <= 1000):
            problems.append(f"restarts must be from 1 to 1000 (got {self.restarts!r})")
        if not (math.isfinite(self.restart_spread) and self.restart_spread >= 0):
            problems.append(f"restart spread must be zero or positive (got {self.restart_spread!r})")
        for name, value, allowed in (
            ("dif", self.dif, DIFS),
            ("score", self.score, SCORES),
            ("init", self.init, INITS),
            ("precision", self.precision, PRECISIONS),
        ):
            if value not in allowed:
                problems.append(f"{name} must be one of {', '.join(allowed)} (got {value!r})")
        if self.keep_classes < 0 or self.prune_step < 0:
            problems.append("keep_classes and prune_step must not be negative")
        elif self.keep_classes and not 1 <= self.prune_step < max(self.steps, 1):
            problems.append("pruning (keep_classes > 0) needs 1 <= prune_step < steps")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            problems.append(f"batch size must be a positive whole number (got {self.batch_size!r})")
        try:
            check_threads(self.threads)
        except ValueError as exc:
            problems.append(str(exc))
        if not isinstance(self.seed, int):
            problems.append(f"seed must be a whole number (got {self.seed!r})")
        if self.device != "cpu" and not self.device.startswith("cuda") and self.device != "auto":
            problems.append(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto' (got {self.device!r})")
        if problems:
            raise ValueError("; ".join(problems))

    def to_dict(self) -> dict:
        return asdict(self)

    def with_(self, **changes) -> "SearchConfig":
        unknown = sorted(set(changes) - set(self.to_dict()))
        if unknown:
            raise ValueError(f"unknown search setting(s): {', '.join(unknown)}")
        return replace(self, **changes)

    @classmethod
    def from_preset(cls, name: str | None = None, **overrides) -> "SearchConfig":
        """A named preset (the default one when `name` is None) with some settings changed.

        The one place a search configuration is built from a name, for the CLI and the app alike.
        """
        name = DEFAULT_PRESET if name is None else name
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
        return PRESETS[name].with_(**overrides)

    def preset_name(self) -> str | None:
        """The preset this configuration equals in every setting, if any."""
        return next((name for name, preset in PRESETS.items() if preset == self), None)


# The paper's protocol (Sec. 4): 100 Adam steps at lr 0.001, lambda_LR 0.03, MAE; Parallel IGC uses 5 latents,
# in float32. "igc" (the default) is the same search with the precision chosen for the machine and batch at
# hand (bfloat16 where the CPU has it natively and it is measured faster; see igc_core.runtime).
PRESETS: dict[str, SearchConfig] = {
    "igc": SearchConfig(steps=100, lr=0.001, lambda_lr=0.03, restarts=1, dif="mae", precision="auto"),
    "igc-parallel": SearchConfig(steps=100, lr=0.001, lambda_lr=0.03, restarts=5, dif="mae", precision="auto"),
    "paper": SearchConfig(steps=100, lr=0.001, lambda_lr=0.03, restarts=1, dif="mae", precision="fp32"),
    "paper-parallel": SearchConfig(steps=100, lr=0.001, lambda_lr=0.03, restarts=5, dif="mae", precision="fp32"),
}
DEFAULT_PRESET = "igc"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("CUDA was asked for but no CUDA device is available: use device 'cpu'")
    return torch.device(name)


@dataclass
class Snapshot:
    """The state of a chunk of the search after `step` Adam steps (step 0: the starting points)."""

    step: int
    steps: int
    first_image: int  # index of this chunk's first image in the whole batch
    losses: np.ndarray  # (n, C, R) total loss L per latent
    difs: np.ndarray  # (n, C, R) image distance L_DD per latent
    active: np.ndarray  # (n, C) classes still searching (False once pruned)
    reconstructions: np.ndarray | None = None  # (n, C, R, H, W) in [-0.5, 0.5], when asked for


@dataclass
class SearchResult:
    """Per image: the label, OOC and per-class distances; optionally reconstructions and latents."""

    labels: np.ndarray  # (N,) predicted class, -1 where the search diverged
    ooc: np.ndarray  # (N,) out-of-class degree: the winning class's score
    distances: np.ndarray  # (N, C) per-class score of the best restart
    best_restart: np.ndarray  # (N, C) which restart won per class
    diverged: np.ndarray  # (N,) True where the search blew up (non-finite, or made most latents worse)
    steps_done: int
    stopped: bool
    config: SearchConfig
    precision: str = "fp32"  # the precision the search ran in ("auto" resolved)
    precision_reason: str = ""  # why, in words
    reconstructions: np.ndarray | None = None  # (N, C, H, W) best restart's final image per class
    latents: np.ndarray | None = None  # (N, C, L) best restart's final latent per class


class SearchDiverged(ValueError):
    """Raised by `classify_one` when the search did not converge; the message says what to change."""


def _image_distance(dif: str, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_DD (paper Sec. 3.1, MAE there): logits (M, P), target (M, P) in [-0.5, 0.5] -> (M,)."""
    if dif == "bce":
        return F.binary_cross_entropy_with_logits(logits, target + 0.5, reduction="none").mean(-1)
    recon = torch.sigmoid(logits) - 0.5
    if dif == "mae":
        return (recon - target).abs().mean(-1)
    return (recon - target).square().mean(-1)


def start_points(generator: ConditionalGenerator, config: SearchConfig, device: torch.device) -> torch.Tensor:
    """(C, R, L) starting latents shared by every image: restart 0 at the prior mean, the rest around it."""
    C, R, L = generator.num_classes, config.restarts, generator.latent_dim
    rng = torch.Generator(device="cpu").manual_seed(config.seed)
    noise = torch.randn(C, R, L, generator=rng)
    noise[:, 0] = 0.0
    mean, std = generator.prior_mean.detach().cpu(), generator.prior_std.detach().cpu()
    return (mean + config.restart_spread * std * noise).to(device)  # (C, R, L)


def search(
    generator: ConditionalGenerator,
    images: np.ndarray | torch.Tensor,
    config: SearchConfig = SearchConfig(),
    *,
    on_snapshot: Callable[[Snapshot], None] | None = None,
    snapshot_every: int = 10,
    snapshot_images: bool = False,
    should_stop: Callable[[], bool] | None = None,
    return_reconstructions: bool = False,
    return_latents: bool = False,
    max_threads: int | None = None,
) -> SearchResult:
    """Classify images (N, H, W) in [-0.5, 0.5] by inverting `generator` for every class.

    `on_snapshot` receives a `Snapshot` at step 0, every `snapshot_every` steps and at the end (with
    reconstructions when `snapshot_images`); `should_stop` is polled every step and ends the search early,
    which then still returns the results of the steps done. `max_threads` caps the automatic thread choice
    (the app keeps a core for drawing).
    """
    device = resolve_device(config.device)
    imgs = torch.as_tensor(np.asarray(images, dtype=np.float32) if not torch.is_tensor(images) else images)
    imgs = imgs.float()
    if imgs.ndim == 2:
        imgs = imgs[None]
    if imgs.ndim != 3 or tuple(imgs.shape[1:]) != generator.image_shape:
        raise ValueError(f"expected images of shape (N, {generator.image_shape[0]}, {generator.image_shape[1]}), got {tuple(imgs.shape)}")
    if not torch.isfinite(imgs).all():
        raise ValueError("the images hold NaN or infinite values")
    if imgs.numel() and (imgs.min() < -0.5 - 1e-4 or imgs.max() > 0.5 + 1e-4):
        raise ValueError("images must be scaled to [-0.5, 0.5] (use igc_core.data.to_model_range)")
    if snapshot_every < 1:
        raise ValueError("snapshot_every must be at least 1")
    if config.init == "encoder" and not generator.has_encoder:
        raise ValueError(f"init 'encoder' needs a CVAE; this generator is a {generator.config.kind}")

    was_training = generator.training
    generator.eval()
    flags = [p.requires_grad for p in generator.parameters()]
    generator.requires_grad_(False)  # frozen: no weight gradients are ever computed
    generator.to(device)
    tuner = ThreadTuner(config.threads, max_threads) if device.type == "cpu" else None
    try:
        rows = min(max(len(imgs), 1), config.batch_size) * generator.num_classes * config.restarts
        choice = choose_precision(generator, rows, device, config.precision)
        run_config = config.with_(precision=choice.precision)
        starts = start_points(generator, config, device)
        parts = []
        steps_done, stopped = config.steps, False
        for first in range(0, len(imgs), config.batch_size):
            chunk = imgs[first : first + config.batch_size].to(device)
            part = _search_chunk(
                generator, chunk, starts, run_config, first, on_snapshot, snapshot_every, snapshot_images,
                should_stop, return_reconstructions, return_latents, tuner,
            )
            parts.append(part)
            steps_done = min(steps_done, part["steps_done"])
            if part["stopped"]:
                stopped = True
                break
    finally:
        if tuner is not None:
            tuner.close()
        for p, flag in zip(generator.parameters(), flags):
            p.requires_grad_(flag)
        generator.train(was_training)

    def cat(key):
        if not parts or parts[0].get(key) is None:
            return None
        return np.concatenate([p[key] for p in parts])

    C = generator.num_classes
    return SearchResult(
        labels=cat("labels") if parts else np.zeros(0, dtype=np.int64),
        ooc=cat("ooc") if parts else np.zeros(0, dtype=np.float32),
        distances=cat("distances") if parts else np.zeros((0, C), dtype=np.float32),
        best_restart=cat("best_restart") if parts else np.zeros((0, C), dtype=np.int64),
        diverged=cat("diverged") if parts else np.zeros(0, dtype=bool),
        steps_done=steps_done if parts else 0,
        stopped=stopped,
        config=config,
        precision=choice.precision,
        precision_reason=choice.reason,
        reconstructions=cat("reconstructions"),
        latents=cat("latents"),
    )


def _search_chunk(generator, images, starts, config, first, on_snapshot, snapshot_every, snapshot_images,
                  should_stop, return_reconstructions, return_latents, tuner=None) -> dict:
    n = len(images)
    C, R, L = starts.shape
    P = images[0].numel()
    device = images.device
    mean, std = generator.prior_mean, generator.prior_std

    # ---- the search state: one latent per (image, class, restart), kept flat as M = n * C * R rows
    z = starts.expand(n, C, R, L).clone()  # (n, C, R, L)
    if config.init == "encoder":
        cond_nc = generator.one_hot(torch.arange(C, device=device)).expand(n, C, C).reshape(n * C, C)
        guess, _ = generator.encode(images.repeat_interleave(C, 0), cond_nc)  # (n*C, L)
        z[:, :, 0] = guess.view(n, C, L).float()
    z = z.reshape(-1, L)  # (M, L)
    cond = generator.one_hot(torch.arange(C, device=device)).view(1, C, 1, C).expand(n, C, R, C).reshape(-1, C)  # (M, C)
    target = images.reshape(n, 1, 1, P).expand(n, C, R, P).reshape(-1, P)  # (M, P)
    m1 = torch.zeros_like(z)  # Adam's first moment
    m2 = torch.zeros_like(z)  # Adam's second moment
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    active_classes = torch.ones(n, C, dtype=torch.bool, device=device)
    rows = None  # indices of the rows still searching; None = all of them
    frozen_loss = torch.full((n * C * R,), float("nan"), device=device)
    frozen_dif = torch.full((n * C * R,), float("nan"), device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16")

    def evaluate(zr, idx):
        """Loss, L_DD and logits for the rows `idx` (None = all) at latents zr (m, L)."""
        c = cond if idx is None else cond[idx]
        t = target if idx is None else target[idx]
        with autocast:
            logits = generator.decode_logits(zr, c)
        logits = logits.float()  # (m, P)
        dif = _image_distance(config.dif, logits, t)  # L_DD, (m,)
        latent_reg = ((zr - mean) / std).abs().mean(-1)  # L_LR = mean |zscore(z)|, paper Sec. 3.1, (m,)
        return dif + config.lambda_lr * latent_reg, dif, logits

    def full(values_rows, frozen):
        if rows is None:
            return values_rows
        out = frozen.clone()
        out[rows] = values_rows
        return out

    def emit(step, loss, dif, logits):
        if on_snapshot is None:
            return
        recon = None
        if snapshot_images:
            img = torch.sigmoid(logits.detach()) - 0.5
            recon_full = torch.zeros(n * C * R, P, device=device) if rows is not None else img
            if rows is not None:
                recon_full[rows] = img
            recon = recon_full.view(n, C, R, *generator.image_shape).cpu().numpy().copy()
        on_snapshot(Snapshot(
            step=step, steps=config.steps, first_image=first,
            losses=full(loss.detach(), frozen_loss).view(n, C, R).cpu().numpy().copy(),
            difs=full(dif.detach(), frozen_dif).view(n, C, R).cpu().numpy().copy(),
            active=active_classes.cpu().numpy().copy(),
            reconstructions=recon,
        ))

    initial_loss = None
    step, stopped = 0, False
    if tuner is not None:
        tuner.new_phase()
    for step in range(config.steps):
        if tuner is not None:
            tuner.begin()
        zr = z if rows is None else z[rows]
        zr.requires_grad_(True)
        loss, dif, logits = evaluate(zr, rows)
        (grad,) = torch.autograd.grad(loss.sum(), zr)
        zr = zr.detach()
        if initial_loss is None:
            initial_loss = loss.detach().clone()
        if step % snapshot_every == 0:
            emit(step, loss, dif, logits)
        # ---- Adam (Kingma & Ba 2015), the paper's optimiser, written out so pruned rows can be dropped
        g = grad
        a1 = m1 if rows is None else m1[rows]
        a2 = m2 if rows is None else m2[rows]
        a1.mul_(beta1).add_(g, alpha=1 - beta1)
        a2.mul_(beta2).addcmul_(g, g, value=1 - beta2)
        t = step + 1
        denom = (a2 / (1 - beta2**t)).sqrt_().add_(eps)
        zr = zr - config.lr * (a1 / (1 - beta1**t)) / denom
        if rows is None:
            z = zr
        else:
            z[rows], m1[rows], m2[rows] = zr, a1, a2
        if tuner is not None:
            tuner.end()
        if should_stop is not None and should_stop():
            stopped = True
            step += 1
            break
        # ---- optional pruning: after prune_step steps only the best keep_classes classes per image go on
        if config.keep_classes and step + 1 == config.prune_step and config.keep_classes < C:
            with torch.no_grad():
                cur_loss, cur_dif, _ = evaluate(z, None)
            frozen_loss, frozen_dif = cur_loss.clone(), cur_dif.clone()
            per_class = (cur_dif if config.score == "dif" else cur_loss).view(n, C, R).amin(-1)  # (n, C)
            keep = per_class.topk(config.keep_classes, dim=1, largest=False).indices  # (n, k)
            active_classes = torch.zeros(n, C, dtype=torch.bool, device=device).scatter_(1, keep, True)
            rows = active_classes.view(n, C, 1).expand(n, C, R).reshape(-1).nonzero().squeeze(1)
            if tuner is not None:
                tuner.new_phase()
    else:
        step = config.steps

    # ---- final evaluation at the last latents (no gradient): the scores the classes are ranked by
    with torch.no_grad():
        zr = z if rows is None else z[rows]
        loss_r, dif_r, logits = evaluate(zr, rows)
        final_loss, final_dif = full(loss_r, frozen_loss), full(dif_r, frozen_dif)
        emit(step, loss_r, dif_r, logits)
        if initial_loss is None:  # zero steps: nothing moved
            initial_loss = final_loss
        score = (final_dif if config.score == "dif" else final_loss).view(n, C, R)
        per_class, best_restart = score.amin(-1), score.argmin(-1)  # (n, C)
        per_class = torch.where(torch.isnan(per_class), torch.full_like(per_class, float("inf")), per_class)
        ooc, labels = per_class.min(-1)  # OOC: the smallest distance, paper Sec. 3.2
        # A diverged search (step size gone wild): non-finite values; or the winning latent, or most latents,
        # "lost": far worse than where they started (Adam's jitter at an optimum costs a little, a blow-up a
        # lot), or absurdly far outside the prior (mean |zscore| > MAX_MEAN_ZSCORE; under it, about 0.8).
        zscore = ((z.view(n, C * R, L) - mean) / std).abs().mean(-1)  # (n, C*R)
        lost = (final_loss.view(n, -1) > 1.5 * initial_loss.view(n, -1) + 1e-3) | (zscore > MAX_MEAN_ZSCORE)
        winner = labels * R + best_restart.gather(1, labels.view(n, 1)).view(n)  # (n,) row within C*R
        nonfinite = ~torch.isfinite(final_loss.view(n, -1)).all(-1) | ~torch.isfinite(z.view(n, -1)).all(-1)
        diverged = nonfinite | lost.gather(1, winner.view(n, 1)).view(n) | (lost.float().mean(-1) > 0.5)
        labels = torch.where(diverged, torch.full_like(labels, -1), labels)
        out = {
            "labels": labels.cpu().numpy(),
            "ooc": ooc.cpu().numpy(),
            "distances": per_class.cpu().numpy(),
            "best_restart": best_restart.cpu().numpy(),
            "diverged": diverged.cpu().numpy(),
            "steps_done": step,
            "stopped": stopped,
        }
        pick = best_restart.view(n, C, 1, 1)
        if return_reconstructions:
            img = torch.sigmoid(logits) - 0.5
            full_img = img if rows is None else torch.zeros(n * C * R, P, device=device).index_copy_(0, rows, img)
            if rows is not None:  # pruned classes: their image at the latent where they stopped
                with torch.no_grad():
                    idle = (~active_classes).view(n, C, 1).expand(n, C, R).reshape(-1).nonzero().squeeze(1)
                    with autocast:
                        full_img[idle] = torch.sigmoid(generator.decode_logits(z[idle], cond[idle]).float()) - 0.5
            recon = full_img.view(n, C, R, P).gather(2, pick.expand(n, C, 1, P)).squeeze(2)
            out["reconstructions"] = recon.view(n, C, *generator.image_shape).cpu().numpy()
        if return_latents:
            out["latents"] = z.view(n, C, R, L).gather(2, pick.expand(n, C, 1, L)).squeeze(2).cpu().numpy()
    return out


def classify_one(generator: ConditionalGenerator, image: np.ndarray, config: SearchConfig = SearchConfig(), **kw) -> SearchResult:
    """Search one (H, W) image; raises `SearchDiverged` with advice when the search blew up."""
    result = search(generator, np.asarray(image)[None], config, **kw)
    if result.diverged[0]:
        raise SearchDiverged(
            f"the search diverged (learning rate {config.lr:g}): lower the learning rate and search again"
        )
    return result
