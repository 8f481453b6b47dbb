"""Checkpoints: weights as safetensors plus a JSON sidecar; never a pickle.

`model.safetensors` holds the tensors, `model.json` says what they are: the model kind and sizes, the latent
prior, the data set, the training command and config, and measured metrics. Loading checks all of it and
says plainly what is wrong with a missing, truncated, corrupt or mismatched file.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .generators import ConditionalGenerator, GeneratorConfig

FORMAT = "igc-checkpoint"
VERSION = 1
ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_MODEL = ASSETS / "default.safetensors"


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
    return meta


def load(path: str | Path | None = None, device: str = "cpu") -> tuple[torch.nn.Module, dict]:
    """Load a checkpoint (the shipped default when `path` is None): returns the model in eval mode and its sidecar."""
    weights, sidecar = paths(path if path is not None else DEFAULT_MODEL)
    meta = read_meta(weights)
    if meta.get("weights_sha256") and _sha256(weights) != meta["weights_sha256"]:
        raise CheckpointError(
            f"{weights.name} does not match its sidecar (checksum differs): the file is truncated, corrupt or from another model"
        )
    kind = meta.get("kind")
    try:
        if kind == "cvae":
            model = ConditionalGenerator(GeneratorConfig(**meta["model"]))
        elif kind == "cgan":
            from .gan import CGANGenerator, GANConfig

            model = CGANGenerator(GANConfig(**meta["model"]))
        elif kind == "cnn":
            from .baseline import CNNClassifier, CNNConfig

            model = CNNClassifier(CNNConfig(**meta["model"]))
        else:
            raise CheckpointError(f"{sidecar.name}: unknown model kind {kind!r}")
    except (TypeError, KeyError, ValueError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"{sidecar.name}: invalid model description ({exc})") from None
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights.name} is not a readable safetensors file ({exc})") from None
    expected = model.state_dict()
    missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or extra:
        raise CheckpointError(
            f"{weights.name} does not fit the model its sidecar describes"
            + (f"; missing: {', '.join(missing[:5])}" if missing else "")
            + (f"; unexpected: {', '.join(extra[:5])}" if extra else "")
        )
    for name, tensor in tensors.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise CheckpointError(
                f"{weights.name}: {name} has shape {tuple(tensor.shape)}, the sidecar's model needs {tuple(expected[name].shape)}"
            )
        if not tensor.is_floating_point() or not torch.isfinite(tensor).all():
            raise CheckpointError(f"{weights.name}: {name} holds non-numeric or non-finite values")
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    if hasattr(model, "prior_std"):
        if not (model.prior_std > 0).all():
            raise CheckpointError(f"{weights.name}: the latent prior's standard deviations must be positive")
    model.eval()
    return model.to(device), meta


def set_metric(path: str | Path | None, key: str, value, note: dict | None = None) -> None:
    """Record a measured figure (such as the OOC threshold) in a checkpoint's sidecar."""
    _, sidecar = paths(path if path is not None else DEFAULT_MODEL)
    meta = read_meta(sidecar)
    meta.setdefault("metrics", {})[key] = value
    meta["metrics"].update(note or {})
    sidecar.write_text(json.dumps(meta, indent=2) + "\n")


def recommended_threshold(meta: dict) -> float | None:
    """The OOC threshold measured for this model by `igc evaluate --ood`, if any."""
    value = meta.get("metrics", {}).get("ooc_threshold")
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None
