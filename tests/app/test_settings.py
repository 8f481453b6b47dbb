"""Settings: one table of fields, a JSON file read without ever running code, bad files planted and survived."""

import json

import pytest

from app.model import settings
from igc_core import search


def write(path, values):
    path.write_text(json.dumps({"format": settings.FORMAT, "version": 1, "values": values}))


# ------------------------------------------------------------------------------------ the schema (no Qt)


def test_defaults_are_the_default_preset():
    values = settings.defaults()
    config = settings.search_config(values)
    assert config == search.SearchConfig.from_preset(None)
    assert settings.preset_of(values) == search.DEFAULT_PRESET == "robust" and config.precision == "auto"


def test_presets_are_matched_on_the_whole_config():
    paper = {**settings.defaults(), **settings.preset_values("paper")}
    assert settings.preset_of(paper) == "paper"
    # igc and paper differ only in precision: equal fields shown in a panel must not make them equal
    assert settings.preset_of({**paper, "precision": "auto"}) == "igc"
    assert settings.preset_of({**paper, "steps": 99}) is None
    igc = {**settings.defaults(), **settings.preset_values("igc")}
    assert settings.preset_of({**igc, "restarts": 5}) == "igc-parallel"
    assert settings.preset_of({**settings.defaults(), "restarts": 5}) is None  # robust has no parallel preset


def test_every_preset_round_trips_through_the_panel_fields():
    """A preset the panel cannot show (a setting without a field) would silently run another search."""
    for name in search.PRESETS:
        values = {**settings.defaults(), **settings.preset_values(name)}
        assert settings.search_config(values) == search.PRESETS[name]
        assert settings.preset_of(values) == name


def test_bad_values_fall_back_to_the_default_not_the_nearest_bound():
    values, problems = settings.validate({"steps": 10**9, "lr": "fast", "restarts": 0, "dif": "l7", "autorun": 1,
                                          "noise": float("nan"), "window": [100000, -3], "model": "x" * 10000,
                                          "unknown": 3})
    d = settings.defaults()
    for name in ("steps", "lr", "restarts", "dif", "autorun", "noise", "window", "model"):
        assert values[name] == d[name], name
    assert len(problems) == 8 and any("steps 1000000000" in p for p in problems)


def test_a_damaged_file_is_set_aside_and_reset(tmp_path):
    path = tmp_path / "app.json"
    path.write_bytes(b'{"format": "igc-app-settings", "values": {"steps": 3')  # truncated
    loaded = settings.load(path)
    assert loaded.values == settings.defaults() and len(loaded.messages) == 1
    assert "damaged" in loaded.messages[0] and (tmp_path / "app.json.bad").exists() and not path.exists()


def test_a_planted_pickle_never_runs(tmp_path):
    """QSettings unpickled `@Variant` values; our reader is JSON: the planted payload is inert text."""
    import pickle

    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            import os

            return os.system, (f"touch {marker}",)

    blob = pickle.dumps(Payload())
    path = tmp_path / "app.json"
    path.write_bytes(b"[General]\nwindow=@Variant(" + blob + b")\n")
    loaded = settings.load(path)
    assert not marker.exists() and "damaged" in loaded.messages[0]
    write(path, {"model": blob.decode("latin-1"), "steps": {"__reduce__": "os.system"}})
    loaded = settings.load(path)
    assert not marker.exists() and loaded.values["steps"] == settings.defaults()["steps"]


def test_round_trip(tmp_path):
    path = tmp_path / "sub" / "app.json"
    values = {**settings.defaults(), "steps": 77, "lr": 0.0123, "dif": "mse", "window": [1366, 700], "noise": 0.25}
    settings.save(path, values)
    loaded = settings.load(path)
    assert loaded.messages == [] and loaded.values == values


def test_the_panels_search_fields_are_built_from_the_settings_declared_on_searchconfig():
    """Each SearchConfig setting marked for the panel is a field, with its declared words, range and choices."""
    shown = [name for name, s in search.SETTINGS.items() if s.panel]
    assert sorted(settings.CONFIG_FIELDS) == sorted(shown)
    assert {"steps", "lr", "lambda_lr", "restarts", "dif", "precision", "init", "intensity", "seed", "device",
            "threads"} == set(shown)  # what the panel showed before the settings were declared on SearchConfig
    preset = search.PRESETS[search.DEFAULT_PRESET]
    for name in shown:
        f, s = settings.BY_NAME[name], search.SETTINGS[name]
        assert (f.label, f.tip, f.group, f.minimum, f.maximum, f.step, f.decimals) == (
            s.title, s.tip, s.panel, s.minimum, s.maximum, s.step, s.decimals), name
        assert f.default == getattr(preset, name) and f.choices == (s.offered or s.choices), name
        assert f.check(getattr(preset, name)) == getattr(preset, name), name  # the file accepts the preset's value
    assert settings.BY_NAME["device"].choices == ("cpu", "auto", "cuda")


def test_the_panel_shows_one_editor_per_declared_field(qtbot):
    from PySide6.QtWidgets import QComboBox

    from app.panels.settings_panel import SettingsPanel

    panel = SettingsPanel()
    qtbot.addWidget(panel)
    assert set(panel.editors) == {f.name for f in settings.FIELDS if f.group}
    for name in settings.CONFIG_FIELDS:
        editor, s = panel.editors[name], search.SETTINGS[name]
        assert editor.toolTip() == s.tip, name
        if isinstance(editor, QComboBox):
            assert tuple(editor.itemText(i) for i in range(editor.count())) == (s.offered or s.choices), name
    assert panel.search_config() == search.SearchConfig.from_preset(None)


# ------------------------------------------------------------------------------------ the app with planted files


@pytest.mark.parametrize("content", [
    b"\x00\xff garbage",  # not text
    b'{"format": "igc-app-settings", "version": 1, "values": {"window": "@ByteArray(\\x01\\xd9\\xd0\\xcb)"}}',  # bad geometry
    b"[General]\nwindow%5Cgeometry=@ByteArray(\x01\xd9\xd0\xcb\x00\x03)\n",  # an old QSettings ini, truncated
])
def test_bad_settings_files_never_stop_the_app(qtbot, make_window, tiny_model_path, settings_file, content):
    settings_file.write_bytes(content)
    w = make_window(tiny_model_path)
    assert w.session.model is not None and w.settings_panel.preset() == search.DEFAULT_PRESET == "robust"
    assert w.banner.isVisible() and ("damaged" in w.banner.text or "window" in w.banner.text)
    w.close()
    assert settings.load(settings_file).messages == []  # written back clean


def test_bad_numbers_come_back_as_defaults_in_the_panel(qtbot, make_window, tiny_model_path, settings_file):
    write(settings_file, {"steps": -5, "lr": 1e9, "restarts": 1000, "seed": 5})
    w = make_window(tiny_model_path)
    v = w.settings_panel.values()
    assert (v["steps"], v["lr"], v["restarts"], v["seed"]) == (100, 0.001, 1, 5)  # not the spin boxes' bounds


def test_a_remembered_absurd_checkpoint_falls_back_with_a_message(qtbot, make_window, tiny_model_path, settings_file, tmp_path):
    from igc_core import checkpoints

    weights, sidecar = checkpoints.paths(tiny_model_path)
    bad = tmp_path / "absurd.safetensors"
    bad.write_bytes(weights.read_bytes())
    meta = json.loads(sidecar.read_text())
    meta["model"]["latent_dim"] = 10**9
    meta.pop("weights_sha256", None)
    (tmp_path / "absurd.json").write_text(json.dumps(meta))
    write(settings_file, {"model": str(bad)})
    w = make_window(None)
    assert "absurd.safetensors" in w.banner.text
    if checkpoints.DEFAULT_MODEL.exists():
        assert w.session.model is not None and w.model_path is None and "shipped model" in w.banner.text


def test_an_explicit_bad_model_falls_back_too(qtbot, make_window, tmp_path):
    from igc_core import checkpoints

    missing = tmp_path / "nope.safetensors"
    w = make_window(missing)
    assert "nope.safetensors" in w.banner.text
    assert (w.session.model is not None) == checkpoints.DEFAULT_MODEL.exists()


def test_fresh_start_shows_the_default_preset_and_precision(qtbot, make_window, tiny_model_path):
    w = make_window(tiny_model_path)
    assert w.settings_panel.preset() == "robust" and w.settings_panel.value("precision") == "auto"
    assert w.search_config() == search.SearchConfig.from_preset(None)


def test_choosing_a_preset_then_a_field_never_flips_to_another_preset(qtbot, make_window, tiny_model_path):
    from conftest import set_field

    w = make_window(tiny_model_path)
    w.settings_panel.set_preset("igc")
    set_field(w, "steps", 50)
    assert w.settings_panel.preset() == "custom"
    set_field(w, "steps", 100)
    assert w.settings_panel.preset() == "igc"  # not 'paper', which differs in precision
    set_field(w, "precision", "fp32")
    assert w.settings_panel.preset() == "paper"
    w.settings_panel.set_preset("igc-parallel")
    assert w.settings_panel.value("restarts") == 5 and w.settings_panel.value("precision") == "auto"
