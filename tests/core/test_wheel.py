"""The package as a user installs it: the built wheel, installed with its dependencies into a virtual
environment of its own, runs both entry points from an unrelated folder.

Every other test runs inside the editable install, which quietly supplies any package the wheel forgets (it
once forgot `app.panels`, and `igc-app` did not start). Here nothing of the checkout is on the path: the
wheel is built from a copy of the source, installed into a venv that never saw the checkout, and run from an
empty folder.

The venv's dependencies (torch, PySide6, ...) take about a minute to install, so the venv is kept between runs
in the temporary folder, keyed by this checkout, the Python version and the wheel's requirements; each run
reinstalls only the wheel (`--force-reinstall --no-deps`: the previous copy is removed file by file, so no
stale module survives) and `pip check`s that its requirements are met. torch is installed first, on its own,
as scripts/setup.sh does ($IGC_TORCH, $IGC_TORCH_INDEX).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "assets" / "samples" / "7.png"
JUNK = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "runs", "screenshots")


def _run(args: list, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, **kw)


def _check(done: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    if done.returncode != 0:
        pytest.fail(f"{what} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def _source_copy(target: Path) -> Path:
    """The files a clean clone has (tracked, or new and not ignored), copied: building in the checkout would
    leave build/ there, and a stale build/lib could slip a deleted module into the wheel."""
    listed = _run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"], timeout=60) \
        if shutil.which("git") else None
    if listed is None or listed.returncode != 0:  # not a git checkout: copy all but the usual junk
        shutil.copytree(ROOT, target, ignore=shutil.ignore_patterns(*JUNK))
        return target
    for name in filter(None, listed.stdout.split("\0")):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = _source_copy(tmp_path_factory.mktemp("source") / "igc")
    out = tmp_path_factory.mktemp("wheel")
    _check(_run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, source]), "pip wheel")
    (found,) = out.glob("igc-*.whl")
    return found


def _requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        (name,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        lines = z.read(name).decode().splitlines()
    return sorted(line for line in lines if line.startswith("Requires-Dist:") and "extra ==" not in line)


@pytest.fixture(scope="module")
def installed(wheel) -> Path:
    """A venv holding the wheel and its dependencies, and nothing of this checkout: its folder."""
    torch = os.environ.get("IGC_TORCH", "torch==2.13.0")
    index = os.environ.get("IGC_TORCH_INDEX")
    key = hashlib.sha256(json.dumps([str(ROOT), sys.version, torch, index, _requirements(wheel)]).encode()).hexdigest()
    home = Path(tempfile.gettempdir()) / f"igc-wheel-venv-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]}"
    env, stamp = home / key[:16], home / key[:16] / "igc-ready"
    python = env / "bin" / "python"
    if not stamp.exists():
        shutil.rmtree(home, ignore_errors=True)  # an unfinished venv, or one for other requirements
        venv.EnvBuilder(with_pip=True, clear=True).create(env)
        _check(_run([python, "-m", "pip", "install", "-q", torch, *(["--index-url", index] if index else [])]),
               "installing torch")
        _check(_run([python, "-m", "pip", "install", "-q", wheel]), "installing the wheel with its dependencies")
        stamp.write_text(key)
    else:
        _check(_run([python, "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", wheel]),
               "reinstalling the wheel")
    _check(_run([python, "-m", "pip", "check"]), "pip check (the wheel's requirements)")
    return env


@pytest.fixture
def elsewhere(tmp_path) -> Path:
    """An unrelated folder holding a sample digit, and an environment with nothing of the checkout."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "seven.png").write_bytes(SAMPLE.read_bytes())
    return folder


def _env(installed: Path, tmp_path: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")}
    return {**keep, "IGC_CACHE": str(tmp_path / "cache"), "QT_QPA_PLATFORM": "offscreen",
            "PYQTGRAPH_QT_LIB": "PySide6", "PATH": f"{installed / 'bin'}{os.pathsep}{keep.get('PATH', '')}"}


def test_the_wheel_carries_the_code_models_and_samples(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for asset in ("default.safetensors", "default.json", "cnn.safetensors", "cnn.json", "cgan.safetensors",
                  "cgan.json", "samples/7.png", "samples/README.md"):
        assert f"igc_core/assets/{asset}" in names
    # every package of the checkout (a folder with an __init__.py under igc_core/ or app/) is in the wheel
    for init in [*ROOT.glob("igc_core/**/__init__.py"), *ROOT.glob("app/**/__init__.py")]:
        assert init.relative_to(ROOT).as_posix() in names
    assert not any(n.startswith(("assets/", "tests/", "scripts/")) for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def test_the_installed_package_is_the_wheel_not_the_checkout(installed, elsewhere, tmp_path):
    probe = ("import json, sys, app, app.main, igc_core, igc_core.checkpoints as c;"
             "print(json.dumps([sys.path, app.__file__, igc_core.__file__, str(c.DEFAULT_MODEL)]))")
    done = _check(_run([installed / "bin" / "python", "-c", probe], cwd=elsewhere, env=_env(installed, tmp_path)),
                  "importing the installed package")
    path, *files = json.loads(done.stdout)
    for file in files:  # the code and the model come from the venv
        assert Path(file).resolve().is_relative_to(installed.resolve()), file
    for entry in path:
        assert not (entry and Path(entry).resolve().is_relative_to(ROOT)), f"the checkout is on the path: {entry}"


def test_igc_classify_runs_from_an_unrelated_folder(installed, elsewhere, tmp_path):
    done = _check(_run(["igc", "classify", "seven.png", "--json", "--threads", "1"], cwd=elsewhere,
                       env=_env(installed, tmp_path)), "igc classify")
    assert json.loads(done.stdout.splitlines()[-1])["label"] == 7


def test_igc_app_answers_help(installed, elsewhere, tmp_path):
    done = _check(_run(["igc-app", "--help"], cwd=elsewhere, env=_env(installed, tmp_path), timeout=120),
                  "igc-app --help")
    assert done.stdout.startswith("usage: igc-app") and "--screenshot" in done.stdout


def test_igc_app_starts_searches_and_saves_a_screenshot(installed, elsewhere, tmp_path):
    """The window comes up offscreen, the engine process (a second interpreter) searches the sample with the
    shipped model, and the window is saved at the size asked for; a failed search would exit 1."""
    from PIL import Image

    shot = tmp_path / "shot.png"
    done = _run(["igc-app", "seven.png", "--run", "--set", "steps=5", "--threads", "1", "--size", "1366x700",
                 "--settings", tmp_path / "settings.json", "--screenshot", shot],
                cwd=elsewhere, env=_env(installed, tmp_path), timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert Image.open(shot).size == (1366, 700)
