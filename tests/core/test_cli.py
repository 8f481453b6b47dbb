"""The `igc` command end to end: train a tiny model, classify files, report errors plainly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synthetic import synthetic_digits
from igc_core import checkpoints
from igc_core.cli import main
from igc_core.framing import save_digit_png


@pytest.fixture
def trained(tiny_data_dir, tmp_path):
    out = tmp_path / "model"
    code = main(["train", "--model", "cvae", "--data", str(tiny_data_dir), "--out", str(out), "--epochs", "2",
                 "--latent", "4", "--hidden", "32,32", "--check", "16", "--quiet"])
    assert code == 0
    return out


def _pngs(folder, n, seed=3):
    images, labels = synthetic_digits(n, seed=seed)
    paths = []
    for i, image in enumerate(images):
        path = folder / f"img{i:05d}.png"
        save_digit_png(image / 255.0, path)
        paths.append(str(path))
    return paths, labels


def test_train_writes_a_checkpoint_that_records_itself(trained):
    model, meta = checkpoints.load(trained)
    assert meta["command"].startswith("igc train --model cvae")
    assert meta["training"]["epochs"] == 2 and meta["dataset"]["name"] == "tinydata"
    assert "igc_accuracy_first_16_test" in meta["metrics"] and meta["metrics"]["train_seconds"] >= 0
    assert model.latent_dim == 4


def test_train_cgan(tiny_data_dir, tmp_path):
    assert main(["train", "--model", "cgan", "--data", str(tiny_data_dir), "--out", str(tmp_path / "g"), "--epochs", "1",
                 "--latent", "4", "--latent-scale", "0.1", "--channels", "8,4", "--d-channels", "4,8", "--batch-size", "32",
                 "--check", "4", "--half", "--quiet"]) == 0
    model, meta = checkpoints.load(tmp_path / "g")
    assert meta["kind"] == "cgan-conv" and meta["model"]["channels"] == [8, 4] and meta["model"]["latent_scale"] == 0.1
    assert meta["training"]["batch_size"] == 32 and meta["training"]["ema"] == 0.999  # the cgan's own defaults fill the rest
    assert meta["command"].startswith("igc train --model cgan") and "igc_accuracy_first_4_test" in meta["metrics"]
    assert model.latent_dim == 4 and not model.has_encoder


def test_evaluate_fid_prints_a_row_per_class_and_refuses_no_cnn(tiny_data_dir, tmp_path, capsys):
    main(["train", "--model", "cgan", "--data", str(tiny_data_dir), "--out", str(tmp_path / "g"), "--epochs", "1",
          "--latent", "4", "--channels", "8,4", "--d-channels", "4,8", "--batch-size", "32", "--check", "0", "--quiet"])
    capsys.readouterr()
    report = tmp_path / "fid.json"
    assert main(["evaluate", "--fid", "--fid-samples", "8", "--model", str(tmp_path / "g"), "--data", str(tiny_data_dir),
                 "--json", str(report), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "floor (train vs test)" in out and out.count("\n| ") >= 11  # ten classes and their mean
    rows = json.loads(report.read_text())["fid"]["per_class"]
    assert [r["label"] for r in rows] == list(range(10)) and all(r["fid"] >= 0 and r["floor"] >= 0 for r in rows)
    assert main(["evaluate", "--fid", "--model", str(tmp_path / "g"), "--data", str(tiny_data_dir), "--cnn", "none", "--quiet"]) == 2
    assert "CNN" in capsys.readouterr().err


def test_classify_json_lines(trained, tmp_path, capsys):
    paths, _ = _pngs(tmp_path, 3)
    code = main(["classify", *paths, "--model", str(trained), "--steps", "5", "--restarts", "2", "--json", "--threshold", "0.2", "--quiet"])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["file"] for r in lines] == paths
    for r in lines:
        assert set(r) == {"file", "label", "ooc", "ooc_score", "verdict", "out_of_class", "distances"}
        # no calibration in this model's sidecar: a threshold by hand applies to the paper's raw OOC
        assert r["label"] == int(np.argmin(r["distances"])) and r["ooc"] == pytest.approx(min(r["distances"]), abs=1e-6)
        assert r["ooc_score"] == "distance" and r["out_of_class"] == (r["ooc"] > 0.2)
        assert r["verdict"] == ("out of class" if r["out_of_class"] else "in class")


def test_classify_gives_a_verdict_only_for_calibrated_settings(trained, tiny_data_dir, tmp_path, capsys):
    paths, _ = _pngs(tmp_path, 2)
    code = main(["classify", *paths, "--model", str(trained), "--steps", "5", "--json", "--quiet"])
    assert code == 0 and all(json.loads(line)["verdict"] is None for line in capsys.readouterr().out.splitlines())
    assert main(["calibrate", "--model", str(trained), "--data", str(tiny_data_dir), "--digits", "30", "--sigmas", "0",
                 "--steps", "5", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["classify", *paths, "--model", str(trained), "--steps", "5", "--json", "--quiet"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert all(r["verdict"] in ("in class", "uncertain", "out of class") and r["ooc_score"] == "ink" for r in lines)
    # other distance settings: that calibration does not hold, so no verdict, and the text says why
    assert main(["classify", *paths, "--model", str(trained), "--steps", "6", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "in class" not in out and "OUT OF CLASS" not in out and "no out-of-class verdict" in err


def test_classify_text_and_bad_files(trained, tmp_path, capsys):
    paths, _ = _pngs(tmp_path, 1)
    junk = tmp_path / "notes.png"
    junk.write_text("not an image")
    code = main(["classify", paths[0], str(junk), str(tmp_path / "missing.png"), "--model", str(trained), "--steps", "3", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 1  # something was skipped
    assert "label" in out and "notes.png: not an image" in err and "no such file" in err


def test_classify_reports_divergence(trained, tmp_path, capsys):
    paths, _ = _pngs(tmp_path, 2)
    code = main(["classify", *paths, "--model", str(trained), "--steps", "30", "--lr", "50", "--json", "--quiet"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1 and all(r["label"] is None and "diverged" in r["error"] for r in lines)


def test_thousands_of_files_in_one_call(trained, tmp_path, capsys):
    paths, _ = _pngs(tmp_path, 2000)
    assert main(["classify", *paths, "--model", str(trained), "--steps", "1", "--json", "--quiet"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2000


def test_clear_errors_for_bad_models_and_settings(trained, tmp_path, capsys):
    paths, _ = _pngs(tmp_path, 1)
    assert main(["classify", paths[0], "--model", str(tmp_path / "nothing")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert main(["classify", paths[0], "--model", str(trained), "--lr", "-1"]) == 2
    assert "learning rate must be a positive number" in capsys.readouterr().err


@pytest.mark.parametrize(
    "options, message",
    [
        (["--threads", "-2"], "threads must be 1 or more"),
        (["--threshold", "nan"], "a number above 0"),
        (["--threshold", "-1"], "a number above 0"),
        (["--keep-classes", "20", "--prune-step", "2"], "only 10 classes"),
    ],
)
def test_bad_options_get_one_line_messages(trained, tmp_path, capsys, options, message):
    paths, _ = _pngs(tmp_path, 1)
    try:
        code = main(["classify", paths[0], "--model", str(trained), "--steps", "3", "--quiet", *options])
    except SystemExit as exc:  # refused while parsing the arguments
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_classify_refuses_the_cnn_with_a_message(tmp_path, tiny_data_dir, capsys):
    cnn = tmp_path / "cnn"
    assert main(["train", "--model", "cnn", "--data", str(tiny_data_dir), "--out", str(cnn), "--epochs", "1", "--quiet"]) == 0
    paths, _ = _pngs(tmp_path, 1)
    assert main(["classify", paths[0], "--model", str(cnn)]) == 2
    assert "not a generator" in capsys.readouterr().err


def test_train_refuses_an_unwritable_output_at_once(tiny_data_dir, tmp_path, capsys, monkeypatch):
    from igc_core import data

    # refused before loading the data (and so before training): loading them now fails the test
    monkeypatch.setattr(data, "load_dataset", lambda *a, **k: pytest.fail("the data were loaded before the output was checked"))
    (tmp_path / "afile").write_text("x")
    code = main(["train", "--model", "cvae", "--data", str(tiny_data_dir), "--out", str(tmp_path / "afile" / "m"), "--quiet"])
    assert code == 2
    assert "is a file" in capsys.readouterr().err


def test_train_data_option_pointing_at_a_file(tmp_path, capsys):
    (tmp_path / "mnist.gz").write_text("x")
    assert main(["train", "--model", "cvae", "--data", str(tmp_path / "mnist.gz"), "--out", str(tmp_path / "m"), "--quiet"]) == 2
    assert "is a file" in capsys.readouterr().err


def test_an_older_two_digit_sidecar_recommending_bce_still_classifies_under_the_robust_default():
    """The robust default fits the intensity, which BCE cannot: a recommended dif bce turns the fit off (as the
    app does), instead of refusing the search."""
    from igc_core.commands.common import search_config
    from igc_core.search import SearchConfig

    class Args:
        preset = None

    config = search_config(Args(), {"search": {"dif": "bce"}})
    assert config.dif == "bce" and config.intensity == "none" and config.lambda_lr == SearchConfig.from_preset().lambda_lr
    with pytest.raises(ValueError):
        SearchConfig.fitting(None, dif="bce", intensity="affine")  # both named: nothing to give way
