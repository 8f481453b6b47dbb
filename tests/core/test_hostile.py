"""Hostile inputs and bad luck on the engine and command-line side (issue 19): sidecars, caches, special files,
full disks (a mocked write), signals. Each case ends in a clear message and a non-zero exit, or a documented
behaviour; nothing the user had before a failing command is changed by it, and nothing blocks."""

from __future__ import annotations

import errno
import gzip
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from igc_core import checkpoints, files, runtime
from igc_core.checkpoints import CheckpointError
from igc_core.cli import main
from igc_core.data import DataError, read_idx

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--epochs", "1", "--latent", "4", "--hidden", "16,16", "--quiet"]


def _no_hang(call, seconds: float = 20.0):
    """Run `call` in a thread and fail (instead of hanging the suite) if it blocks; returns its exception or value."""
    outcome = {}

    def run():
        try:
            outcome["value"] = call()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail("blocked: a special file must be refused, not read")
    return outcome.get("error", outcome.get("value"))


@pytest.fixture
def saved(tmp_path, tiny_model):
    path = tmp_path / "m"
    checkpoints.save(tiny_model, path, {"command": "test", "metrics": {"ooc_threshold": 0.1}})
    return path


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp") or p.name.startswith(".igc-write-test"))


# ------------------------------------------------------------------------------------------ hostile sidecars


def _edit(meta: dict, **changes) -> str:
    return json.dumps({**meta, **changes})


SIDECARS = [
    # (what, make the sidecar's text from the good sidecar, message)
    ("100,000 hidden widths", lambda m: _edit(m, model={**m["model"], "hidden": [8] * 100_000}), "hidden has 100000 entries"),
    ("over 1 MB", lambda m: _edit(m, command="x" * (2 << 20)), "too large for a sidecar"),
    ("nested past the recursion limit", lambda m: '{"a":' * 100_000 + "1" + "}" * 100_000, "nests too deeply"),
    ("nested 40 levels in metrics", lambda m: _edit(m, metrics={"deep": json.loads("[" * 40 + "]" * 40)}), "nests too deeply"),
    ("1,000 restarts recommended", lambda m: _edit(m, search={"restarts": 1000}), "restarts 1000 is outside its range"),
    ("a billion steps recommended", lambda m: _edit(m, search={"steps": 10**9}), "steps must be a whole number"),
    ("steps as text", lambda m: _edit(m, search={"steps": "abc"}), "steps must be a whole number"),
    ("lr as text", lambda m: _edit(m, search={"lr": "fast"}), "lr must be a finite number"),
    ("metrics as a list", lambda m: _edit(m, metrics=[0.1]), "'metrics' must be a section of entries"),
    ("a latent of 10^40", lambda m: _edit(m, model={**m["model"], "latent_dim": 10**40}), "beyond any model"),
    ("not JSON", lambda m: "{not json", "not valid JSON"),
]


@pytest.mark.parametrize("what, make, message", SIDECARS, ids=[s[0] for s in SIDECARS])
def test_hostile_sidecars_are_refused_with_a_message(saved, what, make, message):
    sidecar = saved.with_suffix(".json")
    sidecar.write_text(make(json.loads(sidecar.read_text())))
    with pytest.raises(CheckpointError, match=message):
        checkpoints.load_generator(saved)


def test_hostile_sidecar_in_the_cli_is_one_line(saved, tmp_path, capsys):
    sidecar = saved.with_suffix(".json")
    sidecar.write_text('{"a":' * 100_000 + "1" + "}" * 100_000)
    assert main(["classify", str(tmp_path / "x.png"), "--model", str(saved)]) == 2
    err = capsys.readouterr().err
    assert "nests too deeply" in err and "Traceback" not in err and "RecursionError" not in err


@pytest.mark.parametrize("which", ["sidecar", "weights"])
@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_special_files_as_a_checkpoint_are_refused_without_blocking(saved, tmp_path, which, special):
    target = saved.with_suffix(".json" if which == "sidecar" else ".safetensors")
    target.unlink()
    if special == "fifo":
        os.mkfifo(target)
    else:
        target.symlink_to("/dev/zero")
    error = _no_hang(lambda: checkpoints.load_generator(saved))
    assert isinstance(error, CheckpointError)
    assert ("named pipe" if special == "fifo" else "a device") in str(error)


# ----------------------------------------------------------------------------------------- work never lost


def _old_pair_loads(path: Path, marker: str = "test") -> None:
    _, meta = checkpoints.load(path)
    assert meta["command"] == marker


def test_a_sidecar_that_cannot_be_replaced_keeps_the_old_pair(saved, tiny_model, monkeypatch):
    real = os.replace

    def refuse_sidecar(src, dst, *a, **k):
        if str(dst).endswith("m.json"):
            raise PermissionError(errno.EACCES, "Permission denied", str(dst))
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", refuse_sidecar)
    with pytest.raises(PermissionError):
        checkpoints.save(tiny_model.train(), saved, {"command": "new"})
    monkeypatch.setattr(os, "replace", real)
    _old_pair_loads(saved)
    assert _leftovers(saved.parent) == []


def test_a_full_disk_while_saving_keeps_the_old_pair(saved, tiny_model, monkeypatch):
    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoints, "save_file", full)
    with pytest.raises(OSError, match="No space"):
        checkpoints.save(tiny_model, saved, {"command": "new"})
    _old_pair_loads(saved)
    assert _leftovers(saved.parent) == []


def test_a_full_disk_while_updating_the_sidecar_keeps_it_whole(saved, monkeypatch):
    """`igc evaluate --save-threshold` on a full disk: the sidecar is not cut short, the model keeps loading."""
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        checkpoints.set_metric(saved, "ooc_threshold", 0.25)
    monkeypatch.undo()
    _, meta = checkpoints.load(saved)
    assert meta["metrics"]["ooc_threshold"] == 0.1
    assert _leftovers(saved.parent) == []


def test_the_rescue_copy_gets_a_new_name_and_never_writes_through_a_planted_link(tiny_model, tmp_path, monkeypatch):
    home, temp, victim = tmp_path / "home", tmp_path / "tmp", tmp_path / "victim.txt"
    home.write_text("x")  # the home folder cannot be written either (a file: even root cannot write into it)
    temp.mkdir()
    victim.write_text("precious")
    monkeypatch.setattr(Path, "home", lambda: home)
    monkeypatch.setattr(checkpoints.tempfile, "tempdir", str(temp))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for name in (f"igc-rescued-m-{stamp}.json", f"igc-rescued-m-{stamp}.safetensors"):  # the old, predictable names
        (temp / name).symlink_to(victim)
    (tmp_path / "afile").write_text("x")
    weights = checkpoints.save_or_rescue(tiny_model, tmp_path / "afile" / "m", {"command": "rescued"})
    assert weights.parent == temp and weights.name.startswith("igc-rescued-m-")
    assert victim.read_text() == "precious"
    _old_pair_loads(weights, "rescued")


def test_train_over_a_model_whose_sidecar_fails_keeps_the_old_model(tiny_data_dir, saved, monkeypatch, tmp_path, capsys):
    real = os.replace

    def refuse_sidecar(src, dst, *a, **k):
        if Path(dst) == saved.with_suffix(".json"):
            raise PermissionError(errno.EACCES, "Permission denied", str(dst))
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", refuse_sidecar)
    (tmp_path / "home").mkdir()
    monkeypatch.setattr(Path, "home", lambda: tmp_path / "home")
    assert main(["train", "--model", "cvae", "--data", str(tiny_data_dir), "--out", str(saved), "--check", "0", *TINY]) == 0
    assert "saved the model to" in capsys.readouterr().err
    monkeypatch.setattr(os, "replace", real)
    _old_pair_loads(saved)  # the model that was there still loads
    rescued = next((tmp_path / "home").glob("igc-rescued-m-*.safetensors"))
    checkpoints.load(rescued)


def test_ctrl_c_during_the_final_check_keeps_the_trained_model(tiny_data_dir, tmp_path, monkeypatch, capsys):
    from igc_core.commands import train

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "quick_igc_accuracy", interrupted)
    out = tmp_path / "m"
    assert main(["train", "--model", "cvae", "--data", str(tiny_data_dir), "--out", str(out), *TINY]) == 130
    assert "the trained model is saved" in capsys.readouterr().err
    model, meta = checkpoints.load(out)
    assert meta["command"].startswith("igc train") and model.latent_dim == 4


def test_the_check_figures_reach_the_sidecar_after_saving(tiny_data_dir, tmp_path):
    out = tmp_path / "m"
    assert main(["train", "--model", "cvae", "--data", str(tiny_data_dir), "--out", str(out), "--check", "8", *TINY]) == 0
    _, meta = checkpoints.load(out)
    assert "igc_accuracy_first_8_test" in meta["metrics"]


@pytest.mark.parametrize("command", [
    ["attack", "--images", "2", "--json", "{bad}/r.json"],
    ["attack", "--images", "2", "--examples", "{bad}/ex"],
    ["evaluate", "--limit", "4", "--json", "{bad}/r.json"],
    ["evaluate", "--limit", "4", "--json", "{folder}"],
    ["bench", "--images", "4", "--json", "{bad}/r.json"],
])
def test_outputs_are_checked_before_the_work(saved, tiny_data_dir, tmp_path, monkeypatch, capsys, command):
    from igc_core import evaluate, robustness

    (tmp_path / "afile").write_text("x")
    for module, name in ((robustness, "run_suite"), (evaluate, "accuracy_table"), (evaluate, "loop_vs_batched")):
        monkeypatch.setattr(module, name, lambda *a, **k: pytest.fail("the work ran before its output was checked"))
    argv = [a.format(bad=tmp_path / "afile", folder=tmp_path) for a in command]
    assert main([*argv, "--model", str(saved), "--data", str(tiny_data_dir), "--quiet"]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_save_metrics_into_a_wrong_typed_card_is_refused_before_the_work(saved, tmp_path, monkeypatch, capsys):
    from igc_core import testsets

    sidecar = saved.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    meta["metrics"]["not_mnist"] = [1, 2]
    sidecar.write_text(json.dumps(meta))
    monkeypatch.setattr(testsets, "build", lambda *a, **k: pytest.fail("the work ran"))
    assert main(["evaluate", "--set", "typeset", "--save-metrics", "--model", str(saved), "--quiet"]) == 2
    assert "not_mnist is not a section" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- training refusals


TRAINING = [
    ("cvae", ["--train-lr", "inf"], "must be finite numbers"),
    ("cvae", ["--train-lr", "1e6"], "at most 1"),
    ("cvae", ["--beta", "nan"], "must be finite numbers"),
    ("cvae", ["--contrast", "nan"], "must be finite numbers"),
    ("cvae", ["--latent-scale", "inf"], "latent_scale must be a positive finite number"),
    ("cvae", ["--limit", "1"], "too few images"),
    ("cvae", ["--hidden", "100000,100000"], "parameters"),
    ("cvae", ["--latent", str(10**40)], "beyond any model"),
    ("cgan-mlp", ["--latent-scale", "inf"], "latent_scale must be a positive finite number"),
    ("cgan-mlp", ["--train-lr", "1e6"], "at most 1"),
    ("cgan-conv", ["--latent-scale", "inf"], "latent_scale must be a positive finite number"),
    ("cgan-conv", ["--train-lr", "1e6"], "at most 1"),
    ("cgan-conv", ["--latent", str(10**40)], "beyond any model"),
]


@pytest.mark.parametrize("kind, options, message", TRAINING, ids=[f"{k} {' '.join(o)[:30]}" for k, o, _ in TRAINING])
def test_absurd_training_settings_are_refused_before_training(tiny_data_dir, tmp_path, monkeypatch, capsys, kind, options,
                                                             message):
    from igc_core import model_kinds

    monkeypatch.setattr(model_kinds, "train", lambda *a, **k: pytest.fail("trained with absurd settings"))
    sizes = ["--channels", "8,4", "--d-channels", "4,8"] if kind == "cgan-conv" else ["--hidden", "16,16"]
    sizes = [] if "--hidden" in options else sizes
    code = main(["train", "--model", kind, "--data", str(tiny_data_dir), "--out", str(tmp_path / "m"), "--quiet",
                 *sizes, *options])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "m.safetensors").exists()


def test_an_init_of_the_other_task_is_refused(tiny_data_dir, tmp_path, capsys):
    if not checkpoints.TWO_DIGIT_MODEL.exists():
        pytest.skip("assets/two-digit is not present")
    assert main(["train", "--model", "cvae", "--init", str(checkpoints.TWO_DIGIT_MODEL), "--data", str(tiny_data_dir),
                 "--out", str(tmp_path / "m"), "--quiet"]) == 2
    assert "--task digit continues a model of 1 label(s) drawing 28x28 images" in capsys.readouterr().err
    assert main(["train", "--model", "cvae", "--task", "two-digit", "--init", str(checkpoints.DEFAULT_MODEL),
                 "--data", str(tiny_data_dir), "--out", str(tmp_path / "n"), "--quiet"]) == 2
    assert "--task two-digit continues a model of 2 label(s) drawing 28x56 images" in capsys.readouterr().err


def test_a_diverging_training_stops_with_a_message(tiny_data_dir, tmp_path, monkeypatch, capsys):
    from igc_core import model_kinds

    def diverged(*a, **k):
        raise FloatingPointError("the training loss loss became nan at epoch 1: lower the learning rate (--train-lr)")

    monkeypatch.setattr(model_kinds, "train", diverged)
    assert main(["train", "--model", "cvae", "--data", str(tiny_data_dir), "--out", str(tmp_path / "m"), *TINY]) == 2
    err = capsys.readouterr().err
    assert "training stopped" in err and "Traceback" not in err and not (tmp_path / "m.safetensors").exists()


@pytest.mark.parametrize("kind", ["cvae", "cgan-mlp", "cgan-conv"])
def test_every_trainer_stops_at_the_first_non_finite_loss(kind):
    from igc_core import gan, model_kinds
    from igc_core.data import Dataset
    from igc_core.generators import GeneratorConfig

    images = np.full((64, 28, 28), np.nan, np.float32)  # float images: NaN pixels reach the losses
    data = Dataset(images, np.arange(64) % 10, "nan")
    if kind == "cgan-conv":
        config, train = gan.GANConfig(latent_dim=4, channels=(8, 4), d_channels=(4, 8)), gan.GANTrainConfig(epochs=1, batch_size=32)
    else:
        config = GeneratorConfig(kind=kind, latent_dim=4, hidden=(16,), encoder_hidden=(16,))
        train = model_kinds.KINDS[kind].train_config(epochs=1, batch_size=32)
    with pytest.raises(FloatingPointError, match="became nan at epoch 1"):
        model_kinds.train(config, data, train)


# --------------------------------------------------------------------------------- data, images, special files


def _idx_header(shape) -> bytes:
    return bytes([0, 0, 0x08, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)


def test_a_gzip_bomb_is_refused_by_its_header(tmp_path):
    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    bomb.write_bytes(gzip.compress(_idx_header((10, 28, 28)) + bytes(20 << 20)))  # 20 MB more than promised
    with pytest.raises(DataError, match="more than 7840 data bytes"):
        read_idx(bomb)
    huge = tmp_path / "huge.gz"
    huge.write_bytes(gzip.compress(_idx_header((4_000_000_000, 28, 28))))
    with pytest.raises(DataError, match="more than igc reads"):
        read_idx(huge)


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
def test_special_files_as_data_or_images_are_refused_without_blocking(tmp_path, special):
    from igc_core.data import load_dataset
    from igc_core.framing import load_image

    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "x.png"):
        if special == "fifo":
            os.mkfifo(folder / name)
        else:
            (folder / name).symlink_to("/dev/zero")
    for call in (lambda: load_dataset(folder, "test", download=False), lambda: load_image(folder / "x.png")):
        error = _no_hang(call)
        assert isinstance(error, DataError) and ("named pipe" in str(error) or "a device" in str(error))


def test_mnist_downloads_are_https_only(tmp_path):
    from igc_core import data

    assert all(m.startswith("https://") for m in data.MNIST_MIRRORS)
    assert all(len(digest) == 64 for digest in data.MNIST_FILES.values())  # SHA-256
    with pytest.raises(DataError, match="not https"):
        data.download_mnist(tmp_path / "d", mirrors=("http://example.invalid/",))


# ------------------------------------------------------------------------------------------- the runtime cache


def _timings(calls):
    def fake(generator, rows, device):
        calls.append(rows)
        return {"fp32": 0.010, "bf16": 0.004}

    return fake


CACHES = [
    ("nested past the recursion limit", lambda key: "[" * 100_000 + "]" * 100_000),
    ("nested 40 levels", lambda key: json.dumps({key: json.loads("[" * 40 + "]" * 40)})),
    ("implausible timings", lambda key: json.dumps({key: {"fp32": 1e9, "bf16": 1e-9}})),
    ("an absurd ratio", lambda key: json.dumps({key: {"fp32": 0.5, "bf16": 0.0001}})),
    ("wrong types", lambda key: json.dumps({key: {"fp32": "fast", "bf16": [1]}})),
    ("not a dict", lambda key: json.dumps([1, 2, 3])),
    ("over 1 MB", lambda key: json.dumps({"pad": "x" * (2 << 20)})),
]


@pytest.mark.parametrize("what, make", CACHES, ids=[c[0] for c in CACHES])
def test_a_hostile_cache_is_measured_again(tiny_model, monkeypatch, tmp_path, what, make):
    monkeypatch.setenv("IGC_CACHE", str(tmp_path))
    monkeypatch.setattr(runtime, "native_bf16", lambda: (True, "test"))
    monkeypatch.setattr(runtime, "cpu_name", lambda: "test CPU")
    key = "|".join(("test CPU", f"torch {torch.__version__}", runtime._model_signature(tiny_model), "rows 64"))
    (tmp_path / "runtime.json").write_text(make(key))
    calls = []
    monkeypatch.setattr(runtime, "_calibrate", _timings(calls))
    assert runtime.choose_precision(tiny_model, 64, torch.device("cpu")).precision == "bf16"
    assert calls == [64]  # measured again, not trusted
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("trouble", ["folder", "fifo", "full disk"])
def test_an_unusable_cache_never_fails_and_leaves_nothing_behind(tiny_model, monkeypatch, tmp_path, trouble):
    monkeypatch.setenv("IGC_CACHE", str(tmp_path))
    monkeypatch.setattr(runtime, "native_bf16", lambda: (True, "test"))
    if trouble == "folder":
        (tmp_path / "runtime.json").mkdir()
    elif trouble == "fifo":
        os.mkfifo(tmp_path / "runtime.json")
    else:
        monkeypatch.setattr(os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left")))
    calls = []
    monkeypatch.setattr(runtime, "_calibrate", _timings(calls))
    choice = _no_hang(lambda: runtime.choose_precision(tiny_model, 64, torch.device("cpu")))
    assert isinstance(choice, runtime.PrecisionChoice) and calls == [64]
    if trouble == "fifo":  # never read; the new cache takes its place
        assert choice.precision == "bf16" and (tmp_path / "runtime.json").is_file()
    else:  # a choice that cannot be remembered would flip between runs on timing noise: fp32, the repeatable one
        assert choice.precision == "fp32" and "cannot be written" in choice.reason
    assert _leftovers(tmp_path) == []


def test_the_precision_is_chosen_once_per_process(tiny_model, monkeypatch, tmp_path):
    monkeypatch.setenv("IGC_CACHE", str(tmp_path))
    monkeypatch.setattr(runtime, "native_bf16", lambda: (True, "test"))
    calls = []
    monkeypatch.setattr(runtime, "_calibrate", _timings(calls))
    first = runtime.choose_precision(tiny_model, 100, torch.device("cpu"))
    (tmp_path / "runtime.json").write_text("{}")  # the cache vanishes (another process, a clean-up)
    again = runtime.choose_precision(tiny_model, 100, torch.device("cpu"))
    assert first == again and calls == [128]


# ---------------------------------------------------------------------------------------------- smaller ones


def test_classify_json_never_prints_infinity(saved, tmp_path, monkeypatch, capsys):
    from igc_core import search as search_module
    from igc_core.framing import save_digit_png

    real = search_module.search

    def infinite(*a, **k):
        result = real(*a, **k)
        result.distances[:] = np.inf
        result.ooc[:] = np.inf
        return result

    monkeypatch.setattr(search_module, "search", infinite)
    from synthetic import synthetic_digits

    save_digit_png(synthetic_digits(1)[0][0] / 255.0, tmp_path / "x.png")
    main(["classify", str(tmp_path / "x.png"), "--model", str(saved), "--steps", "2", "--json", "--quiet"])
    line = capsys.readouterr().out.strip()
    record = json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert record["ooc"] is None and "null_because" in record


def test_evaluate_says_when_searches_diverged(saved, tiny_data_dir, capsys):
    assert main(["evaluate", "--model", str(saved), "--data", str(tiny_data_dir), "--limit", "4", "--sigmas", "0",
                 "--restarts", "1", "--cnn", "none", "--lr", "100", "--steps", "20", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "diverged" in out and "-0.00" not in out


@pytest.mark.parametrize("command, message", [
    (["evaluate", "--sigmas", "-0.2"], "must be 0 or more"),
    (["evaluate", "--fid", "--model", str(checkpoints.TWO_DIGIT_MODEL)], "single-digit generators"),
])
def test_evaluate_refuses_what_it_cannot_measure(tiny_data_dir, saved, capsys, command, message):
    if "--model" not in command:
        command = [*command, "--model", str(saved)]
    elif not checkpoints.TWO_DIGIT_MODEL.exists():
        pytest.skip("assets/two-digit is not present")
    assert main([*command, "--data", str(tiny_data_dir), "--quiet"]) == 2
    assert message in capsys.readouterr().err


def test_list_valued_metrics_never_reach_attack(saved, tiny_data_dir, capsys):
    sidecar = saved.with_suffix(".json")
    meta = json.loads(sidecar.read_text())
    meta["metrics"] = {"ooc_threshold_search": [1, 2]}
    sidecar.write_text(json.dumps(meta))
    assert main(["attack", "--model", str(saved), "--data", str(tiny_data_dir), "--images", "2", "--quiet"]) == 2
    assert "measured with is invalid" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------- signals


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_signal_to_bench_ends_its_busy_neighbour(saved, tiny_data_dir, tmp_path, sig):
    env = {**os.environ, "IGC_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "igc_core", "bench", "--model", str(saved), "--data", str(tiny_data_dir),
                             "--images", "4", "--matrix", "--neighbour", "busy", "--steps", "1000000", "--quiet"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        children = []
        while not children and time.monotonic() < deadline and proc.poll() is None:
            children = [c for c in _children(proc.pid) if "getppid" in Path(f"/proc/{c}/cmdline").read_text(errors="replace")]
            time.sleep(0.2)
        assert children, "the busy neighbour never started"
        proc.send_signal(sig)
        proc.wait(timeout=60)
        deadline = time.monotonic() + 30
        while any(_alive(c) for c in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(c) for c in children), "the busy neighbour outlived the benchmark"
        if sig == signal.SIGTERM:
            assert proc.returncode == 143 and "stopped by SIGTERM" in proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_signal_handlers_are_restored_after_a_command(saved, tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    main(["classify", str(tmp_path / "missing.png"), "--model", str(saved), "--quiet"])
    assert signal.getsignal(signal.SIGTERM) == before


def test_files_depth_counts_without_recursion():
    deep = []
    for _ in range(100_000):
        deep = [deep]
    assert files.depth(deep, limit=32) == 33
