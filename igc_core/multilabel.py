"""Multi-label IGC (IGC paper Sec. 1.4): read several labels of one image, such as a two-digit number.

The paper's procedure: with several labels IGC need not try every combination of conditions. To predict
label i, fix its condition to each of its classes in turn and let the *other* labels' conditions, relaxed to
the softmax of trainable logits, be searched together with the latent; repeat for every label. For two digits
that is 10 + 10 searches per image ("per-label") instead of the 100 of every combination ("exhaustive", kept
as the reference). Per row (one image, one search, one restart) the loss is the single-label search's
(paper Sec. 3.1):
    L = dif(G(c, z), d) + lambda_LR * mean|zscore(z)|,   c = [one-hot of the fixed labels | softmax(u / T)]
with z and the logits u both trained by Adam and the softmax temperature T annealed from `temperature` to
`final_temperature`. Label i's class k scores what the single-label search scores (`search.class_score`:
the final L_DD, or with score "loss" L_DD + score_lambda * L_LR) of the search that fixed it (the best over
restarts); in the exhaustive mode, the best of the combinations holding it. The predicted class per label is
the best-scoring one; OOC (paper Sec. 3.2) is the largest over labels of each label's best score, so an image
is in class only if every label's search explains it.

This module only says what to search (`plan`, the relaxed starting logits); the loop is the single-label
search's own (`igc_core.search.solve` over a `Problem`): one tensor of shape (images, searches, restarts, ...)
kept flat as rows; rows never interact, so a batch equals a one-image loop, and starting points are drawn per
(search, restart) from the seed, shared by all images.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch

from .generators import Generator
from .search import (Hooks, Problem, SearchConfig, check_images, fields_of, preprocess, resolve_device, run_chunks,
                     setting, settings_of, start_points)

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
    generator: Generator,
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
    classes = generator.label_classes
    imgs = preprocess(check_images(images, generator.image_shape), sc)  # binarised when the config says so
    if snapshot_every < 1:
        raise ValueError("snapshot_every must be at least 1")
    searches = plan(classes, config.mode)
    blocks = label_blocks(classes)
    S, R, D = len(searches), sc.restarts, generator.num_classes
    device = resolve_device(sc.device)
    z0 = start_points(generator, sc, device, searches=S)  # (S, R, L)
    rng = torch.Generator(device="cpu").manual_seed(sc.seed + 1)
    u0 = config.cond_spread * torch.randn(S, R, D, generator=rng)
    u0[:, 0] = 0.0  # restart 0: the uniform mixture
    u0 = u0.to(device)

    def problem(chunk: torch.Tensor) -> Problem:
        n = len(chunk)
        return Problem(searches=searches, blocks=tuple(blocks), z=z0.expand(n, *z0.shape),
                       target=chunk.reshape(n, -1), u=u0.expand(n, S, R, D), cond_lr=config.cond_lr,
                       temperature=config.temperature, final_temperature=config.final_temperature)

    def snapshot(first: int, frame: dict) -> None:
        on_snapshot(MultiLabelSnapshot(
            step=frame["step"], steps=sc.steps, first_image=first, searches=searches, blocks=blocks,
            temperature=frame["temperature"], losses=frame["losses"], difs=frame["difs"],
            conditions=frame["conditions"], reconstructions=frame.get("reconstructions"),
        ))

    hooks = Hooks(on_frame=snapshot if on_snapshot is not None else None, every=snapshot_every,
                  frame_images=snapshot_images, frame_conditions=True, should_stop=should_stop,
                  return_reconstructions=return_reconstructions, return_latents=return_latents,
                  return_conditions=return_conditions)
    per_chunk = max(1, min(sc.batch_size, sc.batch_size * ROWS_PER_CHUNK // (S * R)))
    out = run_chunks(generator, imgs, sc, per_chunk, S, problem, hooks, max_threads)
    return MultiLabelResult(config=config, searches=searches, **fields_of(MultiLabelResult, out))
