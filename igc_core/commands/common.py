"""What every command shares: argument types, the search options, and one prologue (threads, model, config)."""

from __future__ import annotations

import argparse
import json
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
    from ..search import SETTINGS

    p.add_argument("--threads", type=threads_arg, default=0, help=SETTINGS["threads"].help)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


# SearchConfig fields whose option `add_common_options` declares (commands that do not search take it too)
COMMON_SETTINGS = ("threads",)


def add_setting_option(group, s, default=None) -> None:
    """One setting (an `igc_core.search.Setting`) as a command-line option; unset, it stays `default`."""
    group.add_argument(s.cli_flag, dest=s.name, type=s.type, choices=list(s.choices) or None, default=default,
                       help=s.help)


def add_search_options(p: argparse.ArgumentParser, restarts: bool = True) -> None:
    """Every SearchConfig setting as an option, built from its `Setting`; unset ones come from --preset."""
    from ..search import DEFAULT_PRESET, PRESETS, SETTINGS

    g = p.add_argument_group("search settings (default: the --preset's)")
    g.add_argument("--preset", default=None, choices=list(PRESETS), help=f"a named set of search settings (default: {DEFAULT_PRESET})")
    for name, s in SETTINGS.items():
        if name in COMMON_SETTINGS or name == "restarts" and not restarts:  # evaluate takes a list of restarts
            continue
        add_setting_option(g, s)


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
        return SearchConfig.fitting(None, **changes)
    return SearchConfig.from_preset(args.preset, **changes)


def model_search(meta: dict | None) -> dict:
    """The search settings a checkpoint's sidecar recommends (its "search" entry), checked by the sidecar schema."""
    from ..checkpoints import recommended_search

    return recommended_search(meta)


def add_multilabel_options(p: argparse.ArgumentParser, mode: bool = True) -> None:
    """The multi-label search's own settings (IGC paper Sec. 1.4), for models of several labels (two digits)."""
    from ..multilabel import SETTINGS

    g = p.add_argument_group("multi-label search (models of several labels, such as assets/two-digit)")
    for name, s in SETTINGS.items():
        if name != "mode":
            add_setting_option(g, s)
        elif mode:
            add_setting_option(g, s, default=s.default)


def multilabel_config(args: argparse.Namespace, search_config, mode: str | None = None):
    """The multi-label search's config: its defaults, the options given, and the latent search's settings."""
    from ..multilabel import SETTINGS, MultiLabelConfig

    changes = {k: getattr(args, k) for k in SETTINGS if k != "mode" and getattr(args, k, None) is not None}
    return MultiLabelConfig(mode=mode or getattr(args, "mode", SETTINGS["mode"].default), search=search_config,
                            **changes)


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


def check_outputs(*files: str | None) -> None:
    """Refuse, before the work, output files (--json, --examples' images) that could not be written: hours of
    measuring are not lost to a typo in a path (igc_core.checkpoints.CheckpointError with the reason)."""
    from ..checkpoints import check_writable_file

    for file in files:
        if file:
            check_writable_file(file)


def write_report(path: str, report: dict, indent: int = 2) -> None:
    """Write a command's --json report whole or not at all (a temporary file, then renamed)."""
    from pathlib import Path

    from ..checkpoints import write_atomically

    write_atomically(Path(path).expanduser(), (json.dumps(report, indent=indent) + "\n").encode())


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
