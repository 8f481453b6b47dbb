"""Every setting of the app declared once: one table of fields builds the settings panel, loads and saves the
settings file, and builds the engine's `SearchConfig`. The search's fields are made from the `Setting` each
`SearchConfig` field declares (`igc_core.search`: title, tooltip, range, panel group); only the app's own
settings (autorun, curves, window...) are written here. No Qt here (the panel that renders the table is
`app.panels.settings_panel`), so all of it is tested without a window.

The settings file is plain JSON written by us (never `QSettings`, whose reader unpickles `PyObjectWrapper`
values: a planted value could run code at start-up). Every value is checked against its field; a bad value
falls back to the field's default with a one-line message, a damaged file is set aside and reset, and
nothing in the file can stop the app from starting.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from igc_core import files, search

FORMAT = "igc-app-settings"
VERSION = 1
MAX_TEXT = 4096  # longer strings (paths) in the file are refused
NOISE_MAX = 0.5  # thresholds are measured for sigma 0 ... 0.5 (igc evaluate --ood --save-threshold)


@dataclass(frozen=True)
class Field:
    """One setting: its kind, default, range and the words the panel shows."""

    name: str
    kind: str  # "int", "float", "choice", "bool", "text", "size"
    default: Any
    label: str = ""
    tip: str = ""
    minimum: float | None = None
    maximum: float | None = None
    decimals: int = 0  # float fields are kept rounded to this many decimals (what a spin box can show)
    step: float = 1.0
    choices: tuple[str, ...] = ()
    group: str = ""  # "search" / "advanced": shown in the settings panel; "" = kept but not in the panel
    in_config: bool = False  # a SearchConfig field of the same name

    def check(self, value: Any) -> Any:
        """The value, normalised, or ValueError saying why it does not fit this field."""
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError("not true or false")
            return value
        if self.kind == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError("not a whole number")
            self._check_range(value)
            return value
        if self.kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError("not a number")
            value = round(float(value), self.decimals)
            self._check_range(value)
            return value
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(f"not one of {', '.join(self.choices)}")
            return value
        if self.kind == "text":
            if not isinstance(value, str) or len(value) > MAX_TEXT or "\0" in value:
                raise ValueError("not a short text")
            return value
        if self.kind == "size":
            ok = (isinstance(value, (list, tuple)) and len(value) == 2
                  and all(isinstance(v, int) and not isinstance(v, bool) for v in value))
            if not ok:
                raise ValueError("not a [width, height] pair")
            lo, hi = int(self.minimum or 0), int(self.maximum or 100_000)
            if not all(lo <= v <= hi for v in value):
                raise ValueError(f"outside {lo}-{hi} pixels")
            return [int(value[0]), int(value[1])]
        raise AssertionError(f"unknown field kind {self.kind}")

    def _check_range(self, value: float) -> None:
        if self.minimum is not None and value < self.minimum or self.maximum is not None and value > self.maximum:
            raise ValueError(f"outside {self.minimum:g}-{self.maximum:g}")


_P = search.PRESETS[search.DEFAULT_PRESET]


def _search_field(s: search.Setting) -> Field:
    """The panel field of a SearchConfig setting, from its `Setting` (default: the default preset's value)."""
    choices = s.offered or s.choices
    kind = "choice" if choices else {int: "int", float: "float"}[s.type]
    return Field(s.name, kind, getattr(_P, s.name), s.title, s.tip or s.help, s.minimum, s.maximum, s.decimals, s.step,
                 choices, s.panel, in_config=True)


FIELDS: tuple[Field, ...] = (
    # ---- the search: the SearchConfig fields the panel shows, in the panel's two groups (the rest come from
    # the default preset); everything about them is declared beside the field in igc_core.search
    *(_search_field(s) for group in ("search", "advanced") for s in search.SETTINGS.values() if s.panel == group),
    # ---- the app
    Field("autorun", "bool", False, "Re-run automatically",
          "Search again automatically when a stroke ends, an input is picked or a setting changes.", group="search"),
    Field("curves", "choice", "dif", "Curves show",
          "What the curves plot per class: L_DD, the image distance that decides the class (the paper's\n"
          "score), or the whole loss L = L_DD + λ_LR·L_LR that the search minimises.",
          choices=("dif", "loss"), group="advanced"),
    Field("speed", "choice", "1x", tip="Replay speed (1x: 10 search steps a second; key: one step per keypress).",
          choices=("0.25x", "0.5x", "1x", "2x", "4x", "8x", "key")),
    Field("noise", "float", 0.0, tip="Gaussian noise σ added to the input (the paper's robustness test, Sec. 4.2).",
          minimum=0.0, maximum=NOISE_MAX, decimals=2),
    Field("brush", "int", 22, minimum=4, maximum=60),
    Field("model", "text", ""),
    Field("input_dir", "text", ""),
    Field("output_dir", "text", ""),
    Field("window", "size", [1366, 700], minimum=300, maximum=20_000),
    Field("maximized", "bool", False),
)
BY_NAME = {f.name: f for f in FIELDS}
CONFIG_FIELDS = tuple(f.name for f in FIELDS if f.in_config)


def defaults() -> dict[str, Any]:
    return {f.name: (list(f.default) if isinstance(f.default, list) else f.default) for f in FIELDS}


def validate(values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """All fields, each either its given value (normalised) or its default; messages for what was refused."""
    out, problems = defaults(), []
    for name, value in values.items():
        f = BY_NAME.get(name)
        if f is None:
            continue  # an entry of a newer or older version: ignored
        try:
            out[name] = f.check(value)
        except ValueError as exc:
            problems.append(f"{name} {_short(value)} is {exc}; using {_short(f.default)}")
    try:
        search_config(out)
    except ValueError as exc:  # a combination the engine refuses: the search settings go back to the preset
        problems.append(f"the search settings do not fit together ({exc}); using the {search.DEFAULT_PRESET} preset")
        out.update(preset_values(search.DEFAULT_PRESET))
    return out, problems


def recommended(section: Any) -> tuple[dict[str, Any], list[str]]:
    """The settings-panel values a model's sidecar recommends (its "search" section, already checked by the one
    sidecar schema, `igc_core.checkpoints.check_sidecar`, when the model was loaded), each checked against its
    panel field; the ones refused or not in the panel are said, never clamped or swapped for another value."""
    out: dict[str, Any] = {}
    problems: list[str] = []
    for name, value in (section if isinstance(section, dict) else {}).items():
        f = BY_NAME.get(str(name))
        if f is None or not f.in_config:
            problems.append(f"the model recommends {_short(name)} {_short(value)}, a setting the app does not "
                            "change: not applied")
            continue
        try:
            out[name] = f.check(value)
        except ValueError as exc:
            problems.append(f"the model recommends {name} {_short(value)}, which is {exc}: not applied")
    return out, problems


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ------------------------------------------------------------------------------------------ search


def search_config(values: dict[str, Any]) -> search.SearchConfig:
    """The engine's configuration for these settings (ValueError with a readable message when refused)."""
    return search.SearchConfig.from_preset(None, **{name: values[name] for name in CONFIG_FIELDS})


def preset_values(name: str) -> dict[str, Any]:
    """The search fields of a named preset."""
    config = search.SearchConfig.from_preset(name)
    return {f: getattr(config, f) for f in CONFIG_FIELDS}


def preset_of(values: dict[str, Any]) -> str | None:
    """The preset these settings equal in the whole configuration (not just the fields shown), or None."""
    try:
        return search_config(values).preset_name()
    except ValueError:
        return None


# ------------------------------------------------------------------------------------------ the file


def default_path() -> Path:
    """`$IGC_APP_SETTINGS`, else `$XDG_CONFIG_HOME/igc/app.json` (~/.config/igc/app.json)."""
    return files.user_path("IGC_APP_SETTINGS", "config", "app.json")


@dataclass
class Loaded:
    values: dict[str, Any]
    messages: list[str] = field(default_factory=list)  # one line each, for the banner
    fresh: bool = False  # no settings file existed


def load(path: str | Path) -> Loaded:
    """Read the settings file; never raises. A damaged file is renamed to <name>.bad and the defaults used."""
    path = Path(path)
    if not path.exists():
        return Loaded(defaults(), fresh=True)
    try:
        if path.stat().st_size > 1_000_000:
            raise ValueError("it is far too large")
        doc = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("values"), dict):
            raise ValueError("it is not an igc settings file")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = "it is not valid JSON" if isinstance(exc, json.JSONDecodeError) else str(exc).split("\n")[0]
        kept = _set_aside(path)
        where = f" (kept as {kept.name})" if kept else ""
        return Loaded(defaults(), [f"The settings file {path} was damaged ({reason}) and has been reset{where}."])
    values, problems = validate(doc["values"])
    messages = [f"Settings: {p}." for p in problems[:3]]
    if len(problems) > 3:
        messages.append(f"Settings: {len(problems) - 3} more values were refused and reset.")
    return Loaded(values, messages)


def _set_aside(path: Path) -> Path | None:
    bad = path.with_name(path.name + ".bad")
    try:
        path.replace(bad)
        return bad
    except OSError:
        return None


def save(path: str | Path, values: dict[str, Any]) -> None:
    """Write the settings atomically (a crash mid-write leaves the old file); OSError when it cannot."""
    path = Path(path)
    clean, _ = validate(values)
    doc = {"format": FORMAT, "version": VERSION, "values": clean}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
