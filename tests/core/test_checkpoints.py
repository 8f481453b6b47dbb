"""Checkpoints: safetensors + JSON sidecar round trip, and clear refusals of bad files."""

from __future__ import annotations

import json

import pytest
import torch

from igc_core import checkpoints
from igc_core.checkpoints import CheckpointError


@pytest.fixture
def saved(tiny_model, tmp_path):
    with torch.no_grad():
        tiny_model.prior_mean.fill_(0.25)
    checkpoints.save(tiny_model, tmp_path / "m", {"command": "igc train --model cvae", "metrics": {"ooc_threshold": 0.12}})
    return tmp_path / "m"


def test_round_trip_keeps_weights_prior_and_metadata(tiny_model, saved):
    model, meta = checkpoints.load(saved.with_suffix(".safetensors"))
    for key, value in tiny_model.state_dict().items():
        assert torch.equal(value, model.state_dict()[key])
    assert torch.allclose(model.prior_mean, torch.full((4,), 0.25))
    assert meta["kind"] == "cvae" and meta["model"]["latent_dim"] == 4
    assert meta["latent_prior"]["mean"] == [0.25] * 4
    assert meta["command"] == "igc train --model cvae"
    assert checkpoints.recommended_threshold(meta) == 0.12
    assert not model.training
    # any of the three spellings finds the pair
    for spelling in (saved, saved.with_suffix(".json")):
        assert checkpoints.load(spelling)[1]["kind"] == "cvae"


def test_missing_files(saved, tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        checkpoints.load(tmp_path / "absent.safetensors")
    saved.with_suffix(".json").unlink()
    with pytest.raises(CheckpointError, match="no sidecar"):
        checkpoints.load(saved)


def _edit_sidecar(saved, **changes) -> dict:
    """Rewrite the sidecar without its checksum (so the weights file itself is what gets judged)."""
    meta = json.loads(saved.with_suffix(".json").read_text())
    meta.pop("weights_sha256", None)
    for key, value in changes.items():
        meta["model"][key] = value
    saved.with_suffix(".json").write_text(json.dumps(meta))
    return meta


def test_truncated_or_corrupt_weights(saved):
    weights = saved.with_suffix(".safetensors")
    weights.write_bytes(weights.read_bytes()[:300])
    with pytest.raises(CheckpointError, match="truncated, corrupt"):
        checkpoints.load(saved)
    # without a checksum to compare, the safetensors reader itself refuses
    _edit_sidecar(saved)
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        checkpoints.load(saved)


def test_a_pickle_is_never_loaded(saved):
    torch.save({"x": torch.zeros(3)}, saved.with_suffix(".safetensors"))
    _edit_sidecar(saved)
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        checkpoints.load(saved)


def test_weights_that_do_not_fit_the_sidecar(saved):
    _edit_sidecar(saved, latent_dim=5)
    with pytest.raises(CheckpointError, match="shape"):
        checkpoints.load(saved)
    _edit_sidecar(saved, hidden=[32])
    with pytest.raises(CheckpointError, match="does not fit.*(missing|unexpected)"):
        checkpoints.load(saved)


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "not valid JSON"),
        ('{"format": "something-else"}', "not an igc checkpoint"),
        ('{"format": "igc-checkpoint", "version": 99}', "version"),
        ('{"format": "igc-checkpoint", "version": 1, "kind": "vqgan"}', "unknown model kind"),
        ('{"format": "igc-checkpoint", "version": 1, "kind": "cvae", "model": {"latent_dim": -3}}', "invalid model description"),
        ('{"format": "igc-checkpoint", "version": 1, "kind": "cvae", "model": {"colour": 1}}', "invalid model description"),
    ],
)
def test_bad_sidecars(saved, text, message):
    saved.with_suffix(".json").write_text(text)
    with pytest.raises(CheckpointError, match=message):
        checkpoints.load(saved)


def test_non_finite_weights_are_refused(tiny_model, tmp_path):
    with torch.no_grad():
        tiny_model.decoder.out.bias[0] = float("nan")
    checkpoints.save(tiny_model, tmp_path / "nan", {})
    with pytest.raises(CheckpointError, match="non-finite"):
        checkpoints.load(tmp_path / "nan")


def test_the_shipped_default_loads_and_describes_itself(default_model):
    model, meta = default_model
    assert meta["kind"] in ("cvae", "cgan") and meta["command"].startswith("igc train")
    assert meta["dataset"]["name"] == "mnist"
    assert model.num_classes == 10 and model.image_shape == (28, 28)
    assert checkpoints.DEFAULT_MODEL.stat().st_size < 12_000_000  # float16; the per-class heads are most of it
