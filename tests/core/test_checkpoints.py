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
    assert meta["kind"] in ("cvae", "cgan-mlp", "cgan-conv") and meta["command"].startswith("igc train")
    assert meta["dataset"]["name"] == "mnist"
    assert model.num_classes == 10 and model.image_shape == (28, 28)
    assert checkpoints.DEFAULT_MODEL.stat().st_size < 12_000_000  # float16; the per-class heads are most of it


def test_absurd_sizes_are_refused_before_allocating(saved):
    import tracemalloc

    _edit_sidecar(saved, latent_dim=10**9, hidden=[10**6, 10**6])
    tracemalloc.start()
    with pytest.raises(CheckpointError, match="does not describe these weights|does not fit"):
        checkpoints.load(saved)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50e6  # the sizes were compared with the safetensors header, nothing was built


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"latent_dim": "16"}, "latent_dim must be a whole number"),
        ({"hidden": ["a", 3]}, "hidden must be a list of whole numbers"),
    ],
)
def test_wrongly_typed_sizes_get_a_clear_message(saved, changes, message):
    _edit_sidecar(saved, **changes)
    with pytest.raises(CheckpointError, match=message):
        checkpoints.load(saved)


def test_a_sidecar_without_a_model_entry(saved):
    meta = json.loads(saved.with_suffix(".json").read_text())
    del meta["model"]
    saved.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="no model description"):
        checkpoints.load(saved)


def test_a_classifier_is_not_a_generator(tmp_path):
    from igc_core.baseline import CNNClassifier, CNNConfig

    checkpoints.save(CNNClassifier(CNNConfig(channels=(2, 2), hidden=4)), tmp_path / "cnn", {})
    with pytest.raises(CheckpointError, match="cnn classifier, not a generator"):
        checkpoints.load_generator(tmp_path / "cnn")


def test_unwritable_outputs_are_refused_before_work(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(CheckpointError, match="is a file"):
        checkpoints.check_writable(tmp_path / "afile" / "model")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if not __import__("os").access(ro, __import__("os").W_OK):  # root ignores permissions
            with pytest.raises(CheckpointError, match="cannot"):
                checkpoints.check_writable(ro / "sub" / "model")
    finally:
        ro.chmod(0o700)
    checkpoints.check_writable(tmp_path / "new" / "deeper" / "model")  # creatable: fine


def test_a_failed_save_is_rescued(tiny_model, tmp_path, monkeypatch, capsys):
    real = checkpoints.save
    target = tmp_path / "gone" / "model"

    def failing(model, path, meta, half=False):
        if str(path) == str(target):
            raise OSError(28, "No space left on device")
        return real(model, path, meta, half)

    monkeypatch.setattr(checkpoints, "save", failing)
    monkeypatch.setattr(checkpoints.Path, "home", staticmethod(lambda: tmp_path))
    weights = checkpoints.save_or_rescue(tiny_model, target, {"command": "test"})
    assert weights.exists() and weights.parent == tmp_path and "rescued" in weights.name
    assert str(weights) in capsys.readouterr().err
    assert checkpoints.load(weights)[0].latent_dim == tiny_model.latent_dim


def test_thresholds_per_noise_level_are_interpolated():
    meta = {"metrics": {"ooc_threshold": 0.07, "ooc_thresholds_by_sigma": {"0": 0.07, "0.2": 0.09, "0.4": 0.15}}}
    assert checkpoints.recommended_threshold(meta) == 0.07
    assert checkpoints.recommended_threshold(meta, 0.2) == pytest.approx(0.09)
    assert checkpoints.recommended_threshold(meta, 0.3) == pytest.approx(0.12)
    assert checkpoints.recommended_threshold(meta, 0.5) == pytest.approx(0.15)  # beyond the measured: the nearest
    assert checkpoints.recommended_threshold({"metrics": {"ooc_threshold": float("nan")}}) is None
    assert checkpoints.recommended_threshold({"metrics": {"ooc_threshold": -1}}) is None


def _set(*keys, value):
    """An edit of the sidecar: the entry at `keys` (a path through its sections) becomes `value`."""

    def edit(meta: dict) -> None:
        section = meta
        for key in keys[:-1]:
            section = section.setdefault(key, {})
        section[keys[-1]] = value

    return edit


NAN = float("nan")


@pytest.mark.parametrize(
    "edit, message",
    [
        # the recommended search (issue 19: a two-digit sidecar with "steps": "abc" locked the app out)
        (_set("search", value={"steps": "abc"}), r"recommends invalid search settings \(steps must be a whole number"),
        (_set("search", value={"lr": "fast"}), "lr must be a finite number"),
        (_set("search", value={"dif": "evil"}), "dif must be one of mae, mse, bce"),
        (_set("search", value={"restarts": 1e6}), "restarts must be a whole number"),
        (_set("search", value={"steps": 10**9}), "steps must be a whole number from 0 to 1,000,000"),
        (_set("search", value={"lambda_lr": NAN}), "lambda_lr must be a finite number"),
        (_set("search", value={"speed": "max"}), "unknown search entries: speed"),
        (_set("search", value=["steps", 5]), "recommends search settings that are not a list of settings"),
        # the model's sizes
        (_set("model", "hidden", value=[8] * 100_000), "hidden has 100000 entries"),
        (_set("model", "latent_dim", value=2**40), "latent_dim 1099511627776 is beyond any model"),
        (_set("model", "latent_dim", value=4.0), "latent_dim must be a whole number"),
        (_set("model", "latent_scale", value=NAN), "latent_scale must be a finite number"),
        (_set("model", "class_heads", value="yes"), "class_heads must be true or false"),
        (_set("model", "activation", value=7), "activation must be text"),
        (_set("model", "colour", value="red"), "unknown model entries: colour"),
        (_set("model", "kind", value="cnn"), "its kind 'cnn' is not the sidecar's 'cvae'"),
        (_set("kind", value=["cvae"]), "unknown model kind"),
        # the latent prior
        (_set("latent_prior", "std", value=[0.0] * 4), "stds above 0"),
        (_set("latent_prior", "mean", value=[NAN] * 4), "must be finite numbers"),
        (_set("latent_prior", value={"mean": [0.0] * 4}), "a 'mean' and a 'std' list"),
        (_set("latent_prior", "mean", value=[0.5] * 4), "not the prior stored with the weights"),
        # measured figures the code reads
        (_set("metrics", "ooc_threshold", value=NAN), "OOC threshold must be a finite distance above 0"),
        (_set("metrics", "ooc_threshold", value="0.1"), "OOC threshold must be a finite distance above 0"),
        (_set("metrics", "ooc_threshold", value=-1), "OOC threshold must be a finite distance above 0"),
        (_set("metrics", "ooc_thresholds_by_sigma", value={"loud": 0.1}), "ooc_thresholds_by_sigma needs noise levels"),
        (_set("metrics", "ooc_thresholds_by_sigma", value={"0.1": float("inf")}), "ooc_thresholds_by_sigma needs"),
        (_set("metrics", "ooc_threshold_search", value={"steps": "many"}), "measured with is invalid .*steps must be a whole"),
        (_set("metrics", value=[0.1]), "'metrics' must be a section of entries"),
        (_set("command", value=5), "'command' must be text"),
    ],
)
def test_hostile_sidecars_are_refused_by_the_loader(saved, edit, message):
    """One schema for every sidecar: what the commands and the app load goes through `load_generator`, which refuses
    wrong types, unknown entries, absurd sizes and non-finite numbers with a message naming the problem."""
    sidecar = saved.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    edit(meta)
    sidecar.write_text(json.dumps(meta))  # NaN and Infinity as Python's json writes them
    with pytest.raises(CheckpointError, match=message) as refused:
        checkpoints.load_generator(saved)
    assert str(refused.value).startswith("m.json")  # the message names the file


def test_the_cli_refuses_a_hostile_search_section_as_the_loader_does(saved, capsys):
    from igc_core.cli import main
    from igc_core.commands.common import model_search

    _set("search", value={"steps": "abc"})(meta := json.loads(saved.with_suffix(".json").read_text()))
    saved.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="steps must be a whole number"):
        model_search(meta)
    assert main(["classify", "--model", str(saved), str(checkpoints.ASSETS / "samples" / "7.png"), "--quiet"]) == 2
    assert "steps must be a whole number" in capsys.readouterr().err


def test_a_recommended_search_that_fits_is_kept(saved):
    _set("search", value={"dif": "bce", "steps": 50})(meta := json.loads(saved.with_suffix(".json").read_text()))
    saved.with_suffix(".json").write_text(json.dumps(meta))
    assert checkpoints.load_generator(saved)[1]["search"] == {"dif": "bce", "steps": 50}


def test_a_figure_the_schema_refuses_is_never_written(saved):
    before = saved.with_suffix(".json").read_text()
    with pytest.raises(CheckpointError, match="OOC threshold"):
        checkpoints.set_metric(saved, "ooc_threshold", float("nan"))
    assert saved.with_suffix(".json").read_text() == before
    checkpoints.set_metric(saved, "ooc_threshold", 0.2)
    assert checkpoints.recommended_threshold(checkpoints.load_generator(saved)[1]) == 0.2
