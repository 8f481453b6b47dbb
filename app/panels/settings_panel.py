"""The settings panel, built from the one table of fields in `app.settings` (no setting is written out here)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractSpinBox, QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QFrame, QLabel, QPushButton, QScrollArea,
    QSizePolicy, QSpinBox, QToolButton, QVBoxLayout, QWidget,
)

from igc_core import search

from ..model import settings
from ..style import TIPS

CUSTOM = "custom"


class SettingsPanel(QScrollArea):
    """One widget per panel field of `settings.FIELDS`, a preset box matched on the whole config, the model."""

    changed = Signal(str)  # the name of the field that changed (by the user or a preset)
    load_model_clicked = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.editors: dict[str, QWidget] = {}
        self._quiet = False
        body = QWidget()
        col = QVBoxLayout(body)
        col.setContentsMargins(4, 0, 4, 0)
        col.setSpacing(4)
        title = QLabel("<b>Search settings</b>")
        col.addWidget(title)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setVerticalSpacing(4)
        self.preset_box = QComboBox(toolTip=TIPS["preset"])
        self.preset_box.addItems([*search.PRESETS, CUSTOM])
        self.preset_box.currentTextChanged.connect(self._on_preset)
        form.addRow("Preset", self.preset_box)
        col.addLayout(form)
        self._add_fields(form, "search")

        self.advanced_button = QToolButton(text="▸ Advanced", checkable=True, toolTip="Show or hide the less used settings.")
        self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.advanced_button.setStyleSheet("QToolButton { border: none; font-weight: bold; }")
        self.advanced_button.toggled.connect(self.show_advanced)
        col.addWidget(self.advanced_button)
        self.advanced = QWidget()
        adv = QFormLayout(self.advanced)
        adv.setContentsMargins(0, 0, 0, 0)
        adv.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        adv.setVerticalSpacing(4)
        self._add_fields(adv, "advanced")
        self.advanced.hide()
        col.addWidget(self.advanced)

        self.model_label = QLabel("no model")
        self.model_label.setWordWrap(True)
        self.model_label.setToolTip("The generator checkpoint the search inverts.")
        col.addSpacing(6)
        col.addWidget(self.model_label)
        load = QPushButton("Load model…", toolTip="Load another generator checkpoint (.safetensors with its .json sidecar), e.g. a cGAN instead of a CVAE.")
        load.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        load.clicked.connect(self.load_model_clicked)
        col.addWidget(load)
        keys = QLabel("<b>Keys</b> (work whatever has the focus): Space run / pause · Return search again · "
                      "→ one step · ← back · Esc stop · F1 how it works")
        keys.setWordWrap(True)
        keys.setStyleSheet("color: #64748b;")
        col.addSpacing(8)
        col.addWidget(keys)
        col.addStretch(1)
        self.setWidget(body)
        self.setMinimumWidth(210)
        self.set_values(settings.defaults())

    def _add_fields(self, form: QFormLayout, group: str) -> None:
        for f in settings.FIELDS:
            if f.group != group:
                continue
            editor = self._editor(f)
            editor.setToolTip(f.tip)
            self.editors[f.name] = editor
            if f.kind == "bool":
                form.addRow(editor)
            else:
                form.addRow(f.label, editor)

    def _editor(self, f: settings.Field) -> QWidget:
        if f.kind == "int":
            w = QSpinBox(minimum=int(f.minimum), maximum=int(f.maximum), singleStep=int(f.step))
            w.valueChanged.connect(lambda _v, n=f.name: self._on_field(n))
        elif f.kind == "float":
            w = QDoubleSpinBox(decimals=f.decimals, minimum=f.minimum, maximum=f.maximum, singleStep=f.step)
            w.valueChanged.connect(lambda _v, n=f.name: self._on_field(n))
        elif f.kind == "choice":
            w = QComboBox()
            w.addItems(list(f.choices))
            w.currentTextChanged.connect(lambda _v, n=f.name: self._on_field(n))
        elif f.kind == "bool":
            w = QCheckBox(f.label)
            w.toggled.connect(lambda _v, n=f.name: self._on_field(n))
        else:
            raise AssertionError(f"no editor for {f.kind}")
        if isinstance(w, QAbstractSpinBox):
            w.setKeyboardTracking(False)  # a value counts when typed in full (Return or leaving the box)
            w.setAccelerated(True)
        w.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        w.setMinimumWidth(64)  # the panel is narrow: editors shrink instead of being clipped
        return w

    # ------------------------------------------------------------------------------------ values
    def value(self, name: str) -> Any:
        w = self.editors[name]
        if isinstance(w, QSpinBox):
            return int(w.value())
        if isinstance(w, QDoubleSpinBox):
            return round(float(w.value()), settings.BY_NAME[name].decimals)
        if isinstance(w, QComboBox):
            return w.currentText()
        return bool(w.isChecked())

    def values(self) -> dict[str, Any]:
        return {name: self.value(name) for name in self.editors}

    def set_values(self, values: dict[str, Any]) -> None:
        """Show these values (already validated) without emitting `changed` for each."""
        self._quiet = True
        try:
            for name, value in values.items():
                w = self.editors.get(name)
                if w is None:
                    continue
                if isinstance(w, (QSpinBox, QDoubleSpinBox)):
                    w.setValue(value)
                elif isinstance(w, QComboBox):
                    w.setCurrentIndex(max(0, w.findText(str(value))))
                else:
                    w.setChecked(bool(value))
        finally:
            self._quiet = False
        self._sync_preset()

    def search_config(self) -> search.SearchConfig:
        """The panel's search settings as the engine's config (ValueError with a readable message)."""
        return settings.search_config({**settings.defaults(), **self.values()})

    def preset(self) -> str:
        return self.preset_box.currentText()

    def set_preset(self, name: str) -> None:
        self.preset_box.setCurrentText(name)

    def show_advanced(self, on: bool) -> None:
        self.advanced.setVisible(on)
        self.advanced_button.setText(("▾" if on else "▸") + " Advanced")
        if self.advanced_button.isChecked() != on:
            self.advanced_button.setChecked(on)

    def set_encoder_available(self, available: bool) -> None:
        """A cGAN has no encoder to start from: that choice is disabled (and left if chosen)."""
        box: QComboBox = self.editors["init"]
        box.model().item(search.INITS.index("encoder")).setEnabled(available)
        if not available and box.currentText() == "encoder":
            box.setCurrentText("mean")

    # ------------------------------------------------------------------------------------ events
    def _on_field(self, name: str) -> None:
        if self._quiet:
            return
        self._sync_preset()
        self.changed.emit(name)

    def _on_preset(self, name: str) -> None:
        if self._quiet or name not in search.PRESETS:
            return
        self._quiet = True
        try:
            self.set_values(settings.preset_values(name))
        finally:
            self._quiet = False
        self._sync_preset()
        self.changed.emit("preset")

    def _sync_preset(self) -> None:
        """Show the preset the whole configuration equals, else 'custom'."""
        name = settings.preset_of({**settings.defaults(), **self.values()}) or CUSTOM
        self.preset_box.blockSignals(True)
        self.preset_box.setCurrentText(name)
        self.preset_box.blockSignals(False)
