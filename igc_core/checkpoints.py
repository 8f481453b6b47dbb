"""Checkpoints: weights as safetensors plus a JSON sidecar; never a pickle.

`model.safetensors` holds the tensors, `model.json` says what they are: the model kind and sizes, the latent
prior, the data set, the training command and config, and measured metrics. Loading checks all of it and
says plainly what is wrong with a missing, truncated, corrupt or mismatched file.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .generators import ConditionalGenerator, GeneratorConfig

FORMAT = "igc-checkpoint"
VERSION = 1


def _assets_dir() -> Path:
    """The shipped models and samples: inside the installed package (igc_core.assets, which a wheel carries),
    else the repository's assets/ folder (running from a checkout without installing)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("igc_core.assets")  # a data-only (namespace) package in the wheel
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / "default.json").exists():
            return Path(location)
    return Path(__file__).resolve().parent.parent / "assets"


ASSETS = _assets_dir()
DEFAULT_MODEL = ASSETS / "default.safetensors"
DEFAULT_CNN = ASSETS / "cnn.safetensors"
TWO_DIGIT_MODEL = ASSETS / "two-digit.safetensors"  # two labels, tens and units (IGC paper Sec. 1.4)
GENERATOR_KINDS = ("cvae", "cgan")


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded, with a message saying why."""


def paths(path: str | Path) -> tuple[Path, Path]:
    """The weights file and its sidecar for a path given with or without an extension."""
    path = Path(path).expanduser()
    if path.suffix in (".safetensors", ".json"):
        path = path.with_suffix("")
    return path.with_suffix(".safetensors"), path.with_suffix(".json")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save(model: torch.nn.Module, path: str | Path, meta: dict, half: bool = False) -> Path:
    """Write `model`'s weights and a sidecar built from `meta` (kind and config are filled in here).

    `half` stores the weights as float16 (half the size; they are widened back to float32 on loading).
    """
    weights, sidecar = paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if half:
        tensors = {k: v.half() if v.is_floating_point() and k not in ("prior_mean", "prior_std") else v for k, v in tensors.items()}
    save_file(tensors, str(weights))
    doc = {"format": FORMAT, "version": VERSION, **meta}
    doc["kind"] = model.config.kind
    doc["model"] = model.config.to_dict()
    if hasattr(model, "prior_mean"):  # a generator (cvae or cgan): the latent distribution it was trained on
        doc["latent_prior"] = {"mean": model.prior_mean.tolist(), "std": model.prior_std.tolist()}
    doc["weights_sha256"] = _sha256(weights)
    sidecar.write_text(json.dumps(doc, indent=2) + "\n")
    return weights


def read_meta(path: str | Path) -> dict:
    """Read and check a checkpoint's sidecar."""
    weights, sidecar = paths(path)
    if not weights.exists():
        raise CheckpointError(f"no checkpoint at {weights}")
    if not sidecar.exists():
        raise CheckpointError(f"{weights.name} has no sidecar {sidecar.name}: it describes the model and is required")
    try:
        meta = json.loads(sidecar.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{sidecar.name} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{sidecar.name} is not an igc checkpoint sidecar")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{sidecar.name} has format version {meta.get('version')!r}; this igc reads {VERSION}")
    if "kind" not in meta:
        raise CheckpointError(f"{sidecar.name} does not say what kind of model it holds (no 'kind' entry)")
    if meta["kind"] not in (*GENERATOR_KINDS, "cnn"):
        raise CheckpointError(f"{sidecar.name}: unknown model kind {meta['kind']!r} (this igc reads {', '.join((*GENERATOR_KINDS, 'cnn'))})")
    if not isinstance(meta.get("model"), dict):
        raise CheckpointError(f"{sidecar.name} has no model description (a 'model' entry with the model's sizes)")
    return meta


def check_writable(path: str | Path) -> None:
    """Refuse, before any work, an output path whose files cannot be written (read-only, under a file, ...)."""
    for target in paths(path):
        folder = target.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise CheckpointError(f"cannot write {target}: a part of {folder} is a file, not a folder") from None
        except OSError as exc:
            raise CheckpointError(f"cannot create the folder {folder} ({exc.strerror or exc})") from None
        if target.is_dir():
            raise CheckpointError(f"cannot write {target}: it is a folder")
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".igc-write-test-"):
                pass
        except OSError as exc:
            raise CheckpointError(f"cannot write into {folder} ({exc.strerror or exc})") from None


def save_or_rescue(model: torch.nn.Module, path: str | Path, meta: dict, half: bool = False) -> Path:
    """`save`, and when that fails (the disk filled, the folder went away) save to a fallback path instead, so
    that a trained model is never lost; the fallback's location is printed."""
    try:
        return save(model, path, meta, half)
    except (OSError, SafetensorError) as exc:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for folder in (Path.home(), Path(tempfile.gettempdir())):
            fallback = folder / f"igc-rescued-{Path(path).name or 'model'}-{stamp}"
            try:
                weights = save(model, fallback, meta, half)
            except (OSError, SafetensorError):
                continue
            print(f"igc: could not save to {path} ({exc}); saved the model to {weights} instead", file=sys.stderr)
            return weights
        raise CheckpointError(f"could not save the model to {path} ({exc}) nor to a fallback folder") from None


def load(path: str | Path | None = None, device: str = "cpu") -> tuple[torch.nn.Module, dict]:
    """Load a checkpoint (the shipped default when `path` is None): returns the model in eval mode and its sidecar."""
    weights, sidecar = paths(path if path is not None else DEFAULT_MODEL)
    meta = read_meta(weights)
    if meta.get("weights_sha256") and _sha256(weights) != meta["weights_sha256"]:
        raise CheckpointError(
            f"{weights.name} does not match its sidecar (checksum differs): the file is truncated, corrupt or from another model"
        )
    # Compare the sidecar's model with the shapes in the safetensors header before allocating anything: a
    # sidecar that claims absurd sizes is refused with a message instead of exhausting memory.
    build, expected = _builder(meta, sidecar.name)
    try:
        with safe_open(str(weights), framework="pt") as f:
            stored = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights.name} is not a readable safetensors file ({exc})") from None
    _check_shapes(weights.name, expected, stored)
    model = build()
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights.name} is not a readable safetensors file ({exc})") from None
    for name, tensor in tensors.items():
        if not tensor.is_floating_point() or not torch.isfinite(tensor).all():
            raise CheckpointError(f"{weights.name}: {name} holds non-numeric or non-finite values")
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    if hasattr(model, "prior_std"):
        if not (model.prior_std > 0).all():
            raise CheckpointError(f"{weights.name}: the latent prior's standard deviations must be positive")
    model.eval()
    return model.to(device), meta


def _builder(meta: dict, sidecar_name: str):
    """A function that builds the (untrained) model the sidecar describes, and the shapes of its tensors
    (from a model built on the meta device, which allocates nothing)."""
    kind = meta.get("kind")
    if kind == "cgan" and "channels" in (meta.get("model") or {}):  # the convolutional conditional GAN (igc_core.gan)
        from .gan import CGANGenerator, GANConfig

        cls, config_cls = CGANGenerator, GANConfig
    elif kind in GENERATOR_KINDS:
        cls, config_cls = ConditionalGenerator, GeneratorConfig
    elif kind == "cnn":
        from .baseline import CNNClassifier, CNNConfig

        cls, config_cls = CNNClassifier, CNNConfig
    else:
        raise CheckpointError(f"{sidecar_name}: unknown model kind {kind!r} (this igc reads {', '.join((*GENERATOR_KINDS, 'cnn'))})")
    try:
        config = config_cls(**meta["model"])
        with torch.device("meta"):
            expected = cls(config).state_dict()
    except (TypeError, KeyError, ValueError, RuntimeError, OverflowError) as exc:
        raise CheckpointError(f"{sidecar_name}: invalid model description ({exc})") from None
    return (lambda: cls(config)), expected


def _check_shapes(name: str, expected: dict, stored: dict) -> None:
    missing, extra = sorted(set(expected) - set(stored)), sorted(set(stored) - set(expected))
    if missing or extra:
        raise CheckpointError(
            f"{name} does not fit the model its sidecar describes"
            + (f"; missing: {', '.join(missing[:5])}" if missing else "")
            + (f"; unexpected: {', '.join(extra[:5])}" if extra else "")
        )
    for key, shape in stored.items():
        if shape != tuple(expected[key].shape):
            raise CheckpointError(
                f"{name}: {key} has shape {shape}, the sidecar's model needs {tuple(expected[key].shape)}: "
                "the sidecar does not describe these weights"
            )


def load_generator(path: str | Path | None = None, device: str = "cpu") -> tuple[ConditionalGenerator, dict]:
    """`load`, refusing a checkpoint that is not a generator (the CNN baseline, say) with a message."""
    weights, _ = paths(path if path is not None else DEFAULT_MODEL)
    kind = read_meta(weights).get("kind")
    if kind not in GENERATOR_KINDS:
        raise CheckpointError(f"{weights.name} is a {kind} classifier, not a generator: IGC needs a cvae or cgan checkpoint")
    return load(weights, device)


def load_classifier(path: str | Path, device: str = "cpu"):
    """`load` for the CNN baseline, refusing a generator with a message."""
    weights, _ = paths(path)
    kind = read_meta(weights).get("kind")
    if kind != "cnn":
        raise CheckpointError(f"{weights.name} is a {kind} generator, not the CNN baseline")
    return load(weights, device)


def set_metric(path: str | Path | None, key: str, value, note: dict | None = None) -> None:
    """Record a measured figure (such as the OOC threshold) in a checkpoint's sidecar."""
    _, sidecar = paths(path if path is not None else DEFAULT_MODEL)
    meta = read_meta(sidecar)
    meta.setdefault("metrics", {})[key] = value
    meta["metrics"].update(note or {})
    sidecar.write_text(json.dumps(meta, indent=2) + "\n")


def recommended_threshold(meta: dict, sigma: float = 0.0) -> float | None:
    """The OOC threshold measured for this model by `igc evaluate --ood --save-threshold`, if any.

    Noise raises every distance, so where thresholds were measured per noise level the one for `sigma` is
    used (interpolated linearly between the measured levels, the nearest end outside them).
    """
    metrics = meta.get("metrics", {}) if isinstance(meta.get("metrics"), dict) else {}
    by_sigma = metrics.get("ooc_thresholds_by_sigma")
    if isinstance(by_sigma, dict) and sigma > 0:
        points = []
        for key, value in by_sigma.items():
            try:
                s, t = float(key), float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(s) and math.isfinite(t) and t > 0:
                points.append((s, t))
        if points:
            points.sort()
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            import numpy as np

            return float(np.interp(sigma, xs, ys))
    value = metrics.get("ooc_threshold")
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    return float(value) if ok else None
