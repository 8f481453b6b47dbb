"""The batched IGC latent search: every image x every class x every restart in one tensor.

IGC paper (Inverted Generator Classifier), Sec. 3: for each class condition c a latent z is optimised with
the generator frozen to minimise
    L(z) = L_DD + lambda_LR * L_LR,   L_DD = dif(G(c, z), d),   L_LR = mean(|zscore(z)|)
The predicted class is the one whose final reconstruction is closest to d, and that smallest distance is the
out-of-class degree OOC (Sec. 3.2); Parallel IGC (Sec. 3.3) runs R latents per class and keeps the best.

Each latent's loss depends on its own z only, and Adam is elementwise, so the latents never interact:
the summed loss gives every latent its own gradient, and a batch computes what a one-image loop does, up to the
order of floating-point sums (in fp32 the distances differ by up to about 0.003, the labels agree).
The random restarts are drawn once per (class, restart) from the seed and shared by all images, so an
image's result does not depend on which images share its batch.

The loop (`solve`) is shared with the multi-label search (`igc_core.multilabel`, paper Sec. 1.4): a `Problem`
says which latents to search under which conditions (fixed one-hots, or relaxed logits trained beside z);
the single-label search is the case of one label whose searches fix one class each.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Callable, Iterable, get_args, get_type_hints

import numpy as np
import torch
from torch.nn import functional as F

from .generators import Generator
from .runtime import ThreadTuner, check_threads, choose_precision

DIFS = ("mae", "mse", "bce")
SCORES = ("dif", "loss")
INITS = ("mean", "encoder")
PRECISIONS = ("auto", "fp32", "bf16")
INTENSITIES = ("none", "affine")
MAX_MEAN_ZSCORE = 4.0  # a latent further out than this (mean |zscore|) has left the prior: diverged


@dataclass(frozen=True)
class Setting:
    """What one configuration field means, declared once beside the field (`setting(...)`).

    The CLI's options (`igc_core.commands.common`), the app's settings panel and settings file (`app.settings`),
    the OOC threshold's validity (`DISTANCE_SETTINGS`) and the summaries (`describe`) are all built from these.
    """

    help: str  # one line: the CLI's --help, and the app's tooltip when `tip` is empty
    label: str  # a short name for summaries: "λ_LR 0.03", "100 steps"
    # True: the distances depend on it, so an OOC threshold measured with another value is not this run's
    changes_distances: bool = False
    choices: tuple[str, ...] = ()  # the values a text setting may take (checked on creation)
    counted: bool = False  # summaries write the value before the label: "100 steps", "1 restart"
    flag: str = ""  # the command-line option; "" = "--" + the field's name with '-' for '_'
    # the app's settings panel: "search" (always shown), "advanced" (folded away) or "" (not shown)
    panel: str = ""
    title: str = ""  # the panel's name for it
    tip: str = ""  # the panel's tooltip (may be several lines)
    minimum: float | None = None  # the panel's range (the engine's own checks are in __post_init__)
    maximum: float | None = None
    step: float = 1.0
    decimals: int = 0  # a float is kept rounded to this many decimals (what a spin box shows)
    offered: tuple[str, ...] = ()  # the panel's choices for a free text setting (device: cpu, auto, cuda)
    # filled in from the dataclass field by `settings_of`
    name: str = ""
    type: type = object  # int, float or str (a setting that may be None: its other type)
    default: Any = None

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @staticmethod
    def value_text(value: Any) -> str:
        """A value as summaries write it: 0.03, 100, mae; None (a setting that follows another) as 'default'."""
        return f"{value:g}" if isinstance(value, float) else "default" if value is None else str(value)

    def text(self, value: Any) -> str:
        """The value with its label, as a summary writes it: 'λ_LR 0.03', '100 steps', '1 restart'."""
        if self.counted:
            return f"{value} {self.label[:-1] if value == 1 and self.label.endswith('s') else self.label}"
        return f"{self.label} {self.value_text(value)}"


def setting(default: Any, help: str, label: str, **meta: Any) -> Any:
    """A dataclass field with its `Setting` (see there) as metadata."""
    return field(default=default, metadata={"setting": Setting(help, label, **meta)})


def settings_of(cls: type) -> dict[str, Setting]:
    """The `Setting` of every field of the dataclass `cls` that has one, in field order, with name, type, default."""
    hints = get_type_hints(cls)
    out = {}
    for f in fields(cls):
        if "setting" in f.metadata:
            kind = hints[f.name]
            kind = next((a for a in get_args(kind) if a is not type(None)), kind)  # float | None -> float
            out[f.name] = replace(f.metadata["setting"], name=f.name, type=kind, default=f.default)
    return out


@dataclass(frozen=True)
class SearchConfig:
    """Everything that decides a search's outcome, each field with its meaning (`Setting`). Validated on creation.

    A new setting is one field here; the CLI, the app and the threshold lookup follow from its `Setting`.
    """

    steps: int = setting(100, "Adam steps per latent", "steps", changes_distances=True, counted=True,
                         panel="search", title="Steps", minimum=1, maximum=100_000, step=10,
                         tip="How many Adam steps each latent takes while searching for the input.")
    lr: float = setting(0.001, "Adam learning rate", "lr", changes_distances=True, panel="search", title="Learning rate",
                        minimum=0.00001, maximum=100.0, decimals=5, step=0.0005,
                        tip="Adam's learning rate for the latents. Too large and the search diverges.")
    lambda_lr: float = setting(
        0.03, "weight of the latent regulariser L_LR", "λ_LR", changes_distances=True, panel="search", title="λ_LR",
        minimum=0.0, maximum=10.0, decimals=4, step=0.01,
        tip="Weight of the latent regulariser L_LR = mean |zscore(z)|, which keeps latents close to the\n"
            "generator's prior so it cannot draw just any shape (IGC paper, Sec. 3.1).")
    restarts: int = setting(
        1, "latents per class (Parallel IGC)", "restarts", changes_distances=True, counted=True, panel="search",
        title="Restarts", minimum=1, maximum=64,  # the grid shows one column per restart: more is unreadable
        tip="Latents per class, each from its own starting point (Parallel IGC, Sec. 3.3);\n"
            "the best one counts. One column of the grid per restart.")
    dif: str = setting(
        "mae", "image distance L_DD", "L_DD", changes_distances=True, choices=DIFS, panel="search",
        title="Distance L_DD",
        tip="Image distance L_DD between the reconstruction and the input: mae (the paper's),\n"
            "mse or bce (binary cross-entropy). The class with the smallest L_DD wins.")
    score: str = setting("dif", "rank classes by final L_DD ('dif') or whole loss ('loss')", "score",
                         changes_distances=True, choices=SCORES)
    init: str = setting(
        "mean", "start at the prior mean or at the CVAE encoder's guess", "start", changes_distances=True,
        choices=INITS, panel="advanced", title="Start at",
        tip="Where restart 0 starts: the prior mean (the paper), or the CVAE encoder's guess (CVAE models only).")
    restart_spread: float = setting(1.0, "restarts 1.. start at the prior mean + spread * std * N(0, 1)",
                                    "restart spread", changes_distances=True)
    keep_classes: int = setting(0, "after --prune-step steps keep only the best k classes (0: all)", "kept classes",
                                changes_distances=True)
    prune_step: int = setting(0, "the step after which --keep-classes prunes", "prune step", changes_distances=True)
    seed: int = setting(0, "random seed of the restarts' starting points", "seed", panel="advanced", title="Seed",
                        minimum=0, maximum=2**31 - 1,
                        tip="Random seed for the restarts' starting points and the noise pattern:\nsame seed, same run.")
    device: str = setting("cpu", "cpu, cuda or auto", "device", panel="advanced", title="Device",
                          offered=("cpu", "auto", "cuda"),
                          tip="Where the search runs: cpu, cuda (an NVIDIA GPU) or auto (cuda when available).")
    # "bf16" runs the generator in bfloat16 (autocast; the latents stay fp32); "auto" picks the faster of the two
    # for this machine and batch (igc_core.runtime.choose_precision: bf16 only where the CPU has it natively)
    precision: str = setting(
        "auto", "auto (default: bf16 only where it is measured faster here), fp32 or bf16", "precision",
        choices=PRECISIONS, panel="search", title="Precision",
        tip="auto: the faster of float32 and bfloat16 for this batch on this CPU, measured once and\n"
            "remembered (one image is usually fastest in float32; bfloat16 only helps large batches on\n"
            "CPUs that have it natively). The status line says what ran and why.")
    batch_size: int = setting(256, "images per chunk", "batch size")
    # torch threads; 0 = automatic (igc_core.runtime.ThreadTuner times the steps themselves)
    threads: int = setting(
        0, "torch threads: a number, or 'auto' (default: chosen by timing the work on this machine)", "threads",
        panel="advanced", title="Threads", minimum=0, maximum=256,
        tip="CPU threads for the search; 0 = automatic (timed while it runs, one core is always left to the window).")
    # Robustness options (ROBUSTNESS.md); the defaults are the paper's search.
    # "affine": every latent's reconstruction is compared as a * G(c, z) + b, with contrast a (clamped to
    # [min_contrast, max_contrast]) and brightness b fitted to the image in closed form (least squares) at every
    # step, so a faint or grey-backed digit is matched by its own class instead of a thicker digit.
    intensity: str = setting(
        "none", "'affine': fit a contrast and brightness to every reconstruction (robust to faint or grey digits)",
        "intensity fit", changes_distances=True, choices=INTENSITIES, panel="advanced", title="Intensity fit",
        tip="affine: every reconstruction is compared after fitting it a contrast and a brightness, so a faint or\n"
            "grey-backed digit is matched by its own class (the 'robust' preset; ROBUSTNESS.md). none: as drawn.")
    min_contrast: float = setting(0.25, "with --intensity affine: the lowest contrast fitted", "min contrast",
                                  changes_distances=True)
    max_contrast: float = setting(1.5, "with --intensity affine: the highest contrast fitted", "max contrast",
                                  changes_distances=True)
    binarize: float = setting(0.0, "ink level (0-1) above which a pixel counts as ink, the rest as paper; 0 = off",
                              "binarize", changes_distances=True)
    # score "loss" ranks classes by L_DD + w * L_LR (like ABS's ELBO: an unlikely latent costs); w = score_lambda,
    # or lambda_LR when None (the whole objective the search minimised)
    score_lambda: float | None = setting(None, "with --score loss: the weight of L_LR in the score (default: --lambda-lr)",
                                         "score λ", changes_distances=True)

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
        for name, s in SETTINGS.items():
            if s.choices and getattr(self, name) not in s.choices:
                problems.append(f"{name} must be one of {', '.join(s.choices)} (got {getattr(self, name)!r})")
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
        if not (math.isfinite(self.min_contrast) and math.isfinite(self.max_contrast)
                and 0 < self.min_contrast <= 1 <= self.max_contrast <= 10):
            problems.append(f"the contrast range needs 0 < min_contrast <= 1 <= max_contrast <= 10 "
                            f"(got {self.min_contrast!r} to {self.max_contrast!r})")
        if self.intensity != "none" and self.dif == "bce":
            problems.append("an intensity transform needs dif 'mae' or 'mse' (BCE compares against the raw output)")
        if self.score_lambda is not None and not (isinstance(self.score_lambda, (int, float))
                                                  and math.isfinite(self.score_lambda) and self.score_lambda >= 0):
            problems.append(f"score_lambda must be zero or positive, or None (got {self.score_lambda!r})")
        if not (math.isfinite(self.binarize) and 0 <= self.binarize < 1):
            problems.append(f"binarize is an ink level from 0 (off) to below 1 (got {self.binarize!r})")
        if problems:
            raise ValueError("; ".join(problems))

    def to_dict(self) -> dict:
        return asdict(self)

    def with_(self, **changes) -> "SearchConfig":
        _check_names(changes)
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

    @classmethod
    def fitting(cls, name: str | None = None, **changes) -> "SearchConfig":
        """`from_preset`, where the changes (a model's recommendation) may need one setting they do not name set
        back to the plain search's value for the search to be valid: an older sidecar's dif bce under the robust
        default needs the intensity fit off (BCE compares the raw output). Raises as `from_preset` otherwise."""
        _check_names(changes)
        return cls(**fit_values({**cls.from_preset(name).to_dict(), **changes}, keep=changes))

    def preset_name(self) -> str | None:
        """The preset this configuration equals in every setting, if any."""
        return next((name for name, preset in PRESETS.items() if preset == self), None)


def _check_names(changes: dict) -> None:
    unknown = sorted(set(changes) - set(SearchConfig.__dataclass_fields__))
    if unknown:
        raise ValueError(f"unknown search setting(s): {', '.join(unknown)}")


def fit_values(values: dict, keep: Iterable[str] = ()) -> dict:
    """Every SearchConfig field's value, as given where they make a valid search; else with the one setting
    outside `keep` set back to the plain search's value (SearchConfig's default) that makes them valid. Raises the
    first ValueError when no single setting does. `SearchConfig.fitting` and the app's settings panel both ask
    this when a model's sidecar recommends settings the current search cannot take as they are."""
    try:
        SearchConfig(**values)
        return dict(values)
    except ValueError as exc:
        error = exc
    plain, keep = SearchConfig(), set(keep)
    for name in SearchConfig.__dataclass_fields__:
        if name in keep or values[name] == getattr(plain, name):
            continue
        candidate = {**values, name: getattr(plain, name)}
        try:
            SearchConfig(**candidate)
        except ValueError:
            continue
        return candidate
    raise error


SETTINGS: dict[str, Setting] = settings_of(SearchConfig)  # every field's meaning, in field order
# the settings the distances depend on: an OOC threshold measured with other values of these is not this run's
# (precision, seed, device, batch size and threads leave them as they are, to rounding)
DISTANCE_SETTINGS: tuple[str, ...] = tuple(name for name, s in SETTINGS.items() if s.changes_distances)


def describe(config: Any, names: tuple[str, ...] | None = None) -> list[str]:
    """Settings of `config` as summaries write them: ['100 steps', 'lr 0.001', 'λ_LR 0.03'] (default: all)."""
    return [SETTINGS[name].text(getattr(config, name)) for name in (SETTINGS if names is None else names)]


# The paper's protocol (Sec. 4): 100 Adam steps at lr 0.001, lambda_LR 0.03, MAE; Parallel IGC uses 5 latents,
# in float32. "igc" is the same search with the precision chosen for the machine and batch at
# hand (bfloat16 where the CPU has it natively and it is measured faster; see igc_core.runtime).
PRESETS: dict[str, SearchConfig] = {
    "igc": SearchConfig(steps=100, lr=0.001, lambda_lr=0.03, restarts=1, dif="mae", precision="auto"),
    "igc-parallel": SearchConfig(steps=100, lr=0.001, lambda_lr=0.03, restarts=5, dif="mae", precision="auto"),
    "paper": SearchConfig(steps=100, lr=0.001, lambda_lr=0.03, restarts=1, dif="mae", precision="fp32"),
    "paper-parallel": SearchConfig(steps=100, lr=0.001, lambda_lr=0.03, restarts=5, dif="mae", precision="fp32"),
    # ROBUSTNESS.md: a contrast and brightness fitted to every reconstruction (faint or grey-backed digits) and an
    # L2 distance (an L2 budget moves each class's distance by at most itself), with a lighter L_LR for MSE's
    # smaller values; harder to attack than "igc" and reads more clean digits, but not robust to white-box attacks
    "robust": SearchConfig(steps=100, lr=0.001, lambda_lr=0.01, restarts=1, dif="mse", intensity="affine",
                           precision="auto"),
}
# The default (issue 14): the robust search reads more of every digit set measured (BENCHMARKS.md, "One verdict
# users can believe") and survives noise on two-digit numbers, and its verdict is calibrated in the shipped sidecars.
DEFAULT_PRESET = "robust"


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
    latents: np.ndarray | None = None  # (n, C, R, L) every latent at this step (float32), when asked for


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


def image_distance(dif: str, logits: torch.Tensor, recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_DD (paper Sec. 3.1, MAE there): logits or recon (M, P), target (M, P) in [-0.5, 0.5] -> (M,)."""
    if dif == "bce":
        return F.binary_cross_entropy_with_logits(logits, target + 0.5, reduction="none").mean(-1)
    if dif == "mae":
        return (recon - target).abs().mean(-1)
    return (recon - target).square().mean(-1)


def fit_intensity(recon: torch.Tensor, target: torch.Tensor, lo: float, hi: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row, the contrast a in [lo, hi] and brightness b that minimise |a * recon + b - target|^2.

    recon, target (M, P) -> a, b (M, 1). Closed form (a line fit), so the transform is always at its optimum for
    the current reconstruction and costs a few reductions per step; it is differentiable in both arguments.
    """
    recon_mean, target_mean = recon.mean(-1, keepdim=True), target.mean(-1, keepdim=True)
    centred = recon - recon_mean
    cov = (centred * (target - target_mean)).mean(-1, keepdim=True)
    a = (cov / (centred.square().mean(-1, keepdim=True) + 1e-6)).clamp(lo, hi)
    return a, target_mean - a * recon_mean


def objective(generator: Generator, z: torch.Tensor, cond: torch.Tensor, target: torch.Tensor,
              config: SearchConfig, autocast=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The search's objective for latents z (M, L) under conditions cond (M, C) against target (M, P).

    Returns the loss L = L_DD + lambda_LR * L_LR (paper Sec. 3.1), L_DD and the reconstruction it compared,
    (M, P) in the image's scale (after the intensity transform, if any). Shared with `igc_core.attacks`.
    """
    with autocast if autocast is not None else contextlib.nullcontext():
        logits = generator.decode_logits(z, cond)
    logits = logits.float()  # (M, P)
    recon = torch.sigmoid(logits) - 0.5
    if config.intensity == "affine":
        a, b = fit_intensity(recon, target, config.min_contrast, config.max_contrast)
        recon = a * recon + b
    dif = image_distance(config.dif, logits, recon, target)  # L_DD, (M,)
    latent_reg = ((z - generator.prior_mean) / generator.prior_std).abs().mean(-1)  # L_LR = mean |zscore(z)|, (M,)
    return dif + config.lambda_lr * latent_reg, dif, recon


def class_score(generator: Generator, config: SearchConfig, dif: torch.Tensor, loss: torch.Tensor,
                z: torch.Tensor) -> torch.Tensor:
    """What classes are ranked by, per latent (M,): L_DD ("dif", paper Sec. 3.2), or L_DD + w * L_LR ("loss")."""
    if config.score == "dif":
        return dif
    if config.score_lambda is None:
        return loss
    return dif + config.score_lambda * ((z - generator.prior_mean) / generator.prior_std).abs().mean(-1)


def preprocess(images: torch.Tensor, config: SearchConfig) -> torch.Tensor:
    """What the search compares against: the images themselves, or binarised (`config.binarize`), [-0.5, 0.5]."""
    if config.binarize > 0:
        return torch.where(images + 0.5 > config.binarize, 0.5, -0.5).to(images.dtype)
    return images


def start_points(generator: Generator, config: SearchConfig, device: torch.device,
                 searches: int | None = None) -> torch.Tensor:
    """(C, R, L) starting latents shared by every image: restart 0 at the prior mean, the rest around it.

    C is the number of classes, or `searches` when given (the multi-label search's conditions)."""
    C, R, L = searches or generator.num_classes, config.restarts, generator.latent_dim
    rng = torch.Generator(device="cpu").manual_seed(config.seed)
    noise = torch.randn(C, R, L, generator=rng)
    noise[:, 0] = 0.0
    mean, std = generator.prior_mean.detach().cpu(), generator.prior_std.detach().cpu()
    return (mean + config.restart_spread * std * noise).to(device)  # (C, R, L)


def starting_images(generator: Generator, config: SearchConfig) -> np.ndarray:
    """(C, R, H, W) in [-0.5, 0.5]: what every class's latent draws before the first step (the app shows it
    before a run). Restart 0 at the prior mean (with init "encoder" it starts from the input's encoding instead,
    which needs an image: the prior mean is shown)."""
    starts = start_points(generator, config, torch.device("cpu"))  # (C, R, L)
    C, R, L = starts.shape
    cond = generator.one_hot(torch.arange(C)).view(C, 1, C).expand(C, R, C).reshape(-1, C)  # (C*R, C)
    frozen = freeze(generator, torch.device("cpu"))
    try:
        with torch.no_grad():
            logits = generator.decode_logits(starts.reshape(-1, L), cond).float()  # (C*R, P)
    finally:
        frozen.restore()
    return (torch.sigmoid(logits) - 0.5).view(C, R, *generator.image_shape).numpy()


def check_images(images: np.ndarray | torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Images (N, H, W) or one (H, W) in [-0.5, 0.5] as a float tensor; a clear ValueError otherwise."""
    imgs = torch.as_tensor(np.asarray(images, dtype=np.float32) if not torch.is_tensor(images) else images)
    imgs = imgs.float()
    if imgs.ndim == 2:
        imgs = imgs[None]
    if imgs.ndim != 3 or tuple(imgs.shape[1:]) != tuple(shape):
        raise ValueError(f"expected images of shape (N, {shape[0]}, {shape[1]}), got {tuple(imgs.shape)}")
    if not torch.isfinite(imgs).all():
        raise ValueError("the images hold NaN or infinite values")
    if imgs.numel() and (imgs.min() < -0.5 - 1e-4 or imgs.max() > 0.5 + 1e-4):
        raise ValueError("images must be scaled to [-0.5, 0.5] (use igc_core.data.to_model_range)")
    return imgs


class freeze:
    """The generator in eval mode on `device` with no weight gradients (a search never needs them);
    `restore()` puts back its training mode and gradient flags."""

    def __init__(self, generator: Generator, device: torch.device):
        self.generator, self.was_training = generator, generator.training
        self.flags = [p.requires_grad for p in generator.parameters()]
        generator.eval()
        generator.requires_grad_(False)
        generator.to(device)

    def restore(self) -> None:
        for p, flag in zip(self.generator.parameters(), self.flags):
            p.requires_grad_(flag)
        self.generator.train(self.was_training)


ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8


def adam_step(param: torch.Tensor, grad: torch.Tensor, m1: torch.Tensor, m2: torch.Tensor, t: int, lr: float) -> torch.Tensor:
    """One step of Adam (Kingma & Ba 2015), the paper's optimiser, written out so that rows can be dropped
    (pruning): updates the moments m1, m2 in place and returns the new parameter; `t` counts from 1."""
    beta1, beta2 = ADAM_BETAS
    m1.mul_(beta1).add_(grad, alpha=1 - beta1)
    m2.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    denom = (m2 / (1 - beta2**t)).sqrt_().add_(ADAM_EPS)
    return param - lr * (m1 / (1 - beta1**t)) / denom


def divergence(final_loss: torch.Tensor, initial_loss: torch.Tensor, z: torch.Tensor, winners: torch.Tensor,
               mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Which images' searches diverged (step size gone wild): (n,) bool.

    final_loss, initial_loss (n, M) per latent, z (n, M, L), winners (n, W) the latents the answer rests on.
    Diverged: non-finite values; or a winning latent, or most latents, "lost": far worse than where they
    started (Adam's jitter at an optimum costs a little, a blow-up a lot), or absurdly far outside the prior
    (mean |zscore| > MAX_MEAN_ZSCORE; under it, about 0.8).
    """
    zscore = ((z - mean) / std).abs().mean(-1)  # (n, M)
    lost = (final_loss > 1.5 * initial_loss + 1e-3) | (zscore > MAX_MEAN_ZSCORE)
    nonfinite = ~torch.isfinite(final_loss).all(-1) | ~torch.isfinite(z.flatten(1)).all(-1)
    return nonfinite | lost.gather(1, winners).any(-1) | (lost.float().mean(-1) > 0.5)


def search(
    generator: Generator,
    images: np.ndarray | torch.Tensor,
    config: SearchConfig = SearchConfig(),
    *,
    on_snapshot: Callable[[Snapshot], None] | None = None,
    snapshot_every: int = 10,
    snapshot_images: bool = False,
    snapshot_latents: bool = False,
    should_stop: Callable[[], bool] | None = None,
    return_reconstructions: bool = False,
    return_latents: bool = False,
    max_threads: int | None = None,
) -> SearchResult:
    """Classify images (N, H, W) in [-0.5, 0.5] by inverting `generator` for every class.

    `on_snapshot` receives a `Snapshot` at step 0, every `snapshot_every` steps and at the end (with
    reconstructions when `snapshot_images`, every latent when `snapshot_latents`, for the app's map of the
    search); `should_stop` is polled every step and ends the search early,
    which then still returns the results of the steps done. `max_threads` caps the automatic thread choice
    (the app keeps a core for drawing).
    """
    if len(generator.label_classes) > 1:
        raise ValueError(f"this model reads {len(generator.label_classes)} labels "
                         f"({' x '.join(map(str, generator.label_classes))} classes): use igc_core.multilabel.search")
    imgs = check_images(images, generator.image_shape)
    if snapshot_every < 1:
        raise ValueError("snapshot_every must be at least 1")
    if config.keep_classes > generator.num_classes:
        raise ValueError(f"keep_classes is {config.keep_classes}, but the model has only {generator.num_classes} classes")
    if config.init == "encoder" and not generator.has_encoder:
        raise ValueError(f"init 'encoder' needs a CVAE; this generator is a {generator.config.kind}")
    imgs = preprocess(imgs, config)
    C = generator.num_classes
    searches = np.arange(C).reshape(C, 1)  # one label; search c fixes class c
    starts = start_points(generator, config, resolve_device(config.device))  # (C, R, L)

    def problem(chunk: torch.Tensor) -> Problem:
        n, (_, R, L) = len(chunk), starts.shape
        z = starts.expand(n, C, R, L).clone()  # (n, C, R, L)
        if config.init == "encoder":  # restart 0 starts at the CVAE encoder's guess for each class
            cond = generator.one_hot(torch.arange(C, device=chunk.device)).expand(n, C, C).reshape(n * C, C)
            guess, _ = generator.encode(chunk.repeat_interleave(C, 0), cond)  # (n*C, L)
            z[:, :, 0] = guess.view(n, C, L).float()
        return Problem(searches=searches, blocks=(slice(0, C),), z=z, target=chunk.reshape(n, -1),
                       keep=config.keep_classes, prune_step=config.prune_step)

    def snapshot(first: int, frame: dict) -> None:
        on_snapshot(Snapshot(step=frame["step"], steps=config.steps, first_image=first, losses=frame["losses"],
                             difs=frame["difs"], active=frame["active"], reconstructions=frame.get("reconstructions"),
                             latents=frame.get("latents")))

    hooks = Hooks(on_frame=snapshot if on_snapshot is not None else None, every=snapshot_every,
                  frame_images=snapshot_images, frame_latents=snapshot_latents, should_stop=should_stop,
                  return_reconstructions=return_reconstructions, return_latents=return_latents)
    out = run_chunks(generator, imgs, config, config.batch_size, len(searches), problem, hooks, max_threads)
    out.update(labels=out["labels"][:, 0], distances=out["distances"][0])  # the one label's
    return SearchResult(config=config, **fields_of(SearchResult, out))


# ------------------------------------------------------------------------------ the search loop (one, shared)


@dataclass(frozen=True, eq=False)
class Problem:
    """What one chunk searches, kept flat as M = n * S * R rows: n images x S searches x R restarts.

    A search fixes a class per label or relaxes the label's condition to softmax(u / T), logits u trained by
    Adam beside z (paper Sec. 1.4). The single-label search is one label whose S = C searches fix one class
    each; the multi-label search's plan is `igc_core.multilabel.plan`. Per label, a class's distance is the
    best (search, restart) holding it, ranked by `class_score`.
    """

    searches: np.ndarray  # (S, K) the class each search fixes per label, -1 where relaxed
    blocks: tuple[slice, ...]  # (K,) each label's columns in a condition of D = sum of the labels' classes
    z: torch.Tensor  # (n, S, R, L) starting latents
    target: torch.Tensor  # (n, P) the images compared against
    u: torch.Tensor | None = None  # (n, S, R, D) starting logits of the relaxed conditions; None: nothing relaxed
    cond_lr: float = 0.0  # Adam's learning rate for u
    temperature: float = 1.0  # the softmax's temperature at the first step, annealed geometrically ...
    final_temperature: float = 1.0  # ... to this at the last
    keep: int = 0  # > 0: after `prune_step` steps only the best `keep` searches per image go on
    prune_step: int = 0

    def temperature_at(self, step: int, steps: int) -> float:
        """Geometric annealing from `temperature` (step 0) to `final_temperature` (the last step)."""
        frac = min(step, max(steps - 1, 0)) / max(steps - 1, 1)
        return self.temperature * (self.final_temperature / self.temperature) ** frac


@dataclass
class Hooks:
    """How a caller follows and steers the loop, and what it wants back besides the scores.

    `on_frame(first_image, frame)` at step 0, every `every` steps and at the end; a frame is a dict of numpy
    arrays: step, temperature, losses and difs (n, S, R), active (n, S), and when asked for, reconstructions
    (n, S, R, H, W), latents (n, S, R, L), conditions (n, S, R, D). `should_stop` is polled every step.
    """

    on_frame: Callable[[int, dict], None] | None = None
    every: int = 10
    frame_images: bool = False
    frame_latents: bool = False
    frame_conditions: bool = False
    should_stop: Callable[[], bool] | None = None
    return_reconstructions: bool = False
    return_latents: bool = False
    return_conditions: bool = False


def run_chunks(generator: Generator, images: torch.Tensor, config: SearchConfig, per_chunk: int,
               searches: int, problem: Callable[[torch.Tensor], Problem], hooks: Hooks,
               max_threads: int | None = None) -> dict:
    """Search `images` (N, H, W) `per_chunk` at a time, `searches` per image: `problem(chunk)` says what.

    Freezes the generator, chooses precision and threads, and stops at the first chunk that was stopped.
    Returns `solve`'s outcome joined along the images (empty arrays for no images; None for what `hooks` did
    not ask for), with the precision the search ran in and why."""
    device = resolve_device(config.device)
    frozen = freeze(generator, device)
    tuner = ThreadTuner(config.threads, max_threads) if device.type == "cpu" else None
    try:
        rows = min(max(len(images), 1), per_chunk) * searches * config.restarts
        choice = choose_precision(generator, rows, device, config.precision)
        run_config = config.with_(precision=choice.precision)
        parts = []
        for first in range(0, len(images), per_chunk):
            chunk = images[first : first + per_chunk].to(device)
            parts.append(solve(generator, problem(chunk), run_config, hooks, first, tuner))
            if parts[-1]["stopped"]:
                break
    finally:
        if tuner is not None:
            tuner.close()
        frozen.restore()
    out = {"precision": choice.precision, "precision_reason": choice.reason, "reconstructions": None,
           "latents": None, "conditions": None}
    if not parts:
        K, S = len(generator.label_classes), searches
        return {**out, "labels": np.zeros((0, K), np.int64), "ooc": np.zeros(0, np.float32),
                "distances": [np.zeros((0, c), np.float32) for c in generator.label_classes],
                "search_distances": np.zeros((0, S), np.float32), "best_restart": np.zeros((0, S), np.int64),
                "diverged": np.zeros(0, bool), "steps_done": 0, "stopped": False}
    out.update(steps_done=min(p["steps_done"] for p in parts), stopped=parts[-1]["stopped"],
               distances=[np.concatenate(d) for d in zip(*(p["distances"] for p in parts))])
    for key, value in parts[0].items():
        if isinstance(value, np.ndarray):
            out[key] = np.concatenate([p[key] for p in parts])
    return out


def fields_of(cls, values: dict) -> dict:
    """The entries of `values` that are fields of the dataclass `cls` (to build a result from an outcome)."""
    return {name: values[name] for name in cls.__dataclass_fields__ if name in values}


def solve(generator: Generator, problem: Problem, config: SearchConfig, hooks: Hooks | None = None,
          first: int = 0, tuner: ThreadTuner | None = None) -> dict:
    """Run one chunk's search (paper Sec. 3: Adam on z, and on the relaxed logits u, of Sec. 1.4) and rank it.

    Returns numpy arrays: labels (n, K), ooc (n,), distances (K arrays (n, C_k)), search_distances and
    best_restart (n, S), diverged (n,); steps_done, stopped; and, when `hooks` asks, the best restart's final
    reconstructions (n, S, H, W), latents (n, S, L) and conditions (n, S, D).
    """
    hooks = hooks if hooks is not None else Hooks()
    n, S, R, L = problem.z.shape
    P, M = problem.target.shape[1], n * S * R
    blocks, D = problem.blocks, problem.blocks[-1].stop
    device = problem.z.device
    mean, std = generator.prior_mean, generator.prior_std
    plan = torch.as_tensor(problem.searches, device=device)  # (S, K)

    # ---- what each search fixes: a one-hot part and a mask of the relaxed columns, (S, D)
    fixed = torch.zeros(S, D, dtype=mean.dtype, device=device)
    relaxed = torch.zeros(S, D, dtype=torch.bool, device=device)
    for k, block in enumerate(blocks):
        held = plan[:, k] >= 0
        fixed[held, block.start + plan[held, k]] = 1.0
        relaxed[~held, block] = True
    relaxing = problem.u is not None and bool(relaxed.any())

    # ---- the search state, flat as M rows
    z = problem.z.reshape(M, L).clone()  # (M, L)
    u = problem.u.reshape(M, D).clone() if relaxing else None  # (M, D) logits; only the relaxed columns are used
    fixed_rows = fixed.view(1, S, 1, D).expand(n, S, R, D).reshape(M, D)  # (M, D)
    relaxed_rows = relaxed.view(1, S, 1, D).expand(n, S, R, D).reshape(M, D)  # (M, D)
    target = problem.target.reshape(n, 1, 1, P).expand(n, S, R, P).reshape(M, P)  # (M, P)
    mz = torch.zeros_like(z), torch.zeros_like(z)  # Adam's moments for z ...
    mu = (torch.zeros_like(u), torch.zeros_like(u)) if relaxing else None  # ... and for the logits
    active = torch.ones(n, S, dtype=torch.bool, device=device)  # searches still going
    rows = None  # indices of the rows still searching; None = all of them
    frozen_loss = torch.full((M,), float("nan"), device=device)  # where pruned rows stopped
    frozen_dif = torch.full((M,), float("nan"), device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16")

    def condition(u, idx, T):
        """(m, D) for the rows `idx` (None = all): one-hot where fixed, softmax(u / T) per relaxed label (Sec. 1.4)."""
        fix = fixed_rows if idx is None else fixed_rows[idx]
        if not relaxing:
            return fix
        soft = torch.cat([torch.softmax(u[:, b] / T, -1) for b in blocks], 1)
        return torch.where(relaxed_rows if idx is None else relaxed_rows[idx], soft, fix)

    def evaluate(zr, ur, idx, T):
        """Loss L = L_DD + lambda_LR * L_LR (Sec. 3.1), L_DD, reconstructions (m, P) and conditions (m, D)."""
        c = condition(ur, idx, T)
        loss, dif, recon = objective(generator, zr, c, target if idx is None else target[idx], config, autocast)
        return loss, dif, recon, c

    def part(x, idx):
        return x if idx is None or x is None else x[idx]

    def full(values_rows, frozen):
        if rows is None:
            return values_rows
        out = frozen.clone()
        out[rows] = values_rows
        return out

    def emit(step, T, loss, dif, recon_rows, c):
        if hooks.on_frame is None:
            return
        frame = {
            "step": step, "temperature": T,
            "losses": full(loss.detach(), frozen_loss).view(n, S, R).cpu().numpy().copy(),
            "difs": full(dif.detach(), frozen_dif).view(n, S, R).cpu().numpy().copy(),
            "active": active.cpu().numpy().copy(),
        }
        if hooks.frame_images:
            img = recon_rows.detach()
            recon_full = torch.zeros(M, P, device=device) if rows is not None else img
            if rows is not None:  # pruned rows: no image
                recon_full[rows] = img
            frame["reconstructions"] = recon_full.view(n, S, R, *generator.image_shape).cpu().numpy().copy()
        if hooks.frame_latents:  # every row's latent at this step (before this step's update; frozen rows stay)
            frame["latents"] = z.detach().float().view(n, S, R, L).cpu().numpy().copy()
        if hooks.frame_conditions:
            c = c if rows is None else condition(u, None, T)
            frame["conditions"] = c.detach().view(n, S, R, D).cpu().numpy().copy()
        hooks.on_frame(first, frame)

    def adam(x, grad, moments, lr, t):
        """Adam on the rows still searching; returns the whole parameter."""
        if rows is None:
            return adam_step(x.detach(), grad, *moments, t, lr)
        m1, m2 = moments[0][rows], moments[1][rows]
        x[rows], moments[0][rows], moments[1][rows] = adam_step(x[rows], grad, m1, m2, t, lr), m1, m2
        return x

    initial_loss = None
    step, stopped, T = 0, False, problem.temperature
    if tuner is not None:
        tuner.new_phase()
    for step in range(config.steps):
        if tuner is not None:
            tuner.begin()
        T = problem.temperature_at(step, config.steps)
        zr, ur = part(z, rows), part(u, rows)
        zr.requires_grad_(True)
        if relaxing:
            ur.requires_grad_(True)
        loss, dif, recon, c = evaluate(zr, ur, rows, T)
        grads = torch.autograd.grad(loss.sum(), [zr, ur] if relaxing else [zr])
        if initial_loss is None:
            initial_loss = loss.detach().clone()
        if step % hooks.every == 0:
            emit(step, T, loss, dif, recon, c)
        z = adam(z, grads[0], mz, config.lr, step + 1)
        if relaxing:
            u = adam(u, grads[1], mu, problem.cond_lr, step + 1)
        if tuner is not None:
            tuner.end()
        if hooks.should_stop is not None and hooks.should_stop():
            stopped = True
            step += 1
            break
        # ---- optional pruning: after prune_step steps only the best `keep` searches per image go on
        if problem.keep and step + 1 == problem.prune_step and problem.keep < S:
            with torch.no_grad():
                cur_loss, cur_dif, _, _ = evaluate(z, u, None, T)
            frozen_loss, frozen_dif = cur_loss.clone(), cur_dif.clone()
            per_search = class_score(generator, config, cur_dif, cur_loss, z).view(n, S, R).amin(-1)  # (n, S)
            keep = per_search.topk(problem.keep, dim=1, largest=False).indices  # (n, keep)
            active = torch.zeros(n, S, dtype=torch.bool, device=device).scatter_(1, keep, True)
            rows = active.view(n, S, 1).expand(n, S, R).reshape(-1).nonzero().squeeze(1)
            if tuner is not None:
                tuner.new_phase()
    else:
        step = config.steps

    # ---- final evaluation at the last latents (no gradient): the scores the classes are ranked by
    with torch.no_grad():
        T = problem.temperature_at(step, config.steps)
        loss_r, dif_r, recon_r, c_r = evaluate(part(z, rows), part(u, rows), rows, T)
        final_loss, final_dif = full(loss_r, frozen_loss), full(dif_r, frozen_dif)
        emit(step, T, loss_r, dif_r, recon_r, c_r)
        if initial_loss is None:  # zero steps: nothing moved
            initial_loss = final_loss
        score = class_score(generator, config, final_dif, final_loss, z).view(n, S, R)
        score = torch.where(torch.isnan(score), torch.full_like(score, float("inf")), score)
        per_search, best_restart = score.amin(-1), score.argmin(-1)  # (n, S)
        distances, winners, labels = [], [], []
        for k, block in enumerate(blocks):
            # per class, the best search holding it (one label, or per-label: the one search that fixed it)
            holding = [torch.nonzero(plan[:, k] == j).squeeze(1) for j in range(block.stop - block.start)]
            best = torch.stack([per_search[:, h].min(1).values for h in holding], 1)  # (n, C_k)
            where = torch.stack([h[per_search[:, h].argmin(1)] for h in holding], 1)  # (n, C_k) its search
            label = best.argmin(1)  # (n,)
            s = where.gather(1, label.view(n, 1)).view(n)  # the winning search
            winners.append(s * R + best_restart.gather(1, s.view(n, 1)).view(n))  # its row within S*R
            distances.append(best)
            labels.append(label)
        labels = torch.stack(labels, 1)  # (n, K)
        # OOC (paper Sec. 3.2): the smallest distance; with several labels, the largest over labels of it
        ooc = torch.stack([d.min(1).values for d in distances], 1).max(1).values  # (n,)
        diverged = divergence(final_loss.view(n, -1), initial_loss.view(n, -1), z.view(n, S * R, L),
                              torch.stack(winners, 1), mean, std)
        if relaxing:
            diverged |= ~torch.isfinite(u.view(n, -1)).all(-1)
        labels = torch.where(diverged.view(n, 1), torch.full_like(labels, -1), labels)
        pick = best_restart.view(n, S, 1, 1)

        def best_of(x, width):  # (M, width) -> (n, S, width), the best restart's row
            return x.view(n, S, R, width).gather(2, pick.expand(n, S, 1, width)).squeeze(2).cpu().numpy()

        out = {
            "labels": labels.cpu().numpy(),
            "ooc": ooc.cpu().numpy(),
            "distances": [d.cpu().numpy() for d in distances],
            "search_distances": per_search.cpu().numpy(),
            "best_restart": best_restart.cpu().numpy(),
            "diverged": diverged.cpu().numpy(),
            "steps_done": step,
            "stopped": stopped,
        }
        if hooks.return_reconstructions:
            img = recon_r if rows is None else torch.zeros(M, P, device=device).index_copy_(0, rows, recon_r)
            if rows is not None:  # pruned searches: their image at the latent where they stopped
                idle = (~active).view(n, S, 1).expand(n, S, R).reshape(-1).nonzero().squeeze(1)
                img[idle] = evaluate(z[idle], part(u, idle), idle, T)[2]
            out["reconstructions"] = best_of(img, P).reshape(n, S, *generator.image_shape)
        if hooks.return_latents:
            out["latents"] = best_of(z, L)
        if hooks.return_conditions:
            out["conditions"] = best_of(c_r if rows is None else condition(u, None, T), D)
    return out


def classify_one(generator: Generator, image: np.ndarray, config: SearchConfig = SearchConfig(), **kw) -> SearchResult:
    """Search one (H, W) image; raises `SearchDiverged` with advice when the search blew up."""
    result = search(generator, np.asarray(image)[None], config, **kw)
    if result.diverged[0]:
        raise SearchDiverged(
            f"the search diverged (learning rate {config.lr:g}): lower the learning rate and search again"
        )
    return result
