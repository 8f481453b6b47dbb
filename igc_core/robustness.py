"""The robustness suite: run the attacks of `igc_core.attacks` against a product (IGC or the CNN), judge
every adversarial with the product itself, and count robust accuracy per budget. No printing.

Counting (Carlini et al. 2019, "On evaluating adversarial robustness"):
- every candidate any attack produced is scored by the product as users run it (IGC: the search with its
  own settings, through the file loader when asked; never an attack's surrogate);
- per image and attack the ledger keeps the smallest L-inf and L2 perturbation that fooled the product, so
  an adversarial found at a small budget counts at every larger one (nested), and one found by an L2 attack
  also counts under L-inf when it is small enough there;
- the worst case per budget is over all attacks; "correct or rejected" counts an image as defended when the
  product labels it right or rejects it as out of class (OOC above the threshold, paper Sec. 3.2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from . import attacks as A
from .search import SearchConfig, search

IGC_ATTACKS = ("transfer", "optimum", "optimum-mae", "unrolled", "ooc", "bypass", "flip", "contrast", "fade", "noise",
               "boundary")
BINARIZE_ATTACKS = ("bypass", "flip")  # added to the default suite against a binarising search
CNN_ATTACKS = ("fgsm", "pgd", "contrast", "fade", "noise", "boundary")
DEFAULT_IGC_ATTACKS = ("transfer", "optimum", "unrolled", "ooc", "contrast", "fade", "noise", "boundary")
DEFAULT_CNN_ATTACKS = CNN_ATTACKS
BUDGETED = ("fgsm", "pgd", "transfer", "optimum", "optimum-mae", "unrolled", "ooc", "bypass", "flip", "noise")
WHITE_BOX = ("fgsm", "pgd", "optimum", "optimum-mae", "unrolled", "ooc", "bypass", "flip", "boundary")  # made on the product itself
TOLERANCE = 1e-5  # float rounding when a perturbation made for budget eps is measured again

Progress = Callable[[str, int], None]  # (what is running, units just finished)


@dataclass
class Verdict:
    """What the product said about a batch: labels (-1: the search diverged) and OOC (None for the CNN)."""

    labels: np.ndarray
    ooc: np.ndarray | None = None


class IGCProduct:
    """IGC as users run it: the search with `config`; through the file loader when `via_files` (every image is
    saved as an 8-bit PNG and read back by `igc_core.framing.load_image`, as `igc classify` does)."""

    kind = "igc"

    def __init__(self, generator, config: SearchConfig, threshold: float | None = None, via_files: bool = False):
        self.generator, self.config, self.threshold, self.via_files = generator, config, threshold, via_files
        self.name = "IGC"

    def frame(self, x: torch.Tensor) -> torch.Tensor:
        if not self.via_files:
            return x
        from .evaluate import via_files

        return torch.as_tensor(via_files(x.detach().numpy()))

    def quantize(self, clean: torch.Tensor, adv: torch.Tensor) -> torch.Tensor:
        """Through files the image is stored in 8 bits: round the perturbation towards zero onto that grid, so
        the file holds exactly the perturbation that is measured (clean MNIST images are on the grid)."""
        if not self.via_files:
            return adv
        delta = torch.trunc((adv - clean) * 255 + 1e-4 * torch.sign(adv - clean)) / 255
        return (clean + delta).clamp(A.LOW, A.HIGH)

    def __call__(self, x: torch.Tensor) -> Verdict:
        result = search(self.generator, self.frame(x).numpy(), self.config)
        return Verdict(result.labels.copy(), result.ooc.copy())


class CNNProduct:
    """The CNN baseline (no reject option)."""

    kind = "cnn"
    via_files = False
    threshold = None

    def __init__(self, cnn):
        self.cnn, self.name = cnn, "CNN"

    def quantize(self, clean: torch.Tensor, adv: torch.Tensor) -> torch.Tensor:
        return adv

    def __call__(self, x: torch.Tensor) -> Verdict:
        return Verdict(self.cnn.predict(x.detach().numpy()), None)


# ------------------------------------------------------------------------------------------ counting


@dataclass
class Example:
    """One stored adversarial: the image, how far it is from the clean one, what made it, what it was called."""

    image: np.ndarray
    size: float
    attack: str
    label: int
    fooled: bool


class Ledger:
    """Per attack and image, the smallest perturbation (L-inf and L2) of any candidate that fooled the product."""

    def __init__(self, clean: torch.Tensor, labels: np.ndarray, budgets: dict[str, tuple[float, ...]],
                 threshold: float | None = None):
        self.clean, self.labels, self.budgets, self.threshold = clean.float(), np.asarray(labels), budgets, threshold
        self.broken: dict[str, dict[tuple[str, str], np.ndarray]] = {}  # attack -> (kind, norm) -> (N,) size
        self.examples: dict[tuple[str, float], dict[int, Example]] = {}  # (norm, eps) -> image -> example
        self.scored = 0

    def record(self, attack: str, adv: torch.Tensor, verdict: Verdict) -> int:
        """Count one batch of candidates (one per image, in order); returns how many fooled the product."""
        n = len(self.labels)
        if len(adv) != n:
            raise ValueError(f"expected {n} candidates, got {len(adv)}")
        labels = np.asarray(verdict.labels)
        wrong = labels != self.labels
        rejected = labels < 0
        if verdict.ooc is not None and self.threshold is not None:
            rejected |= np.asarray(verdict.ooc) > self.threshold
        sizes = {norm: A.perturbation_norm(adv.float() - self.clean, norm).numpy() for norm in A.NORMS}
        entry = self.broken.setdefault(attack, {(k, norm): np.full(n, np.inf) for k in ("accuracy", "accepted") for norm in A.NORMS})
        for norm, size in sizes.items():
            for kind, hit in (("accuracy", wrong), ("accepted", wrong & ~rejected)):
                entry[kind, norm] = np.where(hit, np.minimum(entry[kind, norm], size), entry[kind, norm])
        self._keep_examples(attack, adv, labels, wrong, sizes)
        self.scored += n
        return int(wrong.sum())

    def _keep_examples(self, attack, adv, labels, wrong, sizes) -> None:
        """Per budget and image: a fooling candidate if any (made on the product itself rather than transferred
        or blind, then the closest to the budget), else the largest attempt of the same preference."""
        rank = lambda name: 2 if name in WHITE_BOX else (0 if name in ("transfer", "clean") else 1)  # noqa: E731
        for norm, budgets in self.budgets.items():
            for eps in budgets:
                store = self.examples.setdefault((norm, eps), {})
                for i in np.flatnonzero(sizes[norm] <= eps + TOLERANCE):
                    old = store.get(i)
                    key = (bool(wrong[i]), rank(attack), sizes[norm][i])
                    if old is None or key > (old.fooled, rank(old.attack), old.size):
                        store[i] = Example(adv[i].numpy().copy(), float(sizes[norm][i]), attack, int(labels[i]), bool(wrong[i]))

    def attacks(self) -> list[str]:
        return list(self.broken)

    def sizes(self, norm: str, attack: str | None = None, reject: bool = False) -> np.ndarray:
        """(N,) the smallest fooling perturbation per image; None: the worst case over every attack."""
        kind = "accepted" if reject else "accuracy"
        names = [attack] if attack is not None else self.attacks()
        out = np.full(len(self.labels), np.inf)
        for name in names:
            out = np.minimum(out, self.broken[name][kind, norm])
        return out

    def accuracy(self, norm: str, eps: float, attack: str | None = None, reject: bool = False) -> float:
        """% of images the product still gets right (or rejects, with `reject`) against perturbations <= eps."""
        return 100.0 * float(np.mean(self.sizes(norm, attack, reject) > eps + TOLERANCE))


# ----------------------------------------------------------------------------------------- the suite


@dataclass(frozen=True)
class SuiteConfig:
    """Which attacks, at which budgets, how hard. Defaults: the protocol of ROBUSTNESS.md."""

    attacks: tuple[str, ...] = DEFAULT_IGC_ATTACKS
    linf: tuple[float, ...] = (0.1, 0.2, 0.3)
    l2: tuple[float, ...] = (1.0, 1.5, 2.0)
    steps: int = 40  # PGD steps (FGSM: 1)
    refine_steps: int = 10  # search steps that re-find the optimum before each gradient (IGC)
    unroll: int = 10  # search steps differentiated through by the unrolled attack
    unrolled_steps: int = 20  # PGD steps of the unrolled attack (each costs about 4 of the others)
    surrogate: str = "smooth"  # the distance differentiated by the white-box IGC attacks (attacks.SURROGATES)
    soft_binarize: float = 0.0  # binarising searches: differentiate a sigmoid step this wide (0: the identity)
    contrast_step: float = 0.025  # contrast levels: every multiple of this up to the largest L-inf budget
    noise_draws: int = 2
    boundary_steps: int = 25
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "attacks", tuple(self.attacks))
        object.__setattr__(self, "linf", tuple(float(e) for e in self.linf))
        object.__setattr__(self, "l2", tuple(float(e) for e in self.l2))
        known = sorted(set(IGC_ATTACKS) | set(CNN_ATTACKS))
        unknown = [a for a in self.attacks if a not in known]
        if unknown or not self.attacks:
            raise ValueError(f"unknown attack(s) {', '.join(unknown) or '(none given)'}: choose from {', '.join(known)}")
        if not self.linf and not self.l2:
            raise ValueError("give at least one budget (L-inf or L2)")
        if not all(math.isfinite(e) and e > 0 for e in self.linf + self.l2):
            raise ValueError("budgets must be positive numbers")
        if max(self.linf, default=0) >= 0.5:
            raise ValueError("L-inf budgets must be below 0.5 (0.5 turns any digit into a flat grey)")
        for name in ("steps", "refine_steps", "unroll", "unrolled_steps", "noise_draws"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 1):
                raise ValueError(f"{name} must be a whole number of 1 or more (got {getattr(self, name)!r})")
        if not (isinstance(self.boundary_steps, int) and self.boundary_steps >= 0):
            raise ValueError(f"boundary_steps must be a whole number of 0 or more (got {self.boundary_steps!r})")
        if self.surrogate not in A.SURROGATES:
            raise ValueError(f"surrogate must be one of {', '.join(A.SURROGATES)}")
        if not (math.isfinite(self.soft_binarize) and self.soft_binarize >= 0):
            raise ValueError("soft_binarize must be zero or positive")
        if not (0 < self.contrast_step <= 0.5):
            raise ValueError("contrast_step must be in (0, 0.5]")

    def budgets(self) -> dict[str, tuple[float, ...]]:
        return {norm: eps for norm, eps in (("linf", self.linf), ("l2", self.l2)) if eps}

    def contrast_levels(self) -> list[float]:
        top = max(self.linf, default=0.3)
        k = int(math.floor(top / self.contrast_step + 1e-9))
        return sorted({round(self.contrast_step * i, 6) for i in range(1, k + 1)} | set(self.linf))

    def jobs(self, product_kind: str) -> list[tuple[str, str, float]]:
        """The plan: (attack, norm, budget or level) in the order they run; one product scoring each, about."""
        allowed = IGC_ATTACKS if product_kind == "igc" else CNN_ATTACKS
        out = []
        for attack in self.attacks:
            if attack not in allowed:
                raise ValueError(f"attack {attack!r} does not apply to the {product_kind.upper()} "
                                 f"(choose from {', '.join(allowed)})")
            if attack in BUDGETED:
                out += [(attack, norm, eps) for norm, budgets in self.budgets().items() for eps in budgets]
            elif attack in ("contrast", "fade"):
                out += [(attack, "linf", level) for level in self.contrast_levels()]
            else:
                out.append((attack, "l2", 0.0))
        return out


def select(products, images: np.ndarray, labels: np.ndarray, n: int, chunk: int = 256) -> np.ndarray:
    """Indices of the first `n` images that every product classifies correctly (the standard set)."""
    chosen: list[int] = []
    start = 0
    while len(chosen) < n and start < len(images):
        stop = min(len(images), start + max(chunk, int(1.1 * (n - len(chosen)))))
        x = torch.as_tensor(images[start:stop])
        right = np.ones(stop - start, dtype=bool)
        for product in products:
            right &= product(x).labels == labels[start:stop]
        chosen += [start + i for i in np.flatnonzero(right)]
        start = stop
    return np.asarray(chosen[:n], dtype=np.int64)


def run_suite(product, x: torch.Tensor, y: np.ndarray, suite: SuiteConfig, cnn=None,
              progress: Progress | None = None) -> Ledger:
    """Run every attack of `suite` on `product` (an `IGCProduct` or `CNNProduct`) and count the results.

    `cnn` is the model transfer attacks are made on. `progress(description, 1)` is called per finished job.
    """
    x = x.float()
    yt = torch.as_tensor(y, dtype=torch.int64)
    ledger = Ledger(x, y, suite.budgets(), product.threshold)
    ledger.record("clean", x, product(x))

    def score(attack, adv):
        adv = product.quantize(x, adv)
        return ledger.record(attack, adv, product(adv))

    for attack, norm, eps in suite.jobs(product.kind):
        desc = f"{attack} {norm} {eps:g}" if attack != "boundary" else attack
        if attack in ("fgsm", "pgd", "transfer"):
            if attack == "transfer" and cnn is None:
                raise ValueError("the transfer attack needs the CNN the adversarials are made on")
            oracle = A.cnn_oracle(product.cnn if product.kind == "cnn" else cnn)
            config = A.PGDConfig.fgsm(norm, eps) if attack == "fgsm" else A.PGDConfig(norm, eps, suite.steps, seed=suite.seed)
            last, best = A.pgd(oracle, x, yt, config)
            score(attack, last)
            if attack != "fgsm":
                score(attack, best)
        elif attack in ("optimum", "optimum-mae", "unrolled", "ooc", "bypass"):
            frame = product.frame if product.via_files else None
            surrogate = "mae" if attack == "optimum-mae" else suite.surrogate
            threshold = product.threshold if attack == "ooc" else None
            if attack == "ooc" and threshold is None:
                raise ValueError("the OOC-aware attack needs an OOC threshold (the model's, or --threshold)")
            kw = dict(surrogate=surrogate, refine_steps=suite.refine_steps, threshold=threshold, frame=frame,
                      soft_binarize=suite.soft_binarize)
            if attack == "unrolled":
                oracle = A.UnrolledOracle(product.generator, product.config, unroll=suite.unroll, **kw)
                steps = suite.unrolled_steps
            else:  # "bypass": made on the same search without its binarisation, a transfer from the undefended one
                config = product.config.with_(binarize=0.0) if attack == "bypass" else product.config
                oracle = A.OptimumOracle(product.generator, config, **kw)
                steps = suite.steps
            last, best = A.pgd(oracle, x, yt, A.PGDConfig(norm, eps, steps, seed=suite.seed))
            score(attack, last)
            score(attack, best)
        elif attack == "flip":
            oracle = A.OptimumOracle(product.generator, product.config, refine_steps=suite.refine_steps)
            last, best = A.flip_attack(oracle, x, yt, norm, eps)
            score(attack, last)
            score(attack, best)
        elif attack in ("contrast", "fade"):
            score(attack, A.contrast(x, eps, "grey" if attack == "contrast" else "black"))
        elif attack == "noise":
            rng = torch.Generator().manual_seed(suite.seed)
            for _ in range(suite.noise_draws):
                score(attack, A.random_noise(x, norm, eps, rng))
        elif attack == "boundary":
            starts = x[A.nearest_other_class(x, yt)]
            labels_of = lambda images: product(product.quantize(x, images)).labels  # noqa: E731
            adv = A.boundary_attack(labels_of, x, yt, starts, steps=suite.boundary_steps,
                                    generator=torch.Generator().manual_seed(suite.seed))
            score(attack, adv)
        if progress:
            progress(desc, 1)
    return ledger


# --------------------------------------------------------------------------------------- the figure


def example_sheet(ledger: Ledger, norm: str, images: list[int], other_labels: Callable[[np.ndarray], np.ndarray],
                  names: tuple[str, str] = ("IGC", "CNN"), scale: int = 3):
    """A PNG-ready sheet (PIL image): per image a row with the clean digit, then per budget the adversarial and
    its perturbation (amplified to full range), captioned with both models' labels (the attacked model first)."""
    from PIL import Image, ImageDraw

    budgets = ledger.budgets.get(norm, ())
    tile, pad, text_h = 28 * scale, 6, 16
    cols = 1 + 2 * len(budgets)
    width, height = cols * (tile + pad) + pad, text_h + len(images) * (tile + text_h + pad) + pad
    sheet = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(sheet)
    draw.text((pad, 4), "clean", fill=0)
    for j, eps in enumerate(budgets):
        draw.text((pad + (1 + 2 * j) * (tile + pad), 4), f"{norm} {eps:g}", fill=0)
        draw.text((pad + (2 + 2 * j) * (tile + pad), 4), "difference", fill=0)

    def put(array01, col, row, caption):
        img = Image.fromarray((np.clip(array01, 0, 1) * 255).astype(np.uint8)).resize((tile, tile), Image.NEAREST)
        left, top = pad + col * (tile + pad), text_h + row * (tile + text_h + pad)
        sheet.paste(img, (left, top))
        draw.text((left, top + tile + 2), caption, fill=0)

    for row, i in enumerate(images):
        clean = ledger.clean[i].numpy()
        put(clean + 0.5, 0, row, f"true {ledger.labels[i]}")
        for j, eps in enumerate(budgets):
            ex = ledger.examples.get((norm, eps), {}).get(i)
            if ex is None:
                continue
            other = int(other_labels(ex.image[None])[0])
            put(ex.image + 0.5, 1 + 2 * j, row, f"{names[0]} {ex.label} {names[1]} {other}")
            delta = ex.image - clean
            peak = max(float(np.abs(delta).max()), 1e-6)
            put(0.5 + 0.5 * delta / peak, 2 + 2 * j, row, ex.attack if ex.fooled else "held")
    return sheet
