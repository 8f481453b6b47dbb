"""Issue 19: no model can lock the app out. A model that fails to load (by the one sidecar schema or later,
while the window switches to it) leaves the window on its previous model, working, with a message; it is never
remembered; at start a remembered model that no longer loads falls back to the shipped one; a sidecar's
recommended search settings are applied through the panel's fields, never clamped."""

import json
import shutil

import pytest

from app.model import settings, two_digit
from igc_core import checkpoints

from conftest import draw_one, fast_settings, run_and_wait


def hostile_copy(src, folder, name, search):
    for suffix in (".safetensors", ".json"):
        shutil.copy(src.with_suffix(suffix), folder / f"{name}{suffix}")
    meta = json.loads((folder / f"{name}.json").read_text())
    meta["search"] = search
    (folder / f"{name}.json").write_text(json.dumps(meta))
    return folder / name


@pytest.mark.parametrize("search", [{"steps": "abc"}, {"lr": "fast"}, {"steps": 10**9}, {"dif": "evil"},
                                    {"restarts": 10**6}, {"steps": float("nan")}, ["steps"]])
def test_a_hostile_sidecar_leaves_the_window_on_its_model_and_is_not_remembered(
        qtbot, make_window, tiny_model_path, tmp_path, settings_file, search):
    bad = hostile_copy(tiny_model_path, tmp_path, "bad", search)
    w = make_window(tiny_model_path)
    model, title = w.session.model, w.windowTitle()
    assert not w.load_model(str(bad))
    assert "Cannot load the model" in w.banner.text and "previous model stays" in w.banner.text
    assert w.session.model is model and w.model_path == str(tiny_model_path) and w.windowTitle() == title
    draw_one(qtbot, w.input_panel.canvas)
    fast_settings(w, steps=3)
    assert run_and_wait(qtbot, w).steps_done == 3
    w.close()
    assert json.loads(settings_file.read_text())["values"]["model"] == str(tiny_model_path)


def test_a_model_that_fails_while_the_window_switches_is_undone(qtbot, make_window, tiny_model_path, tmp_path,
                                                               settings_file, monkeypatch):
    other = hostile_copy(tiny_model_path, tmp_path, "other", {})
    w = make_window(tiny_model_path)
    model = w.session.model
    real = w.result_panel.latent.set_latent_dim
    calls = []

    def fails_once(dim):
        calls.append(dim)
        if len(calls) == 1:
            raise RuntimeError("a widget refused the model")
        real(dim)

    monkeypatch.setattr(w.result_panel.latent, "set_latent_dim", fails_once)
    assert not w.load_model(str(other))
    assert "a widget refused the model" in w.banner.text
    assert w.session.model is model and w.model_path == str(tiny_model_path)
    assert "tiny" in w.settings_panel.model_label.text()
    draw_one(qtbot, w.input_panel.canvas)
    fast_settings(w, steps=3)
    assert run_and_wait(qtbot, w).steps_done == 3
    w.close()
    assert json.loads(settings_file.read_text())["values"]["model"] == str(tiny_model_path)


@pytest.mark.parametrize("where", ["remembered", "--model"])
def test_a_model_that_no_longer_loads_at_start_falls_back(qtbot, make_window, tiny_model_path, tmp_path,
                                                         settings_file, where):
    bad = hostile_copy(tiny_model_path, tmp_path, "bad", {"steps": "abc"})
    if where == "remembered":
        settings.save(settings_file, {**settings.defaults(), "model": str(bad)})
        w = make_window(None)
    else:
        w = make_window(bad)
    assert "Cannot load the model" in w.banner.text and "steps must be a whole number" in w.banner.text
    if checkpoints.DEFAULT_MODEL.exists():
        assert w.session.model is not None and w.model_path is None and "shipped model" in w.banner.text
    w.close()
    assert json.loads(settings_file.read_text())["values"]["model"] == ""


def test_recommended_settings_go_through_the_panels_fields():
    values, problems = settings.recommended({"dif": "bce", "restarts": 1000, "steps": 500_000, "score": "loss"})
    assert values == {"dif": "bce"}
    assert any("restarts 1000" in p and "outside 1-64" in p for p in problems)
    assert any("steps 500000" in p for p in problems)
    assert any("score" in p and "does not change" in p for p in problems)
    refused = []
    assert two_digit.recommended_values({"search": {"restarts": 1000}}, {"restarts": 1}, refused) == {}
    assert refused and "not applied" in refused[0]
    assert settings.recommended("not a section") == ({}, [])


def test_a_two_digit_model_recommending_1000_restarts_is_refused_not_clamped(qtbot, make_window, tiny_model_path, tmp_path):
    """The one sidecar schema (checkpoints.check_sidecar, as the CLI applies it) refuses a recommendation beyond the
    setting's range: the window says so and keeps its model and settings (once it was silently clamped to 64)."""
    import torch

    from igc_core.generators import ConditionalGenerator, GeneratorConfig

    torch.manual_seed(0)
    config = GeneratorConfig(latent_dim=4, hidden=(16,), encoder_hidden=(16,), num_classes=20, labels=(10, 10),
                             image_size=28, image_width=56)
    path = checkpoints.save(ConditionalGenerator(config).eval(), tmp_path / "two",
                            {"command": "test", "search": {"dif": "bce", "restarts": 1000}})
    w = make_window(tiny_model_path)
    restarts = w.settings_panel.value("restarts")
    assert not w.load_model(str(path)) and not w.two_digit
    assert w.settings_panel.value("restarts") == restarts  # not 64
    assert "restarts" in w.banner.text and "1000" in w.banner.text
