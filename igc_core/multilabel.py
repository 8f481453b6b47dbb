"""Multi-label IGC (IGC paper Sec. 1.4): read several labels of one image, such as a two-digit number.

The paper's procedure: with several labels IGC need not try every combination of conditions. To predict
label i, fix its condition to each of its classes in turn and let the *other* labels' conditions, relaxed to
the softmax of trainable logits, be searched together with the latent; repeat for every label. For two digits
that is 10 + 10 searches per image ("per-label") instead of the 100 of every combination ("exhaustive", kept
as the reference). Per row (one image, one search, one restart) the loss is the single-label search's
(paper Sec. 3.1):
    L = dif(G(c, z), d) + lambda_LR * mean|zscore(z)|,   c = [one-hot of the fixed labels | softmax(u / T)]
with z and the logits u both trained by Adam and the softmax temperature T annealed from `temperature` to
`final_temperature`. Label i's class k scores the final L_DD of the search that fixed it (the best over
restarts); in the exhaustive mode, the best of the combinations holding it. The predicted class per label is
the best-scoring one; OOC (paper Sec. 3.2) is the largest over labels of each label's best score, so an image
is in class only if every label's search explains it.

Like `igc_core.search`, the work is one tensor of shape (images, searches, restarts, ...) kept flat as rows;
rows never interact, so a batch equals a one-image loop, and starting points are drawn per (search, restart)
from the seed, shared by all images.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch

from .generators import ConditionalGenerator
from .runtime import ThreadTuner, choose_precision
from .search import setting, settings_of
from .search import (SearchConfig, adam_step, check_images, divergence, freeze, objective, preprocess, resolve_device,
                     start_points)

MODES = ("per-label", "exhaustive")
ROWS_PER_CHUNK = 10  # x search.batch_size: latents per chunk, as many as the single-label search's 10 classes


@dataclass(frozen=True)
class MultiLabelConfig:
    """The multi-label search: the mode, the latent search's settings (`search`), and the relaxed conditions'."""

    mode: str = setting(
        "per-label", "per-label: fix one label's class, search the other labels' relaxed conditions with the latent "
                     "(paper Sec. 1.4; 10+10 searches for two digits); exhaustive: every combination (100)",
        "mode", changes_distances=True, choices=MODES, flag="--multi-label")
    search: SearchConfig = field(default_factory=SearchConfig)  # steps, lr, lambda_LR, restarts, dif, ...
    cond_lr: float = setting(0.05, "Adam learning rate of the relaxed conditions' logits", "condition lr",
                             changes_distances=True)
    temperature: float = setting(1.0, "the relaxed conditions' softmax temperature at the first step", "temperature",
                                 changes_distances=True)
    final_temperature: float = setting(
        1.0, "the softmax temperature at the last step (annealed geometrically from --temperature)",
        "final temperature", changes_distances=True)
    cond_spread: float = setting(0.0, "restarts 1..: the logits start at spread * N(0, 1)", "condition spread",
                                 changes_distances=True)  # restart 0: uniform

    def __post_init__(self) -> None:
        problems = []
        if self.mode not in MODES:
            problems.append(f"mode must be one of {', '.join(MODES)} (got {self.mode!r})")
        if not isinstance(self.search, SearchConfig):
            problems.append("search must be a SearchConfig")
        else:
            if self.search.init != "mean":
                problems.append("the multi-label search starts at the prior mean (init 'mean'): the encoder needs "
                                "every label's condition")
            if self.search.keep_classes:
                problems.append("pruning (keep_classes) is not available in the multi-label search")
        for name in ("cond_lr", "temperature", "final_temperature"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                problems.append(f"{name} must be a positive number (got {value!r})")
        if not (isinstance(self.cond_spread, (int, float)) and math.isfinite(self.cond_spread) and self.cond_spread >= 0):
            problems.append(f"cond_spread must be zero or positive (got {self.cond_spread!r})")
        if problems:
            raise ValueError("; ".join(problems))

    def to_dict(self) -> dict:
        return asdict(self)

    def with_(self, **changes) -> "MultiLabelConfig":
        """A copy with some settings changed; SearchConfig's fields (steps, lr, ...) go to `search`."""
        own = {k: v for k, v in changes.items() if k in self.__dataclass_fields__}
        inner = {k: v for k, v in changes.items() if k not in own}
        search = self.search.with_(**inner) if inner else self.search
        return MultiLabelConfig(**{**{k: getattr(self, k) for k in self.__dataclass_fields__}, **own, "search": search})


SETTINGS = settings_of(MultiLabelConfig)  # the multi-label search's own settings (not `search`), in field order


def label_blocks(label_classes: tuple[int, ...]) -> list[slice]:
    """Each label's columns in the concatenated condition: two digits -> [0:10, 10:20]."""
    ends = np.cumsum((0, *label_classes))
    return [slice(int(a), int(b)) for a, b in zip(ends[:-1], ends[1:])]


def plan(label_classes: tuple[int, ...], mode: str) -> np.ndarray:
    """(S, K) the searches: the class each fixes per label, -1 where the label's condition is relaxed.

    per-label: label 0's classes with the others relaxed, then label 1's, ... (10 + 10 rows for two digits);
    exhaustive: every combination (100 rows), the last label changing fastest.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)} (got {mode!r})")
    K = len(label_classes)
    if mode == "exhaustive":
        return np.array(list(itertools.product(*(range(c) for c in label_classes))), dtype=np.int64).reshape(-1, K)
    rows = []
    for i, classes in enumerate(label_classes):
        for k in range(classes):
            row = [-1] * K
            row[i] = k
            rows.append(row)
    return np.array(rows, dtype=np.int64)


@dataclass
class MultiLabelSnapshot:
    """The state of a chunk of the search after `step` Adam steps (step 0: the starting points).

    For a live view: `conditions[i, s, r, blocks[j]]` is label j's condition in image i's search s, restart r:
    one-hot where `searches[s, j]` fixes it, the softmax being searched (it sums to 1) where it is -1.
    """

    step: int
    steps: int
    first_image: int  # index of this chunk's first image in the whole batch
    searches: np.ndarray  # (S, K) class fixed per label, -1 = relaxed
    blocks: list[slice]  # each label's columns in a condition
    temperature: float  # the softmax's temperature at this step
    losses: np.ndarray  # (n, S, R) total loss L per latent
    difs: np.ndarray  # (n, S, R) image distance L_DD per latent
    conditions: np.ndarray  # (n, S, R, D) the condition each latent is decoded with
    reconstructions: np.ndarray | None = None  # (n, S, R, H, W) in [-0.5, 0.5], when asked for


@dataclass
class MultiLabelResult:
    """Per image: the labels, OOC and per-label per-class distances; optionally what each search found."""

    labels: np.ndarray  # (N, K) predicted class per label, -1 where the search diverged
    ooc: np.ndarray  # (N,) out-of-class degree: the largest over labels of the label's best distance
    distances: list[np.ndarray]  # per label, (N, C_k): the class's score (best search and restart holding it)
    diverged: np.ndarray  # (N,)
    searches: np.ndarray  # (S, K) what each search fixed (-1: relaxed)
    search_distances: np.ndarray  # (N, S) each search's score, best restart
    best_restart: np.ndarray  # (N, S)
    steps_done: int
    stopped: bool
    config: MultiLabelConfig
    precision: str = "fp32"
    precision_reason: str = ""
    conditions: np.ndarray | None = None  # (N, S, D) best restart's final condition: the relaxed ones found
    reconstructions: np.ndarray | None = None  # (N, S, H, W) best restart's final image per search
    latents: np.ndarray | None = None  # (N, S, L)


def search(
    generator: ConditionalGenerator,
    images: np.ndarray | torch.Tensor,
    config: MultiLabelConfig = MultiLabelConfig(),
    *,
    on_snapshot: Callable[[MultiLabelSnapshot], None] | None = None,
    snapshot_every: int = 10,
    snapshot_images: bool = False,
    should_stop: Callable[[], bool] | None = None,
    return_conditions: bool = False,
    return_reconstructions: bool = False,
    return_latents: bool = False,
    max_threads: int | None = None,
) -> MultiLabelResult:
    """Read every label of images (N, H, W) in [-0.5, 0.5] with a multi-label generator (paper Sec. 1.4).

    Callbacks as in `igc_core.search.search`: `on_snapshot` at step 0, every `snapshot_every` steps and at the
    end (with reconstructions when `snapshot_images`); `should_stop` polled every step ends the search early
    with the results of the steps done; `max_threads` caps the automatic thread choice.
    """
    sc = config.search
    device = resolve_device(sc.device)
    classes = generator.label_classes
    imgs = preprocess(check_images(images, generator.image_shape), sc)  # binarised when the config says so
    if snapshot_every < 1:
        raise ValueError("snapshot_every must be at least 1")
    searches = plan(classes, config.mode)
    S, R = len(searches), sc.restarts
    per_chunk = max(1, min(sc.batch_size, sc.batch_size * ROWS_PER_CHUNK // (S * R)))
    frozen = freeze(generator, device)
    tuner = ThreadTuner(sc.threads, max_threads) if device.type == "cpu" else None
    try:
        choice = choose_precision(generator, min(max(len(imgs), 1), per_chunk) * S * R, device, sc.precision)
        run = config.with_(precision=choice.precision)
        z0 = start_points(generator, sc, device, searches=S)  # (S, R, L)
        rng = torch.Generator(device="cpu").manual_seed(sc.seed + 1)
        u0 = config.cond_spread * torch.randn(S, R, generator.num_classes, generator=rng)
        u0[:, 0] = 0.0  # restart 0: the uniform mixture
        parts, steps_done, stopped = [], sc.steps, False
        for first in range(0, len(imgs), per_chunk):
            part = _chunk(generator, imgs[first : first + per_chunk].to(device), searches, z0, u0.to(device), run,
                          first, on_snapshot, snapshot_every, snapshot_images, should_stop,
                          return_conditions, return_reconstructions, return_latents, tuner)
            parts.append(part)
            steps_done = min(steps_done, part["steps_done"])
            if part["stopped"]:
                stopped = True
                break
    finally:
        if tuner is not None:
            tuner.close()
        frozen.restore()

    def cat(key, empty):
        if not parts:
            return empty
        return None if parts[0][key] is None else np.concatenate([p[key] for p in parts])

    K = len(classes)
    return MultiLabelResult(
        labels=cat("labels", np.zeros((0, K), dtype=np.int64)),
        ooc=cat("ooc", np.zeros(0, dtype=np.float32)),
        distances=[np.concatenate([p["distances"][k] for p in parts]) if parts else np.zeros((0, c), np.float32)
                   for k, c in enumerate(classes)],
        diverged=cat("diverged", np.zeros(0, dtype=bool)),
        searches=searches,
        search_distances=cat("search_distances", np.zeros((0, S), dtype=np.float32)),
        best_restart=cat("best_restart", np.zeros((0, S), dtype=np.int64)),
        steps_done=steps_done if parts else 0,
        stopped=stopped,
        config=config,
        precision=choice.precision,
        precision_reason=choice.reason,
        conditions=cat("conditions", None),
        reconstructions=cat("reconstructions", None),
        latents=cat("latents", None),
    )


def _chunk(generator, images, searches, z0, u0, config, first, on_snapshot, snapshot_every, snapshot_images,
           should_stop, return_conditions, return_reconstructions, return_latents, tuner) -> dict:
    sc = config.search
    n, (S, R, L), D, P = len(images), z0.shape, generator.num_classes, images[0].numel()
    device = images.device
    classes = generator.label_classes
    blocks = label_blocks(classes)
    mean, std = generator.prior_mean, generator.prior_std
    plan_t = torch.as_tensor(searches, device=device)  # (S, K)

    # ---- what each search fixes: a one-hot part and a mask of the relaxed columns, (S, D)
    fixed = torch.zeros(S, D, device=device)
    relaxed = torch.zeros(S, D, dtype=torch.bool, device=device)
    for k, block in enumerate(blocks):
        held = plan_t[:, k] >= 0
        fixed[held, block.start + plan_t[held, k]] = 1.0
        relaxed[~held, block] = True
    searching_conditions = bool(relaxed.any())

    # ---- the state, flat as M = n * S * R rows
    z = z0.expand(n, S, R, L).reshape(-1, L).clone()  # (M, L)
    u = u0.expand(n, S, R, D).reshape(-1, D).clone()  # (M, D) logits; only the relaxed columns are used
    fixed_rows = fixed.view(1, S, 1, D).expand(n, S, R, D).reshape(-1, D)  # (M, D)
    relaxed_rows = relaxed.view(1, S, 1, D).expand(n, S, R, D).reshape(-1, D)  # (M, D)
    target = images.reshape(n, 1, 1, P).expand(n, S, R, P).reshape(-1, P)  # (M, P)
    mz1, mz2 = torch.zeros_like(z), torch.zeros_like(z)  # Adam's moments for z ...
    mu1, mu2 = torch.zeros_like(u), torch.zeros_like(u)  # ... and for the logits
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=sc.precision == "bf16")

    def temperature(step: int) -> float:
        """Geometric annealing from `temperature` (step 0) to `final_temperature` (the last step)."""
        frac = min(step, max(sc.steps - 1, 0)) / max(sc.steps - 1, 1)
        return config.temperature * (config.final_temperature / config.temperature) ** frac

    def condition(u, T):
        """(M, D): one-hot where fixed, softmax(u / T) per relaxed label (paper Sec. 1.4's relaxed condition)."""
        if not searching_conditions:
            return fixed_rows
        soft = torch.cat([torch.softmax(u[:, b] / T, -1) for b in blocks], 1)
        return torch.where(relaxed_rows, soft, fixed_rows)

    def evaluate(z, u, T):
        c = condition(u, T)
        loss, dif, recon = objective(generator, z, c, target, sc, autocast)  # L_DD + lambda_LR * L_LR, Sec. 3.1
        return loss, dif, recon, c

    def emit(step, T, loss, dif, recon, c):
        if on_snapshot is None:
            return
        images = None
        if snapshot_images:
            images = recon.detach().view(n, S, R, *generator.image_shape).cpu().numpy().copy()
        on_snapshot(MultiLabelSnapshot(
            step=step, steps=sc.steps, first_image=first, searches=searches, blocks=blocks, temperature=T,
            losses=loss.detach().view(n, S, R).cpu().numpy().copy(),
            difs=dif.detach().view(n, S, R).cpu().numpy().copy(),
            conditions=c.detach().view(n, S, R, D).cpu().numpy().copy(),
            reconstructions=images,
        ))

    initial_loss = None
    step, stopped = 0, False
    if tuner is not None:
        tuner.new_phase()
    for step in range(sc.steps):
        if tuner is not None:
            tuner.begin()
        T = temperature(step)
        z.requires_grad_(True)
        u.requires_grad_(searching_conditions)
        loss, dif, recon, c = evaluate(z, u, T)
        grads = torch.autograd.grad(loss.sum(), [z, u] if searching_conditions else [z])
        if initial_loss is None:
            initial_loss = loss.detach().clone()
        if step % snapshot_every == 0:
            emit(step, T, loss, dif, recon, c)
        z = adam_step(z.detach(), grads[0], mz1, mz2, step + 1, sc.lr)
        if searching_conditions:
            u = adam_step(u.detach(), grads[1], mu1, mu2, step + 1, config.cond_lr)
        if tuner is not None:
            tuner.end()
        if should_stop is not None and should_stop():
            stopped = True
            step += 1
            break
    else:
        step = sc.steps

    # ---- final evaluation (no gradient): the scores the classes are ranked by
    with torch.no_grad():
        z, u = z.detach(), u.detach()
        T = temperature(step)
        loss, dif, recon, c = evaluate(z, u, T)
        emit(step, T, loss, dif, recon, c)
        if initial_loss is None:  # zero steps: nothing moved
            initial_loss = loss
        score = (dif if sc.score == "dif" else loss).view(n, S, R)
        score = torch.where(torch.isnan(score), torch.full_like(score, float("inf")), score)
        per_search, best_restart = score.amin(-1), score.argmin(-1)  # (n, S)
        distances, winners, labels = [], [], []
        for k, C in enumerate(classes):
            # per class, the best search holding it (per-label: the one search that fixed it)
            holding = [torch.nonzero(plan_t[:, k] == j).squeeze(1) for j in range(C)]
            best = torch.stack([per_search[:, rows].min(1).values for rows in holding], 1)  # (n, C)
            where = torch.stack([rows[per_search[:, rows].argmin(1)] for rows in holding], 1)  # (n, C) search
            label = best.argmin(1)  # (n,)
            s = where.gather(1, label.view(n, 1)).view(n)  # the winning search
            winners.append(s * R + best_restart.gather(1, s.view(n, 1)).view(n))  # its row within S*R
            distances.append(best)
            labels.append(label)
        labels = torch.stack(labels, 1)  # (n, K)
        ooc = torch.stack([d.min(1).values for d in distances], 1).max(1).values  # (n,), paper Sec. 3.2
        diverged = divergence(loss.view(n, -1), initial_loss.view(n, -1), z.view(n, S * R, L),
                              torch.stack(winners, 1), mean, std)
        diverged |= ~torch.isfinite(u.view(n, -1)).all(-1)
        labels = torch.where(diverged.view(n, 1), torch.full_like(labels, -1), labels)
        pick = best_restart.view(n, S, 1, 1)

        def best_of(x, width):  # (M, width) -> (n, S, width), the best restart's row
            return x.view(n, S, R, width).gather(2, pick.expand(n, S, 1, width)).squeeze(2).cpu().numpy()

        return {
            "labels": labels.cpu().numpy(),
            "ooc": ooc.cpu().numpy(),
            "distances": [d.cpu().numpy() for d in distances],
            "diverged": diverged.cpu().numpy(),
            "search_distances": per_search.cpu().numpy(),
            "best_restart": best_restart.cpu().numpy(),
            "steps_done": step,
            "stopped": stopped,
            "conditions": best_of(c, D) if return_conditions else None,
            "reconstructions": (best_of(recon, P).reshape(n, S, *generator.image_shape)
                                if return_reconstructions else None),
            "latents": best_of(z, L) if return_latents else None,
        }
