"""The README's Layout section names every folder of the repository and every module of igc_core/ and app/.

A new module or folder that the Layout does not mention fails here, so the map of the code cannot fall behind it
again (it once listed 9 of 21 engine modules).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def layout_block() -> str:
    """The code block of the README's "## Layout" section."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```", 2)[1]


def tracked_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    run = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    return run.stdout.split()


def test_layout_names_every_module_of_the_engine_and_the_app():
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", layout_block()))
    modules = [Path(f) for f in tracked_files() if f.endswith(".py") and f.split("/")[0] in ("igc_core", "app")]
    assert len(modules) > 40
    missing = [str(m) for m in modules if m.stem != "__init__" and m.stem not in words]
    assert not missing, f"README Layout does not mention: {', '.join(missing)}"


def test_layout_names_every_folder():
    block = layout_block()
    folders = {str(Path(f).parent) for f in tracked_files()} - {"."}
    missing = sorted(d for d in folders if f"{Path(d).name}/" not in block)
    assert not missing, f"README Layout does not mention the folders: {', '.join(missing)}"
