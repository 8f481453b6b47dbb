"""The model kinds igc reads and trains: one table, a kind's name -> all that differs between kinds.

A kind names its configuration (the sidecar's "model" section, validated on creation), the module built from
it, its training settings (the sidecar's "training" section) and trainer, whether it is a generator (IGC searches
it; else a classifier the commands compare with) with or without an encoder, which tasks it trains on, and the
`igc train` options it takes. The checkpoints (igc_core.checkpoints), the training dispatch (`train` below) and
`igc train` read this table, so adding a kind touches the table and the new model's module only. Every generator
kind is an `igc_core.generators.Generator`, the interface the search relies on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from . import gan, training
from .augment import AugmentConfig
from .baseline import CNNClassifier, CNNConfig, train_classifier
from .generators import ACTIVATIONS, DECODERS, ConditionalGenerator, GeneratorConfig


@dataclass(frozen=True)
class Option:
    """An `igc train` option: its flag, the config field it sets ("model.<field>" or "train.<field>"), and how
    its text reads: "count" a whole number >= 1, "count0" >= 0, "int" any whole number, "widths" comma-separated
    whole numbers, "number", "text" (one of `choices` when given), "flag" (on when given)."""

    flag: str
    target: str
    help: str
    value: str = "number"
    choices: tuple[str, ...] = ()
    convert: Callable[[Any], Any] | None = None  # the option's value -> the field's (--augment P -> AugmentConfig)
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def section(self) -> str:
        return self.target.split(".", 1)[0]

    @property
    def field(self) -> str:
        return self.target.split(".", 1)[1]


def _augment(probability: float) -> AugmentConfig | None:
    return AugmentConfig(probability=probability) if probability else None


EPOCHS = Option("--epochs", "train.epochs", "training epochs", "count")
BATCH_SIZE = Option("--batch-size", "train.batch_size", "images per training batch", "count")
TRAIN_LR = Option("--train-lr", "train.lr", "training learning rate")
SEED = Option("--seed", "train.seed", "the training's random seed", "int")
LIMIT = Option("--limit", "train.limit", "train on the first N images only, 0: all (two-digit: pairs of them)", "count0")
LATENT = Option("--latent", "model.latent_dim", "latent dimensions (the paper's cGAN: 256)", "count")
LATENT_SCALE = Option("--latent-scale", "model.latent_scale",
                      "the latent's unit: z = scale * N(0, I), so the prior is N(0, scale^2) (the paper's N(0, 1) is 1)")
HIDDEN = Option("--hidden", "model.hidden", "decoder widths, e.g. 256,512", "widths")
ACTIVATION = Option("--activation", "model.activation", "the decoder's activation", "text", tuple(ACTIVATIONS))
CONDITIONING = Option("--conditioning", "model.conditioning", "how hidden layers see the class", "text", ("bias", "film"))
CLASS_HEADS = Option("--class-heads", "model.class_heads", "one output layer per class", "flag")
DECODER = Option("--decoder", "model.decoder",
                 "one decoder for all classes, or a separate decoder per class (the ABS design)", "text", DECODERS)
LABEL_PATHS = Option("--label-paths", "model.label_paths",
                     "two-digit: one decoder per label (tens, units), each seeing only its own label, logits summed", "flag")
LABEL_SHIFT = Option("--label-shift", "model.label_shift",
                     "with --label-paths: each label's drawing moves by up to this many pixels, the shift read from the latent")
BETA = Option("--beta", "train.beta", "KL weight")
KL_WARMUP = Option("--kl-warmup", "train.kl_warmup", "epochs over which the KL weight rises from 0 to --beta", "count0")
CONTRAST = Option("--contrast", "train.contrast", "weight of a discriminative term on IGC's own distances (hybrid training; 0: off)")
CONTRAST_TEMPERATURE = Option("--contrast-temperature", "train.contrast_temperature", "the discriminative term's temperature")
CONTRAST_IMAGES = Option("--contrast-images", "train.contrast_images", "with --contrast: images per batch that get the "
                         "every-class term", "count")
CONTRAST_STEPS = Option("--contrast-steps", "train.contrast_steps", "with --contrast: refine the encoder's guess by this "
                        "many steps of IGC's own search before the term, so the wrong class the search fits best is the "
                        "hard negative (0: the encoder's guess)", "count0")
CONTRAST_LR = Option("--contrast-lr", "train.contrast_lr", "with --contrast-steps: the refinement's Adam step")
CONTRAST_PRESET = Option("--contrast-preset", "train.contrast_preset", "with --contrast: the search preset whose "
                         "distance the term trains on (igc: MAE; robust: MSE with the intensity fit)", "text")
CONTRAST_START = Option("--contrast-start", "train.contrast_start", "with --contrast-steps: start at the encoder's guess, "
                        "or at both that and the prior mean (where IGC's search starts), each class keeping the closer",
                        "text", ("encoder", "both"))
NEGATIVES = Option("--negatives", "train.negatives", "with --contrast: weight of a term that keeps every class from "
                   "drawing non-digit marks well (dots, dashes, curves, scribbles, blobs, overlapping digits: "
                   "igc_core.marks; 0: off)")
NEGATIVE_IMAGES = Option("--negative-images", "train.negative_images", "with --negatives: marks per batch", "count")
NEGATIVE_LEVEL = Option("--negative-level", "train.negative_level", "with --negatives: each mark's OOC score (its nearest "
                        "class's distance over the square root of its ink, igc_core.verdict) is pushed above this")
RESUME = Option("--resume", "train.checkpoint", "save the training state in FOLDER after every epoch and, when FOLDER "
                "holds one, continue from it (the same command resumes a stopped run)", "text", metavar="FOLDER")
AUGMENT = Option("--augment", "train.augment",
                 "redraw this share of the training digits as users draw them: stroke thickness, slant, rotation, aspect, "
                 "elastic distortion, blur (igc_core.augment; 0: off)", convert=_augment, metavar="P")
CHANNELS = Option("--channels", "model.channels", "generator widths at 7x7 and 14x14", "widths")
D_CHANNELS = Option("--d-channels", "model.d_channels", "discriminator widths at 14x14 and 7x7", "widths")
EMA = Option("--ema", "train.ema", "decay of the generator's weight average, 0: off")
MISMATCH = Option("--mismatch", "train.mismatch", "weight of real images with a wrong class among the discriminator's fakes")

_TRAINING = (EPOCHS, BATCH_SIZE, TRAIN_LR, SEED, LIMIT)
_MLP = (LATENT, LATENT_SCALE, HIDDEN, ACTIVATION, CONDITIONING, CLASS_HEADS, DECODER)


@dataclass(frozen=True)
class ModelKind:
    """One kind of model, as the table below lists it."""

    name: str
    summary: str  # one line for `igc train --help`
    config: type  # the model's configuration: the sidecar's "model" section
    model: type  # the torch module built from a config
    train_config: type  # the training's settings: the sidecar's "training" section
    trainer: Callable[..., tuple[Any, dict]]  # (config, data, train_config, progress[, start=model]) -> (model, metrics)
    options: tuple[Option, ...]  # the `igc train` options it takes
    generator: bool = True  # IGC searches it (an igc_core.generators.Generator); else a classifier
    has_encoder: bool = False  # its encoder gives the search a starting guess (init 'encoder')
    fine_tune: bool = False  # training can continue from a checkpoint of this kind (`igc train --init`)
    tasks: tuple[str, ...] = ("digit",)  # what it can be trained on: "digit", "two-digit" (igc_core.pairs)

    def configs(self, values: dict[str, Any], **model_fields: Any) -> tuple[Any, Any]:
        """The model's and the training's configs from option values (dest -> value; None: the default) and
        fixed model fields (a task's image shape); refuses options of other kinds with a ValueError."""
        own = {o.dest for o in self.options}
        foreign = [o.flag for o in all_options() if values.get(o.dest) not in (None, False) and o.dest not in own]
        if foreign:
            raise ValueError(f"{', '.join(foreign)} {'is not an option' if len(foreign) == 1 else 'are not options'} of "
                             f"--model {self.name}; it takes {', '.join(o.flag for o in self.options)}")
        sections: dict[str, dict] = {"model": dict(model_fields), "train": {}}
        for option in self.options:
            value = values.get(option.dest)
            if value is None:
                continue
            value = option.convert(value) if option.convert else value
            sections[option.section][option.field] = tuple(value) if isinstance(value, list) else value
        return self.config(kind=self.name, **sections["model"]), self.train_config(**sections["train"])

    def default(self, option: Option) -> Any:
        """The value `option` takes for this kind when it is not given (its config's default)."""
        cls = self.config if option.section == "model" else self.train_config
        return next(f.default for f in dataclasses.fields(cls) if f.name == option.field)


KINDS: dict[str, ModelKind] = {
    kind.name: kind
    for kind in (
        ModelKind("cvae", "a conditional VAE (MLP; its encoder can start the search)", GeneratorConfig, ConditionalGenerator,
                  training.TrainConfig, training.train_generator,
                  (*_TRAINING, *_MLP, BETA, KL_WARMUP, CONTRAST, CONTRAST_TEMPERATURE, CONTRAST_IMAGES, CONTRAST_STEPS,
                   CONTRAST_LR, CONTRAST_PRESET, CONTRAST_START, NEGATIVES, NEGATIVE_IMAGES, NEGATIVE_LEVEL, AUGMENT,
                   LABEL_PATHS, LABEL_SHIFT, RESUME),
                  has_encoder=True, fine_tune=True, tasks=("digit", "two-digit")),
        ModelKind("cgan-mlp", "a conditional least-squares GAN with MLP generator and discriminator (the first cGAN)",
                  GeneratorConfig, ConditionalGenerator, training.TrainConfig, training.train_generator, (*_TRAINING, *_MLP)),
        ModelKind("cgan-conv", "a convolutional conditional least-squares GAN (the shipped assets/cgan)", gan.GANConfig,
                  gan.CGANGenerator, gan.GANTrainConfig, gan.train_model,
                  (*_TRAINING, LATENT, LATENT_SCALE, CHANNELS, D_CHANNELS, EMA, MISMATCH)),
        ModelKind("cnn", "the CNN baseline classifier IGC is compared with", CNNConfig, CNNClassifier, training.TrainConfig,
                  train_classifier, _TRAINING, generator=False),
    )
}

# Names that once meant something else. `igc train --model cgan` trained the convolutional cGAN; a sidecar's
# "cgan" is the convolutional one when its model has conv `channels`, else the earlier MLP one.
CLI_ALIASES = {"cgan": "cgan-conv"}
_OLD_SIDECAR_KINDS = {"cgan": lambda model: "cgan-conv" if "channels" in model else "cgan-mlp"}


def sidecar_kind(kind: Any, model: dict) -> ModelKind | None:
    """The kind a sidecar's `kind` entry (and, for old names, its `model` section) names; None if unknown."""
    if isinstance(kind, str) and kind in _OLD_SIDECAR_KINDS:
        kind = _OLD_SIDECAR_KINDS[kind](model)
    return KINDS.get(kind) if isinstance(kind, str) else None


def all_options() -> list[Option]:
    """Every kind's `igc train` options, each once, in the table's order."""
    seen: dict[str, Option] = {}
    for kind in KINDS.values():
        for option in kind.options:
            seen.setdefault(option.flag, option)
    return list(seen.values())


def train(config: Any, data: Any, train_config: Any, progress: training.Progress | None = None,
          start: Any = None) -> tuple[Any, dict]:
    """Train a model of `config.kind` with its kind's trainer; `start`: a trained model of the same configuration
    to continue from (kinds with `fine_tune` only)."""
    kind = KINDS[config.kind]
    if start is None:
        return kind.trainer(config, data, train_config, progress)
    if not kind.fine_tune:
        raise ValueError(f"a {kind.name} trains from fresh weights: it cannot continue from a checkpoint (--init)")
    return kind.trainer(config, data, train_config, progress, start=start)
