"""`igc train`: train a conditional generator (cvae, cgan) or the CNN baseline, and save it with its sidecar."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np

from .common import add_common_options, command_line, ints, non_negative_int, positive_int


def _gan_defaults() -> dict:
    from ..gan import GANConfig, GANTrainConfig

    m, t = GANConfig(), GANTrainConfig()
    return {"epochs": t.epochs, "batch_size": t.batch_size, "train_lr": t.lr, "latent": m.latent_dim, "latent_scale": m.latent_scale,
            "channels": m.channels, "d_channels": m.d_channels, "ema": t.ema, "mismatch": t.mismatch}


CVAE_DEFAULTS = {"epochs": 30, "batch_size": 128, "train_lr": 1e-3, "latent": 16, "latent_scale": 1.0}
GAN_DEFAULTS = _gan_defaults()


def _csv(values) -> str:
    return ",".join(str(v) for v in values)


TWO_DIGIT_SEARCH = {"dif": "bce"}  # the search settings a two-digit CVAE records in its sidecar ("search")


def register(sub) -> None:
    p = sub.add_parser("train", help="train a conditional generator (cvae, cgan) or the CNN baseline")
    p.add_argument("--model", required=True, choices=["cvae", "cgan", "cnn"])
    p.add_argument("--task", default="digit", choices=["digit", "two-digit"],
                   help="digit: one MNIST digit (28x28); two-digit: a number of two MNIST digits (28x56, labels tens "
                        "and units; fresh seeded pairs every epoch)")
    p.add_argument("--out", required=True, help="output path (writes PATH.safetensors and PATH.json)")
    p.add_argument("--epochs", type=positive_int, default=None, help=f"default: {CVAE_DEFAULTS['epochs']} (cvae, cnn), {GAN_DEFAULTS['epochs']} (cgan)")
    p.add_argument("--batch-size", type=positive_int, default=None, dest="batch_size",
                   help=f"default: {CVAE_DEFAULTS['batch_size']} (cvae, cnn), {GAN_DEFAULTS['batch_size']} (cgan)")
    p.add_argument("--train-lr", type=float, default=None, dest="train_lr",
                   help=f"training learning rate (default: {CVAE_DEFAULTS['train_lr']:g} for cvae and cnn, {GAN_DEFAULTS['train_lr']:g} for cgan)")
    p.add_argument("--beta", type=float, default=1.0, help="KL weight (cvae)")
    p.add_argument("--latent", type=positive_int, default=None,
                   help=f"latent dimensions (default: {CVAE_DEFAULTS['latent']} for cvae, {GAN_DEFAULTS['latent']} for cgan; the paper's cGAN: 256)")
    p.add_argument("--hidden", type=ints, default=[256, 512], help="decoder widths, e.g. 256,512 (cvae)")
    p.add_argument("--activation", default="silu", help="(cvae)")
    p.add_argument("--latent-scale", type=float, default=None, dest="latent_scale",
                   help=f"the latent's unit: z = scale * N(0, I), so the prior is N(0, scale^2) (default: 1 for cvae, "
                        f"{GAN_DEFAULTS['latent_scale']:g} for cgan; the paper's N(0, 1) is 1)")
    g = p.add_argument_group("conditional GAN (--model cgan)")
    g.add_argument("--channels", type=ints, default=None, help=f"generator widths at 7x7 and 14x14 (default: {_csv(GAN_DEFAULTS['channels'])})")
    g.add_argument("--d-channels", type=ints, default=None, dest="d_channels",
                   help=f"discriminator widths at 14x14 and 7x7 (default: {_csv(GAN_DEFAULTS['d_channels'])})")
    g.add_argument("--ema", type=float, default=None, help=f"decay of the generator's weight average, 0: off (default: {GAN_DEFAULTS['ema']:g})")
    g.add_argument("--mismatch", type=float, default=None,
                   help=f"weight of real images with a wrong class among the discriminator's fakes (default: {GAN_DEFAULTS['mismatch']:g})")
    p.add_argument("--conditioning", default="bias", choices=["bias", "film"], help="how hidden layers see the class")
    p.add_argument("--class-heads", action="store_true", dest="class_heads", help="one output layer per class")
    p.add_argument("--decoder", default="shared", choices=["shared", "per_class"],
                   help="one decoder for all classes, or a separate decoder per class (the ABS design)")
    p.add_argument("--augment", type=float, default=0.0, metavar="P",
                   help="redraw this share of the training digits as users draw them: stroke thickness, slant, rotation, "
                        "aspect, elastic distortion, blur (igc_core.augment; 0: off)")
    p.add_argument("--contrast", type=float, default=0.0,
                   help="cvae: weight of a discriminative term on IGC's own distances (hybrid training; 0: off)")
    p.add_argument("--contrast-temperature", type=float, default=0.01, dest="contrast_temperature")
    p.add_argument("--contrast-images", type=positive_int, default=16, dest="contrast_images",
                   help="cvae, with --contrast: images per batch that get the every-class term")
    p.add_argument("--contrast-steps", type=non_negative_int, default=0, dest="contrast_steps",
                   help="cvae, with --contrast: refine the encoder's guess by this many steps of IGC's own search before "
                        "the term, so the wrong class the search fits best is the hard negative (0: the encoder's guess)")
    p.add_argument("--contrast-lr", type=float, default=0.002, dest="contrast_lr", help="the refinement's Adam step")
    p.add_argument("--contrast-start", default="encoder", choices=["encoder", "both"], dest="contrast_start",
                   help="the refinement starts at the encoder's guess, or at both that and the prior mean (where IGC's "
                        "search starts), each class keeping the closer")
    p.add_argument("--contrast-preset", default="igc", dest="contrast_preset",
                   help="the search preset whose distance the contrast term trains on (igc: MAE; robust: MSE with the intensity fit)")
    p.add_argument("--negatives", type=float, default=0.0,
                   help="cvae, with --contrast: weight of a term that keeps every class from drawing non-digit marks well "
                        "(dots, dashes, curves, scribbles, blobs, overlapping digits: igc_core.marks; 0: off)")
    p.add_argument("--negative-images", type=positive_int, default=16, dest="negative_images", help="marks per batch")
    p.add_argument("--negative-margin", type=float, default=1.5, dest="negative_margin",
                   help="a mark's nearest class is pushed above this many times the batch's 95th-percentile digit distance")
    p.add_argument("--resume", default=None, metavar="FOLDER",
                   help="cvae: save the training state in FOLDER after every epoch and, when FOLDER holds one, continue "
                        "from it (the same command resumes a stopped run)")
    p.add_argument("--printed", action="store_true",
                   help="add 0-9 typeset in the training designs' fonts (URW base35, TeX Gyre, FreeFont; igc_core.testsets) "
                        "to the training digits; the typeset test set holds out every other design")
    p.add_argument("--kl-warmup", type=non_negative_int, default=0, dest="kl_warmup",
                   help="cvae: epochs over which the KL weight rises from 0 to --beta")
    p.add_argument("--label-paths", action="store_true", dest="label_paths",
                   help="two-digit: one decoder per label (tens, units), each seeing only its own label, logits summed")
    p.add_argument("--label-shift", type=float, default=0.0, dest="label_shift",
                   help="with --label-paths: each label's drawing moves by up to this many pixels, the shift read from the latent")
    p.add_argument("--init", default=None, metavar="MODEL",
                   help="cvae/cgan: start from this checkpoint's weights and architecture (fine-tuning; the architecture "
                        "options are then taken from it)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=non_negative_int, default=0, help="train on the first N images only (two-digit: pairs of them)")
    p.add_argument("--check", type=non_negative_int, default=1000, help="measure IGC accuracy on this many test images (two-digit: pairs) after training (0: skip)")
    p.add_argument("--half", action="store_true", help="store the weights as float16 (half the file size)")
    add_common_options(p, model=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from .. import checkpoints
    from ..data import load_dataset
    from ..training import TrainConfig, train_generator

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.task == "two-digit" and args.model == "cnn":
        raise ValueError("the CNN baseline reads one digit: --task two-digit needs --model cvae")
    if args.task == "two-digit" and args.model == "cgan":
        raise ValueError("the convolutional cGAN reads one digit: --task two-digit needs --model cvae")
    checkpoints.check_writable(args.out)  # before hours of training, not after
    for key, value in (GAN_DEFAULTS if args.model == "cgan" else CVAE_DEFAULTS).items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    train = load_dataset(args.data, "train")
    test = load_dataset(args.data, "test")
    printed = None
    if args.printed:
        if args.task == "two-digit":
            raise ValueError("--printed adds single typeset digits: it does not apply to --task two-digit")
        import numpy as np

        from ..data import Dataset
        from ..testsets import printed_digits

        printed = printed_digits()
        train = Dataset(np.concatenate([train.images, printed.images]), np.concatenate([train.labels, printed.labels]), train.name)
    from ..augment import AugmentConfig

    augment = AugmentConfig(probability=args.augment) if args.augment else None
    if args.model == "cgan" and (args.augment or args.contrast or args.kl_warmup or args.init or args.resume):
        raise ValueError("--augment, --contrast, --kl-warmup, --init and --resume train the cvae; the cgan takes none of them")
    if args.model == "cgan":
        from ..gan import GANConfig, GANTrainConfig

        tc = GANTrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.train_lr, ema=args.ema, mismatch=args.mismatch,
                            seed=args.seed, limit=args.limit)
    else:
        tc = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.train_lr, beta=args.beta, seed=args.seed,
                         limit=args.limit, augment=augment, kl_warmup=args.kl_warmup, contrast=args.contrast,
                         contrast_temperature=args.contrast_temperature, contrast_images=args.contrast_images,
                         contrast_steps=args.contrast_steps, contrast_lr=args.contrast_lr,
                         contrast_preset=args.contrast_preset, contrast_start=args.contrast_start,
                         negatives=args.negatives,
                         negative_images=args.negative_images, negative_margin=args.negative_margin,
                         checkpoint=args.resume or "")
    start = None
    if args.init:
        if args.model == "cnn" or args.task != "digit":
            raise ValueError("--init continues a single-digit generator: it needs --model cvae and --task digit")
        start, start_meta = checkpoints.load_generator(args.init)
        if start.config.kind != args.model:
            raise ValueError(f"--init {args.init} is a {start.config.kind}, not a {args.model}")
    if args.model == "cnn":
        from ..baseline import CNNConfig

        model_config = CNNConfig()
    elif args.model == "cgan":
        model_config = GANConfig(latent_dim=args.latent, latent_scale=args.latent_scale, channels=tuple(args.channels),
                                 d_channels=tuple(args.d_channels))
    elif start is not None:
        model_config = start.config
    else:
        from ..generators import GeneratorConfig

        task = {}
        if args.task == "two-digit":
            from ..pairs import LABELS, NUMBER_SHAPE

            task = {"labels": LABELS, "num_classes": sum(LABELS), "image_size": NUMBER_SHAPE[0], "image_width": NUMBER_SHAPE[1],
                    "label_paths": args.label_paths, "label_shift": args.label_shift}
        elif args.label_paths or args.label_shift:
            raise ValueError("--label-paths needs a model of several labels: add --task two-digit")
        model_config = GeneratorConfig(kind=args.model, latent_dim=args.latent, hidden=tuple(args.hidden), activation=args.activation,
                                       latent_scale=args.latent_scale, conditioning=args.conditioning, class_heads=args.class_heads,
                                       decoder=args.decoder, **task)
    bar = tqdm(total=1, unit="batch", desc=f"train {args.model}", disable=args.quiet)

    def progress(epoch: int, step: int, total: int, metrics: dict) -> None:
        bar.total = total
        bar.update(step - bar.n)
        if step % 50 == 0 or step == total:
            bar.set_postfix({"epoch": epoch + 1, **{k: f"{v:.3g}" for k, v in metrics.items()}})

    if args.model == "cnn":
        from ..baseline import evaluate_classifier, train_classifier

        model, metrics = train_classifier(model_config, train, tc, progress)
        bar.close()
        metrics["test_accuracy"] = evaluate_classifier(model, test)
    elif args.task == "two-digit":
        from ..pairs import epoch_pairs

        # fresh pairs every epoch; the limit is applied to the digits the pairs are drawn from
        model, metrics = train_generator(model_config, lambda epoch: epoch_pairs(train, args.seed, epoch, tc.limit),
                                         replace(tc, limit=0), progress)
        bar.close()
        metrics.update(quick_two_digit_accuracy(model, test, args.check, TWO_DIGIT_SEARCH if args.model == "cvae" else {}))
    else:
        model, metrics = train_generator(model_config, train, tc, progress, start=start)
        bar.close()
        metrics.update(quick_igc_accuracy(model, test, args.check))
    if args.task == "two-digit" and args.model == "cvae":
        # the search this model is meant for: its own Bernoulli likelihood (BCE) as the image distance; with MAE
        # (the paper's) the exhaustive search read 89% of 100 clean test pairs right, with BCE 95% (BENCHMARKS.md)
        recommended = TWO_DIGIT_SEARCH
    else:
        recommended = {}
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
    weights = checkpoints.save_or_rescue(model, args.out, meta, half=args.half)
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
