"""The package as a user installs it: a wheel that carries its models and works from any folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        pytest.fail(f"pip wheel failed:\n{done.stdout}\n{done.stderr}")
    (found,) = out.glob("igc-*.whl")
    return found


def test_the_wheel_carries_the_models_and_samples(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for asset in ("default.safetensors", "default.json", "cnn.safetensors", "cnn.json", "cgan.safetensors", "cgan.json", "samples/7.png"):
        assert f"igc_core/assets/{asset}" in names
    assert not any(n.startswith("assets/") or n.startswith("tests/") for n in names)


def test_installed_wheel_classifies_from_an_unrelated_folder(wheel, tmp_path):
    target, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    sample = elsewhere / "seven.png"
    sample.write_bytes((ROOT / "assets" / "samples" / "7.png").read_bytes())
    env = {**os.environ, "PYTHONPATH": str(target), "IGC_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "igc_core", "classify", "seven.png", "--json", "--threads", "1"],
                          cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout.splitlines()[-1])
    assert record["label"] == 7
    where = subprocess.run([sys.executable, "-c", "import igc_core.checkpoints as c; print(c.DEFAULT_MODEL)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120).stdout
    assert where.startswith(str(target))  # the model came from the installed package, not this checkout
