"""Lessons: a demo written down as steps (an input, the settings, the tab, a caption) that the app walks through with
Page Down / Page Up (a presentation clicker sends these keys). No Qt here: the file is read and checked, and every
mistake is a ValueError that names the step and the field.

A lesson file is JSON, either a list of steps or {"title": ..., "steps": [...]}. A step:

    {"caption": "Draw a 7 and press Space",            required: what the class reads under the verdict
     "input": {"file": "../assets/samples/7.png"},     or {"mnist": 92}, or {"clear": true}; absent: the input stays
     "settings": {"restarts": 5, "lambda_lr": 0.3},    over the settings the lesson started with (so Page Up is exact)
     "tab": "latent",                                  distances, why, latent, compare, attack
     "grid": "differences",                            images (default) or differences
     "run": true}                                      search once the step is shown (default: true with an input)

A file path is read relative to the lesson file's folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from . import settings

TABS = ("distances", "why", "latent", "compare", "attack")  # the result tabs, in their order on screen
GRID_MODES = ("images", "differences")
STEP_KEYS = {"caption", "input", "settings", "tab", "grid", "run"}
MAX_STEPS = 200


@dataclass(frozen=True)
class LessonStep:
    caption: str
    input: tuple[str, object] | None = None  # ("file", Path) | ("mnist", int) | ("clear", True); None: keep
    settings: dict = field(default_factory=dict)
    tab: str | None = None
    grid: str = "images"
    run: bool = False


@dataclass(frozen=True)
class Lesson:
    title: str
    steps: tuple[LessonStep, ...]
    path: Path | None = None


def load_lesson(path: str | Path) -> Lesson:
    """Read and check a lesson file; ValueError saying what is wrong and where."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read the lesson {path}: {exc.strerror or exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the lesson {path.name} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    return parse_lesson(doc, path.parent, name=path.name, path=path)


def parse_lesson(doc, folder: Path, name: str = "lesson", path: Path | None = None) -> Lesson:
    """A lesson from its JSON document; relative input files are looked up in `folder`."""
    title = name
    if isinstance(doc, dict):
        unknown = set(doc) - {"title", "steps"}
        if unknown:
            raise ValueError(f"{name}: unknown field {sorted(unknown)[0]!r} (a lesson has 'title' and 'steps')")
        title = doc.get("title", name)
        if not isinstance(title, str):
            raise ValueError(f"{name}: 'title' must be text")
        doc = doc.get("steps")
    if not isinstance(doc, list) or not doc:
        raise ValueError(f"{name}: a lesson is a list of steps (or {{'title': ..., 'steps': [...]}}) with at least one step")
    if len(doc) > MAX_STEPS:
        raise ValueError(f"{name}: at most {MAX_STEPS} steps")
    return Lesson(title, tuple(_step(s, k + 1, folder, name) for k, s in enumerate(doc)), path)


def _step(raw, number: int, folder: Path, name: str) -> LessonStep:
    where = f"{name}, step {number}"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: a step is an object with a 'caption' (and input, settings, tab, grid, run)")
    unknown = set(raw) - STEP_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown field {sorted(unknown)[0]!r} (a step has {', '.join(sorted(STEP_KEYS))})")
    caption = raw.get("caption")
    if not isinstance(caption, str) or not caption.strip():
        raise ValueError(f"{where}: every step needs a 'caption' (the text the class reads)")
    source = _input(raw.get("input"), where, folder)
    values = raw.get("settings", {})
    if not isinstance(values, dict):
        raise ValueError(f"{where}: 'settings' is an object of NAME: VALUE")
    checked = {}
    for key, value in values.items():
        f = settings.BY_NAME.get(key)
        if f is None or key in ("window", "maximized", "model", "input_dir", "output_dir"):
            raise ValueError(f"{where}: unknown setting {key!r}")
        try:
            checked[key] = f.check(value)
        except ValueError as exc:
            raise ValueError(f"{where}: setting {key}={value!r}: {exc}") from None
    tab = raw.get("tab")
    if tab is not None and tab not in TABS:
        raise ValueError(f"{where}: 'tab' is one of {', '.join(TABS)} (got {tab!r})")
    grid = raw.get("grid", "images")
    if grid not in GRID_MODES:
        raise ValueError(f"{where}: 'grid' is images or differences (got {grid!r})")
    run = raw.get("run", source is not None and source[0] != "clear")
    if not isinstance(run, bool):
        raise ValueError(f"{where}: 'run' is true or false")
    return LessonStep(caption.strip(), source, checked, tab, grid, run)


def _input(raw, where: str, folder: Path) -> tuple[str, object] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or len(raw) != 1:
        raise ValueError(f"{where}: 'input' is one of {{\"file\": PATH}}, {{\"mnist\": INDEX}}, {{\"clear\": true}}")
    (kind, value), = raw.items()
    if kind == "file":
        if not isinstance(value, str):
            raise ValueError(f"{where}: the input file is a path")
        path = (folder / value).resolve()
        if not path.is_file():
            raise ValueError(f"{where}: the input file {value} does not exist (looked for {path})")
        return "file", path
    if kind == "mnist":
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{where}: an MNIST index is a whole number from 0")
        return "mnist", value
    if kind == "clear":
        return "clear", True
    raise ValueError(f"{where}: unknown input {kind!r} (file, mnist or clear)")
