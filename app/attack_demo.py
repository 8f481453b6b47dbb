"""The attack demo's work: an adversarial version of one input, made with the engine's attacks. No Qt.

The attacks are `igc_core.attacks` (never re-implemented here): FGSM and PGD on the CNN baseline's margin, and
PGD through IGC's own search (the gradient at the search's optimum, Athalye et al. 2018), which is the honest
white-box attack on IGC. The demo then shows the CNN's answer on the adversarial beside IGC's, so a class sees
where IGC holds (attacks made on the CNN rarely transfer) and where it does not (attacks through its search).
Budgets are L-infinity on the [0, 1] pixel scale, as in `igc attack`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from igc_core import attacks
from igc_core.search import SearchConfig

METHODS = {
    "fgsm": "FGSM on the CNN (one step)",
    "pgd": "PGD on the CNN (40 steps)",
    "igc": "PGD through IGC's search (white-box)",
}
PGD_STEPS = {"pgd": 40, "igc": 10}
EPS_MAX = 0.3


class Cancelled(Exception):
    """The user asked the attack to stop."""


@dataclass(frozen=True)
class AttackOutcome:
    method: str
    eps: float
    label: int  # the label attacked: the true one when known, else the CNN's answer on the clean input
    label_known: bool
    clean: np.ndarray  # (H, W) in [-0.5, 0.5]
    adversarial: np.ndarray  # (H, W) in [-0.5, 0.5]
    cnn_clean: tuple[int, float]  # the CNN's answer and its probability
    cnn_adversarial: tuple[int, float]
    linf: float  # the perturbation's actual size
    seconds: float

    @property
    def name(self) -> str:
        return f"{self.method.upper()} ε {self.eps:.2f}"

    @property
    def cnn_fooled(self) -> bool:
        return self.cnn_adversarial[0] != self.label


def cnn_answer(cnn: torch.nn.Module, image: np.ndarray) -> tuple[int, float]:
    """The CNN's class for one (H, W) image in [-0.5, 0.5] and its softmax probability."""
    with torch.no_grad():
        probs = torch.softmax(cnn(torch.as_tensor(image, dtype=torch.float32)[None]), dim=1)[0]
    c = int(probs.argmax())
    return c, float(probs[c])


def make_adversarial(image: np.ndarray, label: int | None, method: str, eps: float, cnn: torch.nn.Module,
                     generator=None, config: SearchConfig | None = None,
                     progress: Callable[[int, int], None] | None = None,
                     should_stop: Callable[[], bool] | None = None) -> AttackOutcome:
    """An adversarial of `image` within L-inf `eps` by `method` (see `METHODS`); `label` None attacks the CNN's
    own answer. `progress(done, total)` after each attack step; `should_stop()` ends it with `Cancelled`."""
    if method not in METHODS:
        raise ValueError(f"unknown attack {method!r}: choose one of {', '.join(METHODS)}")
    if not 0 < eps <= EPS_MAX:
        raise ValueError(f"the budget ε must be above 0 and at most {EPS_MAX} (got {eps:g})")
    started = time.perf_counter()
    cnn.eval()
    clean = np.asarray(image, dtype=np.float32)
    first = cnn_answer(cnn, clean)
    known = label is not None
    y = int(label) if known else first[0]
    x = torch.as_tensor(clean)[None]
    yt = torch.tensor([y])
    if method == "igc":
        if generator is None or config is None:
            raise ValueError("the attack through IGC's search needs the generator and the search settings")
        oracle = attacks.OptimumOracle(generator, config)
        pgd_config = attacks.PGDConfig("linf", eps, PGD_STEPS["igc"])
    else:
        oracle = attacks.cnn_oracle(cnn)
        pgd_config = attacks.PGDConfig.fgsm("linf", eps) if method == "fgsm" else attacks.PGDConfig("linf", eps, PGD_STEPS["pgd"])

    def on_step(k: int) -> None:
        if should_stop is not None and should_stop():
            raise Cancelled()
        if progress is not None:
            progress(k, pgd_config.steps)

    last, best = attacks.pgd(oracle, x, yt, pgd_config, on_step=on_step)
    adv = (best if method != "fgsm" else last)[0].detach().numpy().astype(np.float32)
    return AttackOutcome(method=method, eps=float(eps), label=y, label_known=known, clean=clean, adversarial=adv,
                         cnn_clean=first, cnn_adversarial=cnn_answer(cnn, adv),
                         linf=float(np.abs(adv - clean).max()), seconds=time.perf_counter() - started)
