"""The `igc` command: train generators, classify images, evaluate and benchmark the search."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from . import __version__


def _threads(n: int | None) -> None:
    import torch

    if n:
        torch.set_num_threads(n)


def _floats(text: str) -> list[float]:
    try:
        return [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _ints(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None


def add_search_options(p: argparse.ArgumentParser, restarts: bool = True) -> None:
    """Search settings shared by classify, evaluate and bench; unset ones come from --preset."""
    from .search import DEFAULT_PRESET, DIFS, INITS, PRECISIONS, PRESETS, SCORES

    g = p.add_argument_group("search settings (default: the --preset's)")
    g.add_argument("--preset", default=None, choices=sorted(PRESETS), help=f"a named set of search settings (default: {DEFAULT_PRESET})")
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
    g.add_argument("--precision", choices=PRECISIONS)
    g.add_argument("--seed", type=int)
    g.add_argument("--device", help="cpu, cuda or auto")
    g.add_argument("--batch-size", type=int, dest="batch_size", help="images per chunk")


def search_config(args: argparse.Namespace):
    """The --preset's settings with the options given on the command line applied."""
    from .search import DEFAULT_PRESET, PRESETS

    preset = args.preset or DEFAULT_PRESET
    base = PRESETS[preset]
    changes = {k: getattr(args, k) for k in base.to_dict() if isinstance(getattr(args, k, None), (int, float, str))}
    return base.with_(**changes)


# ------------------------------------------------------------------------------------------- train


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from . import checkpoints
    from .data import load_dataset
    from .training import TrainConfig, train_generator

    _threads(args.threads)
    train = load_dataset(args.data, "train")
    test = load_dataset(args.data, "test")
    from .augment import AugmentConfig

    augment = AugmentConfig(probability=args.augment) if args.augment else None
    tc = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.train_lr, beta=args.beta, seed=args.seed,
                     limit=args.limit, augment=augment, kl_warmup=args.kl_warmup)
    bar = tqdm(total=1, unit="batch", desc=f"train {args.model}", disable=args.quiet)

    def progress(epoch: int, step: int, total: int, metrics: dict) -> None:
        bar.total = total
        bar.update(step - bar.n)
        if step % 50 == 0 or step == total:
            bar.set_postfix({"epoch": epoch + 1, **{k: f"{v:.3g}" for k, v in metrics.items()}})

    if args.model == "cnn":
        from .baseline import CNNConfig, evaluate_classifier, train_classifier

        model, metrics = train_classifier(CNNConfig(), train, tc, progress)
        bar.close()
        metrics["test_accuracy"] = evaluate_classifier(model, test)
    else:
        from .generators import GeneratorConfig

        gc = GeneratorConfig(kind=args.model, latent_dim=args.latent, hidden=tuple(args.hidden), activation=args.activation,
                             latent_scale=args.latent_scale, conditioning=args.conditioning, class_heads=args.class_heads,
                             decoder=args.decoder)
        model, metrics = train_generator(gc, train, tc, progress)
        bar.close()
        metrics.update(_quick_igc_accuracy(model, test, args.check))
    meta = {
        "command": "igc " + " ".join(shlex.quote(a) for a in args.argv),
        "dataset": {"name": train.name.split("/")[0], "train_images": len(train) if not tc.limit else tc.limit},
        "training": tc.to_dict(),
        "metrics": metrics,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "igc_version": __version__,
    }
    weights = checkpoints.save(model, args.out, meta, half=args.half)
    print(f"wrote {weights} and its sidecar; metrics: {json.dumps(metrics)}")
    return 0


def _quick_igc_accuracy(model, test, n: int) -> dict:
    """IGC accuracy on the first `n` test images with the default search, written into the sidecar."""
    if n <= 0:
        return {}
    from .data import to_model_range
    from .search import DEFAULT_PRESET, PRESETS, search

    config = PRESETS[DEFAULT_PRESET]
    result = search(model, to_model_range(test.images[:n]), config)
    return {f"igc_accuracy_first_{n}_test": float(np.mean(result.labels == test.labels[:n])), "igc_accuracy_preset": DEFAULT_PRESET}


# ---------------------------------------------------------------------------------------- classify


def cmd_classify(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .checkpoints import recommended_threshold
    from .data import DataError, load_image, to_model_range
    from .search import search

    _threads(args.threads)
    from .checkpoints import load

    model, meta = load(args.model)
    config = search_config(args)
    threshold = args.threshold if args.threshold is not None else recommended_threshold(meta)
    files, images, failed = [], [], 0
    for name in args.images:
        try:
            images.append(load_image(name))
            files.append(name)
        except DataError as exc:
            failed += 1
            print(f"igc: skipped {exc}", file=sys.stderr)
    if not images:
        print("igc: no image could be read", file=sys.stderr)
        return 1
    x = to_model_range(np.stack(images))  # (N, 28, 28) in [-0.5, 0.5]
    bar = tqdm(total=len(x), unit="image", desc="classify", disable=args.quiet or len(x) < 2)

    def on_snapshot(snap) -> None:
        if snap.step == snap.steps:
            bar.update(len(snap.losses))

    result = search(model, x, config, on_snapshot=on_snapshot, snapshot_every=max(config.steps, 1))
    bar.close()
    for i, name in enumerate(files):
        distances = [round(float(d), 6) for d in result.distances[i]]
        diverged = bool(result.diverged[i])
        label = None if diverged else int(result.labels[i])
        ooc = float(result.ooc[i])
        out_of_class = None if threshold is None or diverged else bool(ooc > threshold)
        if args.json:
            record = {"file": name, "label": label, "ooc": round(ooc, 6), "out_of_class": out_of_class, "distances": distances}
            if diverged:
                record["error"] = "search diverged: lower --lr"
            print(json.dumps(record))
        elif diverged:
            print(f"{name}: search diverged (lower --lr)")
        else:
            verdict = "" if out_of_class is None else ("  OUT OF CLASS" if out_of_class else "  in class")
            ranked = "  ".join(f"{c}:{d:.4f}" for c, d in sorted(enumerate(distances), key=lambda t: t[1]))
            print(f"{name}: label {label}  ooc {ooc:.4f}{verdict}  distances {ranked}")
    if not args.json and threshold is None:
        print("(no OOC threshold: pass --threshold, or measure one with `igc evaluate --ood`)", file=sys.stderr)
    return 1 if failed or result.diverged.any() else 0


# -------------------------------------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="igc", description="Inverted Generator Classifier: classify images by inverting a conditional generator.")
    parser.add_argument("--version", action="version", version=f"igc {__version__}")
    sub = parser.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("train", help="train a conditional generator (cvae, cgan) or the CNN baseline")
    p.add_argument("--model", required=True, choices=["cvae", "cgan", "cnn"])
    p.add_argument("--data", default=None, help="folder with the MNIST IDX files (default: $IGC_DATA, else a cache folder; downloaded when missing)")
    p.add_argument("--out", required=True, help="output path (writes PATH.safetensors and PATH.json)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=128, dest="batch_size")
    p.add_argument("--train-lr", type=float, default=1e-3, dest="train_lr", help="training learning rate")
    p.add_argument("--beta", type=float, default=1.0, help="KL weight (cvae)")
    p.add_argument("--latent", type=int, default=16, help="latent dimensions")
    p.add_argument("--hidden", type=_ints, default=[256, 512], help="decoder widths, e.g. 256,512")
    p.add_argument("--activation", default="silu")
    p.add_argument("--latent-scale", type=float, default=1.0, dest="latent_scale", help="the latent's unit: z = scale * N(0, I)")
    p.add_argument("--conditioning", default="bias", choices=["bias", "film"], help="how hidden layers see the class")
    p.add_argument("--class-heads", action="store_true", dest="class_heads", help="one output layer per class")
    p.add_argument("--decoder", default="shared", choices=["shared", "per_class"],
                   help="one decoder for all classes, or a separate decoder per class (the ABS design)")
    p.add_argument("--augment", type=float, default=0.0, metavar="P",
                   help="redraw this share of training digits (thickness, slant, rotation, aspect, elastic, blur; 0: off)")
    p.add_argument("--kl-warmup", type=int, default=0, dest="kl_warmup", help="epochs over which the KL weight rises to --beta")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=0, help="train on the first N images only")
    p.add_argument("--check", type=int, default=1000, help="measure IGC accuracy on this many test images after training (0: skip)")
    p.add_argument("--half", action="store_true", help="store the weights as float16 (half the file size)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("classify", help="classify image files")
    p.add_argument("images", nargs="+", help="image files (PNG, JPEG, BMP, anything Pillow reads)")
    p.add_argument("--model", default=None, help="checkpoint (default: the shipped model)")
    p.add_argument("--threshold", type=float, default=None, help="OOC above this is out of class (default: the model's measured one)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quiet", action="store_true")
    add_search_options(p)
    p.set_defaults(func=cmd_classify)

    try:
        from .evaluate import add_commands
    except ImportError:  # pragma: no cover - evaluate is optional while being built
        pass
    else:
        add_commands(sub, add_search_options)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    from .checkpoints import CheckpointError
    from .data import DataError

    try:
        return args.func(args)
    except (CheckpointError, DataError, ValueError) as exc:
        print(f"igc: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("igc: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
