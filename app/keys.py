"""The search's keys (Space, →, ←, Esc, Return; Page Down / Page Up in a lesson) act whatever has the focus.

Qt gives a key to the focused widget first: after typing in a spin box, Space went into the box (and
blanked it) and → moved its text cursor. `KeyRouter` watches the key presses of the window and of every
widget in it that can take the focus, and sends these keys to the window's handlers instead, unless the
user is typing free text (a line edit that is not part of a spin box), a popup or a dialog is open, or a
modifier is held. A number being typed in a spin box is committed first, so Return runs the search with
the value just typed. (It watches those widgets only, not the whole application: a Python filter on every
event would take the interpreter lock from the search many hundreds of times a second.)
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QLineEdit, QPlainTextEdit, QTextEdit, QWidget

KEYS = {
    Qt.Key.Key_Space: "play",
    Qt.Key.Key_Right: "step",
    Qt.Key.Key_Left: "back",
    Qt.Key.Key_Escape: "stop",
    Qt.Key.Key_Return: "run",
    Qt.Key.Key_Enter: "run",
    Qt.Key.Key_PageDown: "next",  # a lesson's next step (a presentation clicker sends these two)
    Qt.Key.Key_PageUp: "previous",
}
REPEATABLE = {"step", "back"}


def typing_text(widget: QWidget | None) -> bool:
    """Whether keys typed into `widget` are text the user is writing (not a number in a spin box)."""
    if isinstance(widget, (QTextEdit, QPlainTextEdit)):
        return not widget.isReadOnly()
    if isinstance(widget, QLineEdit):
        parent = widget.parentWidget()
        return not isinstance(parent, QAbstractSpinBox) and not widget.isReadOnly()
    return False


class KeyRouter(QObject):
    """An application event filter that routes the search keys of `window` to `handlers[name]()`."""

    def __init__(self, window: QWidget, handlers: dict[str, Callable[[], object]]):
        super().__init__(window)
        self.window = window
        self.handlers = handlers
        self.enabled = True

    def watch(self, root: QWidget) -> None:
        """Filter `root` and every widget under it that can take the focus (call once the widgets exist)."""
        for w in [root, *root.findChildren(QWidget)]:
            if w is root or w.focusPolicy() != Qt.FocusPolicy.NoFocus:
                w.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:  # camelCase: Qt's name
        if event.type() != QEvent.Type.KeyPress or not self.enabled or not isinstance(obj, QWidget):
            return False
        name = KEYS.get(event.key())
        if name is None or obj.window() is not self.window:
            return False
        mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
        if mods != Qt.KeyboardModifier.NoModifier:
            return False
        if QApplication.activePopupWidget() is not None:
            return False
        modal = QApplication.activeModalWidget()
        if modal is not None and modal is not self.window:
            return False
        focus = QApplication.focusWidget()
        if typing_text(focus):
            return False
        if event.isAutoRepeat() and name not in REPEATABLE:
            event.accept()
            return True
        spin = focus if isinstance(focus, QAbstractSpinBox) else None
        if spin is None and isinstance(focus, QLineEdit) and isinstance(focus.parentWidget(), QAbstractSpinBox):
            spin = focus.parentWidget()
        if spin is not None:
            spin.interpretText()  # commit what was typed (it emits valueChanged when it changed)
            if name == "stop":
                self.window.setFocus()  # Esc also leaves the box
        event.accept()
        self.handlers[name]()
        return True
