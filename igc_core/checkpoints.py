"""Checkpoints: weights as safetensors plus a JSON sidecar; never a pickle.

`model.safetensors` holds the tensors, `model.json` says what they are: the model kind and sizes, the latent
prior, the data set, the training command and config, and measured metrics. Loading checks all of it and
says plainly what is wrong with a missing, truncated, corrupt or mismatched file; one schema (`check_sidecar`)
judges every sidecar, for the commands and the app alike. The kinds are those of igc_core.model_kinds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from . import files
from .generators import Generator
from .model_kinds import KINDS, ModelKind, sidecar_kind

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

    The pair is written together or not at all: both go to new temporary files in the target folder first and
    are then renamed into place, the old weights kept aside until the new sidecar is in place too; a full disk,
    an unwritable sidecar or an interrupt leaves an existing model as it was, still loadable. `half` stores the
    weights as float16 (half the size; they are widened back to float32 on loading).
    """
    weights, sidecar = paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if half:
        tensors = {k: v.half() if v.is_floating_point() and k not in ("prior_mean", "prior_std") else v for k, v in tensors.items()}
    doc = {"format": FORMAT, "version": VERSION, **_json_safe(meta)}
    doc["kind"] = model.config.kind
    doc["model"] = model.config.to_dict()
    if KINDS[model.config.kind].generator:  # the latent distribution it was trained on
        doc["latent_prior"] = {"mean": model.prior_mean.tolist(), "std": model.prior_std.tolist()}
    new_weights = _temporary(weights)
    new_sidecar = None
    try:
        save_file(tensors, str(new_weights))
        doc["weights_sha256"] = _sha256(new_weights)
        new_sidecar = _temporary(sidecar)
        with new_sidecar.open("wb") as f:
            f.write((json.dumps(doc, indent=2, allow_nan=False) + "\n").encode())
            f.flush()
            os.fsync(f.fileno())
        for new, old in ((new_weights, weights), (new_sidecar, sidecar)):
            new.chmod(_mode(old))
        _replace_pair(new_weights, weights, new_sidecar, sidecar)
    finally:
        for tmp in (new_weights, new_sidecar):
            if tmp is not None:
                tmp.unlink(missing_ok=True)
    return weights


def _json_safe(value: Any) -> Any:
    """`value` with non-finite numbers as null (JSON has no NaN): a diverged metric must not cost the model."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _mode(path: Path) -> int:
    """The permissions a rewritten file keeps (a new one: rw-r--r--)."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        return 0o644


def _temporary(path: Path) -> Path:
    """A new, empty file beside `path` with an unpredictable name (created exclusively, never through a link)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(name)


def _replace_pair(new_weights: Path, weights: Path, new_sidecar: Path, sidecar: Path) -> None:
    """Rename the new weights and sidecar into place; if the sidecar cannot be replaced, put the old weights back."""
    if sidecar.is_dir():
        raise IsADirectoryError(f"cannot write {sidecar}: it is a folder")
    backup = None
    if weights.exists():  # a copy of the old weights aside (a second link: no bytes copied), for the way back
        backup = _temporary(weights)
        backup.unlink()
        try:
            os.link(weights, backup)
        except OSError:
            shutil.copyfile(weights, backup)
    try:
        os.replace(new_weights, weights)
        try:
            os.replace(new_sidecar, sidecar)
        except BaseException:
            if backup is not None:
                os.replace(backup, weights)
            else:
                weights.unlink(missing_ok=True)
            raise
    finally:
        if backup is not None:
            backup.unlink(missing_ok=True)


def read_meta(path: str | Path) -> dict:
    """Read a checkpoint's sidecar and check it against the schema (`check_sidecar`).

    Only a regular file of at most MAX_SIDECAR_BYTES, nested at most files.MAX_JSON_DEPTH levels, is read: a FIFO,
    a device, a huge or a deeply nested file is refused at once with a message."""
    weights, sidecar = paths(path)
    if not weights.exists():
        raise CheckpointError(f"no checkpoint at {weights}")
    if not sidecar.exists():
        raise CheckpointError(f"{weights.name} has no sidecar {sidecar.name}: it describes the model and is required")
    try:
        meta = files.load_json(sidecar, MAX_SIDECAR_BYTES, "sidecar")
    except files.FileRefused as exc:
        raise CheckpointError(str(exc)) from None
    except ValueError as exc:
        raise CheckpointError(str(exc)) from None
    except OSError as exc:
        raise CheckpointError(f"cannot read {sidecar.name} ({exc.strerror or exc})") from None
    return check_sidecar(meta, sidecar.name)


# Bounds no model of any kind comes near; beyond them a sidecar is refused before anything is built.
MAX_WHOLE_NUMBER = 2**31 - 1
MAX_LIST = 64  # layers, labels, channel widths
MAX_LATENT = 65_536  # entries of the latent prior's mean and std
MAX_SIDECAR_BYTES = files.MAX_JSON_BYTES  # the shipped sidecars are 2-10 kB
MAX_PARAMETERS = 100_000_000  # 400 MB of float32: 100x the shipped models; beyond it a model is refused unbuilt
_TEXT_ENTRIES = ("command", "task", "created", "provenance", "igc_version", "weights_sha256")
_SECTION_ENTRIES = ("dataset", "training", "metrics")


def check_sidecar(meta: Any, name: str = "the sidecar") -> dict:
    """The one schema of a checkpoint's sidecar, applied by every loader (the commands and the app).

    Checks the format and version, the model kind (igc_core.model_kinds; an old `cgan` is resolved by its
    `channels`), the model's sizes (types, bounds, then the kind's config), the latent prior, the recommended
    search settings (via SearchConfig), the OOC thresholds and the types of the other entries. Returns the sidecar
    with its kind under today's name; raises CheckpointError saying what is wrong.
    """
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{name} is not an igc checkpoint sidecar")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{name} has format version {_short(meta.get('version'))}; this igc reads {VERSION}")
    if "kind" not in meta:
        raise CheckpointError(f"{name} does not say what kind of model it holds (no 'kind' entry)")
    model = meta.get("model")
    kind = sidecar_kind(meta["kind"], model if isinstance(model, dict) else {})
    if kind is None:
        raise CheckpointError(f"{name}: unknown model kind {_short(meta['kind'])} (this igc reads {', '.join(KINDS)})")
    if not isinstance(model, dict):
        raise CheckpointError(f"{name} has no model description (a 'model' entry with the model's sizes)")
    if "kind" in model and sidecar_kind(model["kind"], model) is not kind:
        raise CheckpointError(f"{name}: invalid model description (its kind {_short(model['kind'])} is not the "
                              f"sidecar's {_short(meta['kind'])})")
    model = {**model, "kind": kind.name}
    problem = _field_problem(model, kind.config, "model")
    if problem is None:
        try:
            kind.config(**model)
        except (TypeError, ValueError, OverflowError) as exc:
            problem = str(exc)
    if problem is not None:
        raise CheckpointError(f"{name}: invalid model description ({problem})")
    problem = (_prior_problem(meta.get("latent_prior")) if kind.generator and "latent_prior" in meta else None)
    problem = problem or _entries_problem(meta)
    if problem is not None:
        raise CheckpointError(f"{name}: {problem}")
    recommended_search(meta, name)
    _check_metrics(meta.get("metrics", {}), name)
    _check_calibrations(meta.get("calibrations", []), name)
    return {**meta, "kind": kind.name, "model": model}


def recommended_search(meta: dict | None, name: str = "the model's sidecar") -> dict:
    """The search settings a sidecar recommends (its "search" entry: known SearchConfig fields, values it
    accepts); raises CheckpointError otherwise."""
    from .search import SearchConfig

    recommended = (meta or {}).get("search", {})
    if not isinstance(recommended, dict):
        raise CheckpointError(f"{name} recommends search settings that are not a list of settings: {_short(recommended)}")
    problem = _field_problem(recommended, SearchConfig, "search")
    if problem is None:
        try:
            SearchConfig().with_(**recommended)
        except (TypeError, ValueError) as exc:
            problem = str(exc)
    problem = problem or _range_problem(recommended)
    if problem is not None:
        raise CheckpointError(f"{name} recommends invalid search settings ({problem})")
    return recommended


def _range_problem(recommended: dict) -> str | None:
    """The first recommended setting outside its range (search.SETTINGS' minimum and maximum, the app's panel's:
    a sidecar may not ask for 1,000 restarts or a billion steps), or None."""
    from .search import SETTINGS

    for key, value in recommended.items():
        s = SETTINGS.get(key)
        if s is None or not _finite(value):
            continue
        if (s.minimum is not None and value < s.minimum) or (s.maximum is not None and value > s.maximum):
            low, high = ("any" if v is None else f"{v:g}" for v in (s.minimum, s.maximum))
            return f"{key} {_short(value)} is outside its range ({low} to {high})"
    return None


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _value_problem(key: str, value: Any, annotation: str) -> str | None:
    """Why `value` cannot be the dataclass field `key` of type `annotation` (a string: the configs use postponed
    annotations), or None; types the schema does not know are left to the config's own checks."""
    if annotation == "int":
        if not _whole(value):
            return f"{key} must be a whole number (got {_short(value)})"
        if abs(value) > MAX_WHOLE_NUMBER:
            return f"{key} {value} is beyond any model (at most {MAX_WHOLE_NUMBER:,})"
    elif annotation in ("float", "float | None"):
        if not (_finite(value) or (value is None and annotation == "float | None")):
            return f"{key} must be a finite number (got {_short(value)})"
    elif annotation == "str" and not isinstance(value, str):
        return f"{key} must be text (got {_short(value)})"
    elif annotation == "bool" and not isinstance(value, bool):
        return f"{key} must be true or false (got {_short(value)})"
    elif annotation.startswith("tuple[int"):
        if not isinstance(value, (list, tuple)) or not all(_whole(v) for v in value):
            return f"{key} must be a list of whole numbers (got {_short(value)})"
        if len(value) > MAX_LIST or any(abs(v) > MAX_WHOLE_NUMBER for v in value):
            return f"{key} has {len(value)} entries or one beyond any model (at most {MAX_LIST} of at most {MAX_WHOLE_NUMBER:,})"
    return None


def _field_problem(values: dict, config: type, section: str, unknown_ok: bool = False) -> str | None:
    """The first problem of `values` as fields of the dataclass `config`: an unknown entry or a wrong type."""
    fields = {f.name: str(f.type) for f in dataclasses.fields(config)}
    unknown = sorted(str(k)[:40] for k in values if k not in fields)
    if unknown and not unknown_ok:
        return f"unknown {section} entries: {', '.join(unknown[:5])}{', ...' if len(unknown) > 5 else ''} (known: {', '.join(fields)})"
    for key, value in values.items():
        problem = _value_problem(key, value, fields[key]) if key in fields else None
        if problem is not None:
            return problem
    return None


def _prior_problem(prior: Any) -> str | None:
    """Why a sidecar's latent_prior is not {"mean": [...], "std": [...]} of finite numbers, stds above 0."""
    if not isinstance(prior, dict) or set(prior) != {"mean", "std"}:
        return "latent_prior must have a 'mean' and a 'std' list, nothing else"
    mean, std = prior["mean"], prior["std"]
    if not (isinstance(mean, list) and isinstance(std, list) and 1 <= len(mean) == len(std) <= MAX_LATENT):
        return f"latent_prior's mean and std must be lists of equal length, 1 to {MAX_LATENT:,} numbers"
    if not all(_finite(v) for v in mean + std) or min(std) <= 0:
        return "latent_prior's mean and std must be finite numbers, and the stds above 0"
    return None


def _entries_problem(meta: dict) -> str | None:
    """Why the free-form entries do not have their types (text, or a section of entries), or None."""
    for key in _TEXT_ENTRIES:
        if key in meta and not isinstance(meta[key], str):
            return f"the entry {key!r} must be text (got {_short(meta[key])})"
    for key in _SECTION_ENTRIES:
        if key in meta and not isinstance(meta[key], dict):
            return f"the entry {key!r} must be a section of entries (got {_short(meta[key])})"
    return None


def _check_calibrations(entries: Any, name: str) -> None:
    """The out-of-class calibrations (igc_core.verdict): a list of them, each readable."""
    from .verdict import Calibration

    if not isinstance(entries, list) or len(entries) > 100:
        raise CheckpointError(f"{name}: 'calibrations' must be a list of calibrations (got {_short(entries)})")
    for entry in entries:
        try:
            Calibration.from_dict(entry)
        except ValueError as exc:
            raise CheckpointError(f"{name}: an out-of-class calibration is invalid ({exc})") from None


def _check_metrics(metrics: dict, name: str) -> None:
    """The measured figures the code reads: the OOC thresholds (positive finite distances, per noise level) and
    the search they were measured with."""
    from .search import SearchConfig

    threshold = metrics.get("ooc_threshold")
    if threshold is not None and not (_finite(threshold) and threshold > 0):
        raise CheckpointError(f"{name}: the OOC threshold must be a finite distance above 0 (got {_short(threshold)})")
    by_sigma = metrics.get("ooc_thresholds_by_sigma")
    if by_sigma is not None:
        if not isinstance(by_sigma, dict):
            raise CheckpointError(f"{name}: ooc_thresholds_by_sigma must map noise levels to thresholds (got {_short(by_sigma)})")
        for sigma, value in by_sigma.items():
            try:
                level = float(sigma)
            except ValueError:
                level = math.nan
            if not (math.isfinite(level) and level >= 0 and _finite(value) and value > 0):
                raise CheckpointError(f"{name}: ooc_thresholds_by_sigma needs noise levels of 0 or more and thresholds above 0 "
                                      f"(got {_short(sigma)}: {_short(value)})")
    measured_with = metrics.get("ooc_threshold_search")
    if measured_with is not None:
        # the settings of a search some earlier igc ran: settings it no longer has are kept, known ones typed
        problem = (_field_problem(measured_with, SearchConfig, "search", unknown_ok=True) if isinstance(measured_with, dict)
                   else f"not a list of settings: {_short(measured_with)}")
        if problem is not None:
            raise CheckpointError(f"{name}: the search the OOC threshold was measured with is invalid ({problem})")


def check_writable(path: str | Path) -> None:
    """Refuse, before any work, an output path whose files cannot be written (read-only, under a file, ...)."""
    for target in paths(path):
        check_writable_file(target)


def check_writable_file(target: str | Path) -> None:
    """Refuse, before any work, one output file (a report, an image) that could not be written: its folder cannot
    be made or written into, or a folder sits where the file would go (CheckpointError)."""
    target = Path(target).expanduser()
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
    that a trained model is never lost; the fallback's location is printed. `path` keeps what it held before.

    The fallback (in the home folder, else the temporary folder) gets a new name nobody can predict, its two files
    created exclusively first, so a file or link planted there beforehand is never written through."""
    try:
        return save(model, path, meta, half)
    except (OSError, SafetensorError) as exc:
        for folder in (Path.home(), Path(tempfile.gettempdir())):
            try:
                fallback = _new_pair(folder, f"igc-rescued-{Path(path).name.replace('.', '_') or 'model'}-{time.strftime('%Y%m%d-%H%M%S')}-")
                try:
                    weights = save(model, fallback, meta, half)
                except BaseException:
                    for file in paths(fallback):
                        file.unlink(missing_ok=True)
                    raise
            except (OSError, SafetensorError):
                continue
            print(f"igc: could not save to {path} ({exc}); saved the model to {weights} instead", file=sys.stderr)
            return weights
        raise CheckpointError(f"could not save the model to {path} ({exc}) nor to a fallback folder") from None


def _new_pair(folder: Path, prefix: str) -> Path:
    """A path whose .safetensors and .json files this call has just created, empty and exclusively (O_EXCL,
    unpredictable names as tempfile.mkstemp makes them)."""
    for _ in range(100):
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=".safetensors", dir=folder)
        os.close(fd)
        weights = Path(name)
        try:
            os.close(os.open(weights.with_suffix(".json"), os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600))
        except FileExistsError:
            weights.unlink(missing_ok=True)
            continue
        return weights.with_suffix("")
    raise FileExistsError(f"no free name for a rescued model in {folder}")


def load(path: str | Path | None = None, device: str = "cpu") -> tuple[torch.nn.Module, dict]:
    """Load a checkpoint (the shipped default when `path` is None): returns the model in eval mode and its sidecar."""
    weights, sidecar = paths(path if path is not None else DEFAULT_MODEL)
    meta = read_meta(weights)
    try:
        files.regular_size(weights, "weights file")  # a link to /dev/zero or a FIFO would be read forever
    except files.FileRefused as exc:
        raise CheckpointError(str(exc)) from None
    if meta.get("weights_sha256") and _sha256(weights) != meta["weights_sha256"]:
        raise CheckpointError(
            f"{weights.name} does not match its sidecar (checksum differs): the file is truncated, corrupt or from another model"
        )
    # Compare the sidecar's model with the shapes in the safetensors header before allocating anything: a
    # sidecar that claims absurd sizes is refused with a message instead of exhausting memory.
    build, expected = _builder(KINDS[meta["kind"]], meta, sidecar.name)
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
    if isinstance(model, Generator):
        if not (model.prior_std > 0).all():
            raise CheckpointError(f"{weights.name}: the latent prior's standard deviations must be positive")
        prior = meta.get("latent_prior")
        if prior is not None and not all(
            len(prior[key]) == len(stored) and torch.allclose(torch.tensor(prior[key], dtype=torch.float32), stored, rtol=1e-6, atol=0)
            for key, stored in (("mean", model.prior_mean), ("std", model.prior_std))
        ):
            raise CheckpointError(f"{sidecar.name}: its latent_prior is not the prior stored with the weights: the sidecar "
                                  "does not describe these weights")
    model.eval()
    return model.to(device), meta


def _builder(kind: ModelKind, meta: dict, sidecar_name: str):
    """A function that builds the (untrained) model the sidecar describes, and the shapes of its tensors
    (from a model built on the meta device, which allocates nothing)."""
    try:
        config = kind.config(**meta["model"])
        expected = model_shapes(kind, config)
    except (TypeError, KeyError, ValueError, RuntimeError, OverflowError) as exc:
        raise CheckpointError(f"{sidecar_name}: invalid model description ({exc})") from None
    return (lambda: kind.model(config)), expected


def model_shapes(kind: ModelKind, config: Any, max_parameters: int | None = None) -> dict:
    """The tensors (name -> meta tensor: shape, no data) of a `kind` model of `config`, built on the meta device,
    which allocates nothing; refuses (ValueError) a model too large to describe, or of over `max_parameters`
    (training passes MAX_PARAMETERS; a file to load is compared with its own tensors' shapes instead)."""
    for name, value in dataclasses.asdict(config).items():
        values = value if isinstance(value, (list, tuple)) else [value]
        if any(_whole(v) and abs(v) > MAX_WHOLE_NUMBER for v in values):
            raise ValueError(f"{name} {_short(value)} is beyond any model (at most {MAX_WHOLE_NUMBER:,})")
    try:
        with torch.device("meta"):
            shapes = kind.model(config).state_dict()
    except (RuntimeError, OverflowError, MemoryError) as exc:
        raise ValueError(f"the model is too large to build ({str(exc).splitlines()[0][:200]})") from None
    count = sum(t.numel() for t in shapes.values())
    if max_parameters is not None and count > max_parameters:
        raise ValueError(f"the model would have {count:,} parameters ({4 * count / 2**30:,.1f} GiB of float32): "
                         f"more than igc trains (at most {max_parameters:,}); choose smaller sizes")
    return shapes


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


def load_generator(path: str | Path | None = None, device: str = "cpu") -> tuple[Generator, dict]:
    """`load`, refusing a checkpoint that is not a generator (the CNN baseline, say) with a message."""
    weights, _ = paths(path if path is not None else DEFAULT_MODEL)
    kind = read_meta(weights)["kind"]
    if not KINDS[kind].generator:
        generators = ", ".join(name for name, k in KINDS.items() if k.generator)
        raise CheckpointError(f"{weights.name} is a {kind} classifier, not a generator: IGC needs a checkpoint of {generators}")
    return load(weights, device)


def load_classifier(path: str | Path, device: str = "cpu"):
    """`load` for the CNN baseline, refusing a generator with a message."""
    weights, _ = paths(path)
    kind = read_meta(weights)["kind"]
    if KINDS[kind].generator:
        raise CheckpointError(f"{weights.name} is a {kind} generator, not the CNN baseline")
    return load(weights, device)


def set_metric(path: str | Path | None, key: str, value, note: dict | None = None) -> None:
    """Record a measured figure (such as the OOC threshold) in a checkpoint's sidecar; a figure the schema
    refuses (a non-finite threshold) is refused before anything is written, so the model keeps loading."""
    update_sidecar(path, lambda meta: {**meta, "metrics": {**meta.get("metrics", {}), key: value, **(note or {})}})


def update_sidecar(path: str | Path | None, change) -> dict:
    """Change a checkpoint's sidecar by `change(meta) -> meta`, checked by the schema before anything is written,
    and written whole or not at all (a temporary file beside it, then renamed): a full disk or a refused value
    leaves the old sidecar, so the model keeps loading. Returns the new sidecar."""
    _, sidecar = paths(path if path is not None else DEFAULT_MODEL)
    meta = check_sidecar(change(read_meta(sidecar)), sidecar.name)
    write_atomically(sidecar, (json.dumps(meta, indent=2, allow_nan=False) + "\n").encode())
    return meta


write_atomically = files.write_atomically  # whole or not at all; known from this module too


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
