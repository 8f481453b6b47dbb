"""Adversarial attacks on the CNN and on IGC: perturbation budgets, PGD, gradients through the search, and
gradient-free checks. Torch and numpy only; nothing here prints (`igc_core.robustness` runs the suite).

How a search-based classifier is attacked honestly (Athalye et al. 2018, "Obfuscated gradients give a false
sense of security"; Schott et al. 2019, the ABS model):
- IGC's decision is a minimum over latents: V_c(x) = min_z L(z; c, x) (paper Sec. 3.1). By the envelope
  theorem dV_c/dx is the partial derivative of L at the optimum z*_c, so `OptimumOracle` re-finds z*_c for the
  current image (a few warm-started search steps) and differentiates the class margin with z* held fixed.
- MAE's derivative is a sign pattern: it is zero for a pixel below both the true and the wrong class's drawing
  (raising it brings both closer) although a finite step changes the margin, and it makes IGC *look* robust
  (gradient masking). The oracle therefore differentiates a smooth stand-in distance ("smooth": MAE with a
  rounded kink; "mse") while it still ranks classes with the product's own; `surrogate="mae"` shows the masking.
- `UnrolledOracle` also differentiates through the last steps of the search (how z* moves with x);
  gradient-free attacks (contrast, noise, a decision-based boundary walk) query the product itself.
Images are (N, 28, 28) tensors in [-0.5, 0.5]; budgets are on the [0, 1] pixel scale, which has the same
distances. Every result is judged by the product (`igc_core.robustness`), never by an oracle's surrogate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .generators import Generator
from .search import SearchConfig, class_score, objective, preprocess, search

NORMS = ("linf", "l2")
SURROGATES = ("smooth", "mse", "mae")
SMOOTH_DELTA = 0.05  # "smooth": sqrt(u^2 + delta^2) - delta per pixel, MAE's shape with a rounded kink
LOW, HIGH = -0.5, 0.5  # the image box

Oracle = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""(x (N, H, W), true labels (N,)) -> (objective (N,), its gradient (N, H, W)); objective > 0: fooled."""
Scorer = Callable[[torch.Tensor], np.ndarray]
"""Images (N, H, W) -> the product's labels (N,) (decision-based attacks only see these)."""
Frame = Callable[[torch.Tensor], torch.Tensor]
"""What the product does to an image before searching it (e.g. the file loader's framing), not differentiable."""


# ------------------------------------------------------------------------------------------- budgets


def perturbation_norm(delta: torch.Tensor, norm: str) -> torch.Tensor:
    """(N, H, W) -> (N,) L-infinity or L2 size of each perturbation."""
    flat = delta.reshape(len(delta), -1)
    if norm == "linf":
        return flat.abs().amax(1) if flat.shape[1] else flat.new_zeros(len(flat))
    if norm == "l2":
        return flat.norm(dim=1)
    raise ValueError(f"unknown norm {norm!r}: choose one of {', '.join(NORMS)}")


def project(delta: torch.Tensor, norm: str, eps: float) -> torch.Tensor:
    """The nearest perturbation of size at most eps (L-infinity: clamp; L2: shrink the long ones)."""
    if norm == "linf":
        return delta.clamp(-eps, eps)
    size = perturbation_norm(delta, norm).clamp_min(1e-12).view(-1, *[1] * (delta.ndim - 1))
    return delta * torch.clamp(eps / size, max=1.0)


def in_budget(x: torch.Tensor, delta: torch.Tensor, norm: str, eps: float) -> torch.Tensor:
    """x + delta projected onto the budget and then the image box; clipping to the box only shrinks |delta|,
    so the result stays within eps."""
    return (x + project(delta, norm, eps)).clamp(LOW, HIGH)


def _step(grad: torch.Tensor, norm: str) -> torch.Tensor:
    """The steepest ascent direction of unit size under the norm."""
    if norm == "linf":
        return grad.sign()
    return grad / perturbation_norm(grad, "l2").clamp_min(1e-12).view(-1, 1, 1)


def random_perturbation(shape, norm: str, eps: float, generator: torch.Generator, surface: bool = False) -> torch.Tensor:
    """Uniform in the L-inf box (its corners when `surface`), or a random direction in the L2 ball (on its sphere)."""
    if norm == "linf":
        u = torch.rand(shape, generator=generator)
        return eps * (torch.sign(u - 0.5) if surface else 2 * u - 1)
    g = torch.randn(shape, generator=generator)
    g = g / perturbation_norm(g, "l2").clamp_min(1e-12).view(-1, 1, 1)
    radius = torch.ones(shape[0]) if surface else torch.rand(shape[0], generator=generator)
    return eps * radius.view(-1, 1, 1) * g


# ---------------------------------------------------------------------------------------------- PGD


@dataclass(frozen=True)
class PGDConfig:
    """Projected gradient ascent on an oracle's objective (Madry et al. 2018); FGSM is one step of size eps."""

    norm: str = "linf"
    eps: float = 0.1
    steps: int = 40
    step_size: float = 0.0  # 0: 2.5 * eps / steps, Madry et al.'s choice
    random_start: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {', '.join(NORMS)} (got {self.norm!r})")
        if not (math.isfinite(self.eps) and self.eps > 0):
            raise ValueError(f"the budget eps must be a positive number (got {self.eps!r})")
        if not (isinstance(self.steps, int) and self.steps >= 1):
            raise ValueError(f"steps must be a whole number of 1 or more (got {self.steps!r})")
        if not (math.isfinite(self.step_size) and self.step_size >= 0):
            raise ValueError(f"step size must be zero (automatic) or positive (got {self.step_size!r})")

    @property
    def alpha(self) -> float:
        return self.step_size or 2.5 * self.eps / self.steps

    @classmethod
    def fgsm(cls, norm: str, eps: float) -> "PGDConfig":
        return cls(norm=norm, eps=eps, steps=1, step_size=eps, random_start=False)


class _BestIterate:
    """The best iterate of an attack so far, image by image, by the objective (higher is better for the attack)."""

    def __init__(self, start: torch.Tensor):
        self.images = start.clone()
        self.values = torch.full((len(start),), -float("inf"))

    def offer(self, adv: torch.Tensor, value: torch.Tensor) -> None:
        """Keep the images of `adv` whose `value` beats the best so far."""
        better = value > self.values
        self.images[better], self.values[better] = adv[better], value[better]

    def last(self, oracle: Callable, adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Score the last iterate too, and return the best images."""
        value, _ = oracle(adv, y)
        self.offer(adv, value)
        return self.images


def pgd(oracle: Oracle, x: torch.Tensor, y: torch.Tensor, config: PGDConfig,
        on_step: Callable[[int], None] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Maximise the oracle's objective within the budget. Returns (last iterate, best iterate by objective)."""
    x = x.detach().float()
    rng = torch.Generator().manual_seed(config.seed)
    adv = x.clone()
    if config.random_start:
        adv = in_budget(x, random_perturbation(x.shape, config.norm, config.eps, rng), config.norm, config.eps)
    best = _BestIterate(adv)
    for k in range(config.steps):
        value, grad = oracle(adv, y)
        best.offer(adv, value)
        adv = in_budget(x, adv + config.alpha * _step(grad, config.norm) - x, config.norm, config.eps)
        if on_step:
            on_step(k + 1)
    return adv, best.last(oracle, adv, y)


# ------------------------------------------------------------------------------------------ oracles


def cnn_oracle(cnn: torch.nn.Module) -> Oracle:
    """The CNN's logit margin (best wrong class minus true class) and its gradient (Carlini and Wagner's loss)."""
    cnn.eval()
    cnn.requires_grad_(False)

    def oracle(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.detach().requires_grad_(True)
        logits = cnn(x)  # (N, classes)
        true = logits.gather(1, y.view(-1, 1)).squeeze(1)
        other = logits.masked_fill(torch.nn.functional.one_hot(y, logits.shape[1]).bool(), -float("inf")).amax(1)
        margin = other - true
        (grad,) = torch.autograd.grad(margin.sum(), x)
        return margin.detach(), grad

    return oracle


def _straight_through(x: torch.Tensor, frame: Frame | None, config: SearchConfig, soft: float = 0.0) -> torch.Tensor:
    """What the search compares x with, differentiable where the product is not (BPDA, Athalye et al. 2018): the
    file loader's framing passes the gradient of the identity; binarisation that of the identity, or with `soft`
    > 0 that of a sigmoid step of that width (only pixels near the ink level can flip)."""
    seen = x
    if frame is not None:
        seen = frame(x.detach())
    seen = preprocess(seen.detach(), config)
    proxy = x
    if soft > 0 and config.binarize > 0:
        proxy = torch.sigmoid((x + 0.5 - config.binarize) / soft) - 0.5
    return proxy + (seen - proxy).detach()


class OptimumOracle:
    """White-box gradient of IGC's class margin through the search's optimum (see the module docstring).

    Per call: `refine_steps` Adam steps of the product's own objective move every class's latent to the optimum
    for the current image (warm-started from the last call; the first call runs the whole search), then
    objective = score_true - min_{wrong} score_wrong with the product's scores (> 0: IGC is fooled), and the
    gradient of the same margin with `surrogate` as the distance and z* held fixed.
    `soft_binarize` > 0: with a binarising search, differentiate a sigmoid step of that width (else the identity).
    With `threshold` (an OOC threshold) the margin is min(score_true, threshold) - min score_wrong: the attack
    must also keep the wrong class's distance under the threshold, so that the reject option does not catch it.
    """

    def __init__(self, generator: Generator, config: SearchConfig, surrogate: str = "mse", refine_steps: int = 10,
                 threshold: float | None = None, frame: Frame | None = None, soft_binarize: float = 0.0):
        if surrogate not in SURROGATES:
            raise ValueError(f"surrogate must be one of {', '.join(SURROGATES)} (got {surrogate!r})")
        self.generator, self.config = generator, config
        self.surrogate, self.refine_steps = surrogate, refine_steps
        self.threshold, self.frame, self.soft_binarize = threshold, frame, soft_binarize
        self.z = self.m1 = self.m2 = None
        self.t = 0
        generator.eval()
        generator.requires_grad_(False)
        C = generator.num_classes
        self.cond = generator.one_hot(torch.arange(C))  # (C, C)
        bf16 = config.precision == "bf16" or (config.precision == "auto" and _auto_bf16(generator, config))
        self.autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)

    def _rows(self, n: int) -> torch.Tensor:
        return self.cond.repeat(n, 1)  # (n*C, C), class-major within each image

    def refine(self, target: torch.Tensor) -> None:
        """Move every latent towards the optimum for `target` (N, P): the product's objective, Adam."""
        n, C = len(target), self.generator.num_classes
        if self.z is None:  # the product's own search: every restart from its starting point
            result = search(self.generator, target.view(n, *self.generator.image_shape).detach(),
                            self.config.with_(binarize=0.0), return_latents=True)
            self.z = torch.as_tensor(result.latents).reshape(n * C, -1)
            self.m1, self.m2 = torch.zeros_like(self.z), torch.zeros_like(self.z)
            self.t = self.config.steps
            return
        cond, tgt = self._rows(n), target.detach().repeat_interleave(C, 0)  # (n*C, C), (n*C, P)
        z = self.z
        for _ in range(self.refine_steps):
            z = z.detach().requires_grad_(True)
            loss, _, _ = objective(self.generator, z, cond, tgt, self.config, self.autocast)
            (grad,) = torch.autograd.grad(loss.sum(), z)
            z = _adam(z.detach(), grad, self.m1, self.m2, self.t, self.config.lr)
            self.t += 1
        self.z = z.detach()

    def scores(self, target: torch.Tensor, z: torch.Tensor, dif: str | None = None) -> torch.Tensor:
        """(N, C) class scores of `target` (N, P) at latents z (N*C, L), fp32: the product's, or with the
        distance replaced by `dif` (a surrogate)."""
        n, C = len(target), self.generator.num_classes
        tgt = target.repeat_interleave(C, 0)
        loss, d, recon = objective(self.generator, z, self._rows(n), tgt, self.config)
        if dif is not None and dif != self.config.dif:
            u = recon - tgt
            new = {"mae": u.abs(), "mse": u.square(),
                   "smooth": (u.square() + SMOOTH_DELTA**2).sqrt() - SMOOTH_DELTA}[dif].mean(-1)
            loss, d = loss - d + new, new
        return class_score(self.generator, self.config, d, loss, z).view(n, C)

    def margin(self, scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        true = scores.gather(1, y.view(-1, 1)).squeeze(1)
        wrong = scores.masked_fill(torch.nn.functional.one_hot(y, scores.shape[1]).bool(), float("inf")).amin(1)
        if self.threshold is not None:
            true = torch.minimum(true, torch.full_like(true, self.threshold))
        return true - wrong

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(x)
        x = x.detach().requires_grad_(True)
        seen = _straight_through(x, self.frame, self.config, self.soft_binarize).reshape(n, -1)  # (N, P)
        self.refine(seen)
        z = self.latents_for_gradient(seen)
        with torch.no_grad():
            value = self.margin(self.scores(seen.detach(), self.z), y)
        objective_ = self.margin(self.scores(seen, z, self.surrogate), y)
        (grad,) = torch.autograd.grad(objective_.sum(), x)
        return value, grad

    def latents_for_gradient(self, seen: torch.Tensor) -> torch.Tensor:
        return self.z  # held fixed: the envelope theorem


class UnrolledOracle(OptimumOracle):
    """As `OptimumOracle`, and the gradient also flows through `unroll` further search steps (fp32, second
    order): how the optimum itself moves when the image does."""

    def __init__(self, generator: Generator, config: SearchConfig, unroll: int = 10, **kw):
        super().__init__(generator, config, **kw)
        if unroll < 1:
            raise ValueError(f"unroll must be 1 or more steps (got {unroll!r})")
        self.unroll = unroll

    def latents_for_gradient(self, seen: torch.Tensor) -> torch.Tensor:
        n, C = len(seen), self.generator.num_classes
        cond, tgt = self._rows(n), seen.repeat_interleave(C, 0)
        z = self.z.clone().requires_grad_(True)
        m1, m2 = self.m1.clone(), self.m2.clone()
        config = self.config.with_(precision="fp32")
        for k in range(self.unroll):
            loss, _, _ = objective(self.generator, z, cond, tgt, config)
            (grad,) = torch.autograd.grad(loss.sum(), z, create_graph=True)
            m1 = 0.9 * m1 + 0.1 * grad
            m2 = 0.999 * m2 + 0.001 * grad * grad
            t = self.t + k + 1
            z = z - config.lr * (m1 / (1 - 0.9**t)) / ((m2 / (1 - 0.999**t)).sqrt() + 1e-8)
        return z


def _adam(z: torch.Tensor, grad: torch.Tensor, m1: torch.Tensor, m2: torch.Tensor, t: int, lr: float) -> torch.Tensor:
    """One Adam step (the search's optimiser), updating the moments in place; t = steps already taken."""
    m1.mul_(0.9).add_(grad, alpha=0.1)
    m2.mul_(0.999).addcmul_(grad, grad, value=0.001)
    t += 1
    return z - lr * (m1 / (1 - 0.9**t)) / ((m2 / (1 - 0.999**t)).sqrt() + 1e-8)


def _auto_bf16(generator: Generator, config: SearchConfig) -> bool:
    from .runtime import choose_precision

    rows = config.batch_size * generator.num_classes
    return choose_precision(generator, rows, torch.device("cpu"), "auto").precision == "bf16"


def flip_attack(oracle: OptimumOracle, x: torch.Tensor, y: torch.Tensor, norm: str, eps: float, rounds: int = 5,
                on_step: Callable[[int], None] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Against a binarising search: move the pixels across the ink level that buy the most margin per budget.

    Binarisation has no useful gradient, but its effect is exact: a pixel at distance c from the ink level flips
    for a cost c (L-inf) or c^2 (L2). Per round, at the optimum latents for the current adversarial, every
    pixel's flip (from the clean image's ink or paper) is priced by how much it raises the true class's score
    and lowers the best wrong class's; the best flips are bought greedily within the budget (L-inf: every flip
    that helps and is affordable). Returns (last, best by the product's margin)."""
    config = oracle.config
    if config.binarize <= 0:
        raise ValueError("the flip attack is for binarising searches (binarize > 0)")
    tau, (n, C) = config.binarize, (len(x), oracle.generator.num_classes)
    x = x.detach().float()
    x01 = (x + 0.5).reshape(n, -1)  # (N, P)
    ink = x01 > tau  # the clean image's binarisation
    flipped_value = torch.where(ink, torch.full_like(x01, tau), torch.full_like(x01, tau + 1e-3))
    cost = (flipped_value - x01).abs()  # (N, P) how far each pixel must move to flip
    b0 = torch.where(ink, 0.5, -0.5)  # the binary image the search sees, [-0.5, 0.5]
    adv, best = x.clone(), _BestIterate(x)
    for k in range(rounds):
        seen = preprocess(adv, config).reshape(n, -1)
        oracle.refine(seen)
        with torch.no_grad():
            scores = oracle.scores(seen, oracle.z)  # (N, C)
            value = oracle.margin(scores, y)
            best.offer(adv, value)
            wrong = scores.masked_fill(torch.nn.functional.one_hot(y, C).bool(), float("inf")).argmin(1)
            _, _, recon = objective(oracle.generator, oracle.z, oracle._rows(n), seen.repeat_interleave(C, 0), config)
            recon = recon.view(n, C, -1)
            pick = lambda c: recon.gather(1, c.view(n, 1, 1).expand(n, 1, recon.shape[-1])).squeeze(1)  # noqa: E731
            dist = (lambda u: u.abs()) if config.dif == "mae" else (lambda u: u.square())
            change = lambda r: dist(-b0 - r) - dist(b0 - r)  # noqa: E731  score change per flipped pixel
            gain = change(pick(y)) - change(pick(wrong))  # (N, P) > 0: the flip helps the attack
            if norm == "linf":
                chosen = (gain > 0) & (cost <= eps)
            else:
                price = cost.square().clamp_min(1e-12)
                order = (gain / price).masked_fill(gain <= 0, -float("inf")).argsort(1, descending=True)
                spent = price.gather(1, order).cumsum(1)
                useful = gain.gather(1, order) > 0
                chosen = torch.zeros_like(ink).scatter(1, order, (spent <= eps**2) & useful)
            adv = torch.where(chosen, flipped_value, x01).view_as(x) - 0.5
        if on_step:
            on_step(k + 1)
    return adv, best.last(oracle, adv, y)


# ------------------------------------------------------------------------------------ gradient-free


def contrast(x: torch.Tensor, linf: float, toward: str = "grey") -> torch.Tensor:
    """Lower the contrast by an L-infinity distance `linf`: towards mid-grey (x -> (1 - 2 linf) x in the
    [-0.5, 0.5] scale: paper and ink both move by linf) or towards black ("black": only the ink fades)."""
    if toward == "grey":
        return x * (1 - 2 * linf)
    if toward == "black":
        return (x + 0.5) * (1 - linf) - 0.5
    raise ValueError(f"contrast goes toward 'grey' or 'black' (got {toward!r})")


def random_noise(x: torch.Tensor, norm: str, eps: float, generator: torch.Generator) -> torch.Tensor:
    """x plus random noise on the budget's surface (L-inf: +-eps per pixel; L2: a random direction), clipped."""
    return in_budget(x, random_perturbation(x.shape, norm, eps, generator, surface=True), norm, eps)


def nearest_other_class(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """For every image, the index of the closest (L2) image of another class in the same set (a starting
    adversarial for the boundary walk: correctly classified images of other classes are adversarial)."""
    flat = x.reshape(len(x), -1)
    d = torch.cdist(flat, flat)  # (N, N)
    d[y.view(-1, 1) == y.view(1, -1)] = float("inf")
    return d.argmin(1)


def boundary_attack(score: Scorer, x: torch.Tensor, y: torch.Tensor, starts: torch.Tensor, steps: int = 25,
                    bisections: int = 10, generator: torch.Generator | None = None,
                    on_step: Callable[[int], None] | None = None) -> torch.Tensor:
    """A decision-based attack (Brendel et al. 2018) that sees only the product's labels, batched over images.

    From adversarial `starts`, a bisection along the line to x finds the decision boundary; then each step
    proposes, per image, a point a little closer to x with a random sideways move, and keeps it if the product
    still gets it wrong (step sizes adapt per image). Returns the closest adversarial found (or the start,
    where even that is classified right)."""
    rng = generator or torch.Generator().manual_seed(0)
    x, starts = x.float(), starts.float()
    ok = torch.as_tensor(score(starts) != y.numpy())
    lo, hi = torch.zeros(len(x)), torch.ones(len(x))  # fraction of the way from x to the start; hi is adversarial
    for k in range(bisections):
        mid = (lo + hi) / 2
        fooled = torch.as_tensor(score(x + mid.view(-1, 1, 1) * (starts - x)) != y.numpy())
        hi = torch.where(fooled & ok, mid, hi)
        lo = torch.where(fooled & ok, lo, mid)
        if on_step:
            on_step(k + 1)
    adv = x + hi.view(-1, 1, 1) * (starts - x)
    source_step = torch.full((len(x),), 0.1)
    for k in range(steps):
        diff = adv - x
        dist = perturbation_norm(diff, "l2").clamp_min(1e-8).view(-1, 1, 1)
        sideways = torch.randn(x.shape, generator=rng)
        unit = diff / dist
        sideways = sideways - (sideways * unit).sum((1, 2), keepdim=True) * unit  # orthogonal to the line to x
        sideways = sideways / perturbation_norm(sideways, "l2").clamp_min(1e-8).view(-1, 1, 1)
        s = source_step.view(-1, 1, 1)
        candidate = (x + (1 - s) * diff + 0.5 * s * dist * sideways).clamp(LOW, HIGH)
        fooled = torch.as_tensor(score(candidate) != y.numpy()) & ok
        closer = perturbation_norm(candidate - x, "l2") < dist.view(-1)
        accept = fooled & closer
        adv[accept] = candidate[accept]
        source_step = torch.where(accept, (source_step * 1.5).clamp(max=0.5), (source_step * 0.6).clamp(min=1e-3))
        if on_step:
            on_step(bisections + k + 1)
    return adv
