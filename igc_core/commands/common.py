"""What every command shares: argument types, the search options, and one prologue (threads, model, config)."""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from dataclasses import dataclass

import torch

from ..argtypes import threads_arg  # shared with the app, which must not load torch for --help


# ------------------------------------------------------------------------------------ argument types


def floats(text: str) -> list[float]:
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated finite numbers, got {text!r}")
    return values


def ints(text: str) -> list[int]:
    try:
        values = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers of 1 or more, got {text!r}")
    return values


def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected a whole number of {minimum} or more, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _whole_number(text, 1)


def non_negative_int(text: str) -> int:
    return _whole_number(text, 0)


def threshold_arg(text: str) -> float:
    """An OOC threshold: a distance, so a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"the OOC threshold is a distance: a number above 0 (got {text!r})")
    return value


# ------------------------------------------------------------------------------------ shared options


def add_common_options(p: argparse.ArgumentParser, model: bool = True, data: bool = True) -> None:
    """--model, --data, --threads and --quiet, as every command that needs them spells them."""
    if model:
        p.add_argument("--model", default=None, help="checkpoint (default: the shipped model)")
    if data:
        p.add_argument("--data", default=None,
                       help="folder with the MNIST IDX files (default: $IGC_DATA, else a cache folder; downloaded when missing)")
    p.add_argument("--threads", type=threads_arg, default=0,
                   help="torch threads: a number, or 'auto' (default: chosen by timing the work on this machine)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def add_search_options(p: argparse.ArgumentParser, restarts: bool = True) -> None:
    """Search settings shared by classify, evaluate and bench; unset ones come from --preset."""
    from ..search import DEFAULT_PRESET, DIFS, INITS, INTENSITIES, PRECISIONS, PRESETS, SCORES

    g = p.add_argument_group("search settings (default: the --preset's)")
    g.add_argument("--preset", default=None, choices=list(PRESETS), help=f"a named set of search settings (default: {DEFAULT_PRESET})")
    g.add_argument("--steps", type=int, help="Adam steps per latent")
    if restarts:  # evaluate takes a list of restarts of its own
        g.add_argument("--restarts", type=int, help="latents per class (Parallel IGC)")
    g.add_argument("--lr", type=float, help="Adam learning rate")
    g.add_argument("--lambda-lr", type=float, dest="lambda_lr", help="weight of the latent regulariser L_LR")
    g.add_argument("--dif", choices=DIFS, help="image distance L_DD")
    g.add_argument("--score", choices=SCORES, help="rank classes by final L_DD ('dif') or whole loss ('loss')")
    g.add_argument("--init", choices=INITS, help="start at the prior mean or at the CVAE encoder's guess")
    g.add_argument("--keep-classes", type=int, dest="keep_classes", help="after --prune-step steps keep only the best k classes")
    g.add_argument("--prune-step", type=int, dest="prune_step")
    g.add_argument("--precision", choices=PRECISIONS, help="auto (default: bf16 only where it is measured faster here), fp32 or bf16")
    g.add_argument("--seed", type=int)
    g.add_argument("--device", help="cpu, cuda or auto")
    g.add_argument("--batch-size", type=int, dest="batch_size", help="images per chunk")
    g.add_argument("--intensity", choices=INTENSITIES,
                   help="'affine': fit a contrast and brightness to every reconstruction (robust to faint or grey digits)")
    g.add_argument("--min-contrast", type=float, dest="min_contrast", help="with --intensity affine: the lowest contrast fitted")
    g.add_argument("--max-contrast", type=float, dest="max_contrast", help="with --intensity affine: the highest contrast fitted")
    g.add_argument("--score-lambda", type=float, dest="score_lambda",
                   help="with --score loss: the weight of L_LR in the score (default: --lambda-lr)")
    g.add_argument("--binarize", type=float, help="ink level (0-1) above which a pixel counts as ink, the rest as paper; 0 = off")


def search_config(args: argparse.Namespace, meta: dict | None = None):
    """The --preset's settings with the options given on the command line (and --threads) applied.

    Without --preset, the default preset with the settings the model's sidecar recommends (its "search" entry,
    such as the two-digit model's image distance) under the command line's.
    """
    from ..search import SearchConfig

    fields = SearchConfig().to_dict()
    changes = {k: getattr(args, k) for k in fields if isinstance(getattr(args, k, None), (int, float, str))}
    if args.preset is None:
        changes = {**model_search(meta), **changes}
    return SearchConfig.from_preset(args.preset, **changes)


def model_search(meta: dict | None) -> dict:
    """The search settings a checkpoint's sidecar recommends (its "search" entry), checked."""
    from ..checkpoints import CheckpointError
    from ..search import SearchConfig

    recommended = (meta or {}).get("search", {})
    if not isinstance(recommended, dict) or set(recommended) - set(SearchConfig().to_dict()):
        raise CheckpointError(f"the model's sidecar recommends unknown search settings: {recommended!r}")
    try:
        SearchConfig().with_(**recommended)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"the model's sidecar recommends invalid search settings ({exc})") from None
    return recommended


def add_multilabel_options(p: argparse.ArgumentParser, mode: bool = True) -> None:
    """The multi-label search's own settings (IGC paper Sec. 1.4), for models of several labels (two digits)."""
    from ..multilabel import MODES

    g = p.add_argument_group("multi-label search (models of several labels, such as assets/two-digit)")
    if mode:
        g.add_argument("--multi-label", dest="multi_label", choices=MODES, default="per-label",
                       help="per-label: fix one label's class, search the other labels' relaxed conditions with the "
                            "latent (paper Sec. 1.4; 10+10 searches for two digits); exhaustive: every combination (100)")
    g.add_argument("--cond-lr", type=float, dest="cond_lr", help="Adam learning rate of the relaxed conditions' logits")
    g.add_argument("--temperature", type=float, help="the relaxed conditions' softmax temperature at the first step")
    g.add_argument("--final-temperature", type=float, dest="final_temperature", help="... annealed to this at the last step")
    g.add_argument("--cond-spread", type=float, dest="cond_spread", help="restarts 1..: the logits start at spread * N(0, 1)")


def multilabel_config(args: argparse.Namespace, search_config, mode: str | None = None):
    """The multi-label search's config: its defaults, the options given, and the latent search's settings."""
    from ..multilabel import MultiLabelConfig

    fields = ("cond_lr", "temperature", "final_temperature", "cond_spread")
    changes = {k: getattr(args, k) for k in fields if getattr(args, k, None) is not None}
    return MultiLabelConfig(mode=mode or getattr(args, "multi_label", "per-label"), search=search_config, **changes)


# -------------------------------------------------------------------------------------- the prologue


@dataclass
class Context:
    """What a command that searches starts from."""

    model: torch.nn.Module
    meta: dict
    model_path: str
    config: object  # SearchConfig


def prologue(args: argparse.Namespace, search: bool = True) -> Context:
    """Set the thread count for the command's own torch work, load the generator, build the search config."""
    from .. import checkpoints

    if args.threads:
        torch.set_num_threads(args.threads)
    if getattr(args, "task", "digit") == "two-digit" and args.model is None:
        args.model = str(checkpoints.TWO_DIGIT_MODEL)
    model, meta = checkpoints.load_generator(args.model)
    config = search_config(args, meta) if search else None
    path = str(checkpoints.paths(args.model or checkpoints.DEFAULT_MODEL)[0])
    return Context(model, meta, path, config)


def command_line(args: argparse.Namespace) -> str:
    return "igc " + " ".join(shlex.quote(a) for a in args.argv)


def progress_bar(total: int, quiet: bool, unit: str = "image"):
    """A tqdm bar on stderr and an `update(description, n)` callable for the engine's progress callbacks."""
    from tqdm import tqdm

    bar = tqdm(total=total, unit=unit, disable=quiet, file=sys.stderr)

    def update(desc: str, n: int) -> None:
        bar.set_description(desc)
        bar.update(n)

    return bar, update
