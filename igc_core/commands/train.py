"""`igc train`: train a model of any kind in igc_core.model_kinds (the generators, the CNN baseline), and save it
with its sidecar. The kinds' own options and defaults come from that table."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace

import numpy as np

from .common import add_common_options, command_line, ints, non_negative_int, positive_int

# the search settings a two-digit CVAE records in its sidecar ("search"): none, the default (robust) search. BCE
# read clean numbers best (91 % of 200 pairs) but noisy ones at chance; robust reads 85.0 / 85.5 / 81.0 % at
# sigma 0 / 0.2 / 0.4 (BENCHMARKS.md)
TWO_DIGIT_SEARCH: dict = {}
ARG_TYPES = {"count": positive_int, "count0": non_negative_int, "int": int, "widths": ints, "number": float, "text": str}


def _shown(value) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else f"{value:g}" if isinstance(value, float) else str(value)


def _option_help(option) -> str:
    """The option's help, the kinds that take it and their defaults: "... (cvae, cnn: 30; cgan-conv: 20)"."""
    from ..model_kinds import KINDS

    by_default: dict[str, list[str]] = {}
    for kind in KINDS.values():
        if option in kind.options:
            default = kind.default(option)
            shown = "" if option.value == "flag" or option.convert or default is None else f": {_shown(default)}"
            by_default.setdefault(shown, []).append(kind.name)
    return f"{option.help} ({'; '.join(', '.join(names) + shown for shown, names in by_default.items())})"


def register(sub) -> None:
    from ..model_kinds import CLI_ALIASES, KINDS, all_options

    p = sub.add_parser("train", help="train a conditional generator or the CNN baseline")
    p.add_argument("--model", required=True, choices=[*KINDS, *CLI_ALIASES],
                   help="; ".join([f"{k.name}: {k.summary}" for k in KINDS.values()]
                                  + [f"{old}: the former name of {new}" for old, new in CLI_ALIASES.items()]))
    p.add_argument("--task", default="digit", choices=["digit", "two-digit"],
                   help="digit: one MNIST digit (28x28); two-digit: a number of two MNIST digits (28x56, labels tens "
                        "and units; fresh seeded pairs every epoch)")
    p.add_argument("--out", required=True, help="output path (writes PATH.safetensors and PATH.json)")
    g = p.add_argument_group("the model's and the training's settings (each --model takes those listed with it; "
                             "default: the model's own)")
    for option in all_options():
        if option.value == "flag":
            g.add_argument(option.flag, action="store_true", default=None, dest=option.dest, help=_option_help(option))
        else:
            g.add_argument(option.flag, type=ARG_TYPES[option.value], default=None, dest=option.dest, metavar=option.metavar,
                           choices=option.choices or None, help=_option_help(option))
    p.add_argument("--printed", action="store_true",
                   help="add 0-9 typeset in the training designs' fonts (URW base35, TeX Gyre, FreeFont; igc_core.testsets) "
                        "to the training digits; the typeset test set holds out every other design")
    fine_tuned = ", ".join(k.name for k in KINDS.values() if k.fine_tune)
    p.add_argument("--init", default=None, metavar="MODEL",
                   help=f"{fine_tuned}: start from this checkpoint's weights and architecture (fine-tuning; the architecture "
                        "options are then taken from it)")
    p.add_argument("--check", type=non_negative_int, default=1000, help="measure IGC accuracy on this many test images (two-digit: pairs) after training (0: skip)")
    p.add_argument("--half", action="store_true", help="store the weights as float16 (half the file size)")
    add_common_options(p, model=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from .. import checkpoints, model_kinds
    from ..data import load_dataset

    if args.threads:
        torch.set_num_threads(args.threads)
    kind = model_kinds.KINDS[model_kinds.CLI_ALIASES.get(args.model, args.model)]
    if args.task not in kind.tasks:
        takes = ", ".join(k.name for k in model_kinds.KINDS.values() if args.task in k.tasks)
        raise ValueError(f"the {kind.name} reads one digit: --task {args.task} needs --model {takes}")
    values = vars(args)
    if args.task != "two-digit" and (args.label_paths or args.label_shift):
        raise ValueError("--label-paths needs a model of several labels: add --task two-digit")
    task = {}
    if args.task == "two-digit":
        from ..pairs import LABELS, NUMBER_SHAPE

        task = {"labels": LABELS, "num_classes": sum(LABELS), "image_size": NUMBER_SHAPE[0], "image_width": NUMBER_SHAPE[1]}
    model_config, tc = kind.configs(values, **task)
    start = None
    if args.init:
        if not kind.fine_tune:
            fine_tuned = ", ".join(k.name for k in model_kinds.KINDS.values() if k.fine_tune)
            raise ValueError(f"--init continues a trained generator: it needs --model {fine_tuned}")
        start, start_meta = checkpoints.load_generator(args.init)
        if start.config.kind != kind.name:
            raise ValueError(f"--init {args.init} is a {start.config.kind}, not a {kind.name}")
        want = (model_config.label_classes, model_config.image_shape)  # the task's, as a fresh model would have
        if (tuple(start.label_classes), tuple(start.image_shape)) != want:
            raise ValueError(f"--init {args.init} draws {'x'.join(map(str, start.image_shape))} images of "
                             f"{len(start.label_classes)} label(s): --task {args.task} continues a model of "
                             f"{len(want[0])} label(s) drawing {want[1][0]}x{want[1][1]} images")
        model_config = start.config
    checkpoints.model_shapes(kind, model_config, checkpoints.MAX_PARAMETERS)  # sizes refused before allocating
    checkpoints.check_writable(args.out)  # before hours of training, not after
    train = load_dataset(args.data, "train")
    test = load_dataset(args.data, "test")
    printed = None
    if args.printed:
        if args.task == "two-digit":
            raise ValueError("--printed adds single typeset digits: it does not apply to --task two-digit")
        from ..data import Dataset
        from ..testsets import printed_digits

        printed = printed_digits()
        train = Dataset(np.concatenate([train.images, printed.images]), np.concatenate([train.labels, printed.labels]), train.name)
    bar = tqdm(total=1, unit="batch", desc=f"train {kind.name}", disable=args.quiet)

    def progress(epoch: int, step: int, total: int, metrics: dict) -> None:
        bar.total = total
        bar.update(step - bar.n)
        if step % 50 == 0 or step == total:
            bar.set_postfix({"epoch": epoch + 1, **{k: f"{v:.3g}" for k, v in metrics.items()}})

    if args.task == "two-digit":
        from ..pairs import epoch_pairs

        # fresh pairs every epoch; the limit is applied to the digits the pairs are drawn from
        model, metrics = model_kinds.train(model_config, lambda epoch: epoch_pairs(train, tc.seed, epoch, tc.limit),
                                           replace(tc, limit=0), progress, start=start)
    else:
        model, metrics = model_kinds.train(model_config, train, tc, progress, start=start)
    bar.close()
    if not all(torch.isfinite(t).all() for t in model.state_dict().values() if t.is_floating_point()):
        raise FloatingPointError("the trained weights hold non-finite values: lower the learning rate (--train-lr)")
    recommended = TWO_DIGIT_SEARCH if args.task == "two-digit" else {}
    meta = {
        "command": command_line(args),
        "task": args.task,
        **({"search": recommended} if recommended else {}),
        "dataset": {"name": train.name.split("/")[0], "train_images": len(train) if not tc.limit else tc.limit,
                    **({"printed_digits": {"images": len(printed), "faces": printed.name}} if printed is not None else {})},
        "training": {**tc.to_dict(), **({"init": {"model": args.init, "command": start_meta.get("command")}} if start is not None else {})},
        "metrics": metrics,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    # saved first, checked after: an interrupted or failing check never costs the trained model
    weights = checkpoints.save_or_rescue(model, args.out, meta, half=args.half)
    try:
        if args.task == "two-digit":
            checked = quick_two_digit_accuracy(model, test, args.check, TWO_DIGIT_SEARCH)
        elif kind.generator:
            checked = quick_igc_accuracy(model, test, args.check)
        else:
            from ..baseline import evaluate_classifier

            checked = {"test_accuracy": evaluate_classifier(model, test)}
    except KeyboardInterrupt:
        print(f"igc: interrupted during the accuracy check; the trained model is saved in {weights} (without the "
              "check's figures)", file=sys.stderr)
        return 130
    if checked:
        metrics.update(checked)
        checkpoints.update_sidecar(weights, lambda saved: {**saved, "metrics": {**saved.get("metrics", {}), **checked}})
    print(f"wrote {weights} and its sidecar; metrics: {json.dumps(metrics)}")
    return 0


def quick_two_digit_accuracy(model, test, n: int, search: dict) -> dict:
    """Both-digits accuracy of the per-label search (paper Sec. 1.4) on the first `n` fixed test pairs, with the
    default preset and the model's recommended `search` settings."""
    if n <= 0:
        return {}
    from .. import multilabel
    from ..data import to_model_range
    from ..pairs import fixed_pairs
    from ..search import DEFAULT_PRESET, SearchConfig

    pairs = fixed_pairs(test, min(n, len(test)))
    config = multilabel.MultiLabelConfig(search=SearchConfig.from_preset(DEFAULT_PRESET, **search))
    result = multilabel.search(model, to_model_range(pairs.images), config)
    return {f"both_digits_accuracy_first_{len(pairs)}_test_pairs": float(np.mean((result.labels == pairs.labels).all(1))),
            "multilabel_mode": "per-label", "igc_accuracy_preset": DEFAULT_PRESET}


def quick_igc_accuracy(model, test, n: int) -> dict:
    """IGC accuracy on the first `n` test images with the default search, written into the sidecar."""
    if n <= 0:
        return {}
    from ..data import to_model_range
    from ..search import DEFAULT_PRESET, SearchConfig, search

    result = search(model, to_model_range(test.images[:n]), SearchConfig.from_preset(DEFAULT_PRESET))
    return {f"igc_accuracy_first_{n}_test": float(np.mean(result.labels == test.labels[:n])), "igc_accuracy_preset": DEFAULT_PRESET}
