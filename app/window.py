"""The main window: panels laid out, menus, dialogs, drag and drop, the message banner and the settings file.

The run itself belongs to the session (`app.model.session.Session`, wired to Qt in `app.qt_session`); the panels
draw its `View`. This class only wires them together and talks to the user (files, messages, keys).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication, QFileDialog, QHBoxLayout, QLabel, QMainWindow, QMessageBox, QVBoxLayout, QWidget,
)

from igc_core import checkpoints, data

from . import about, export, record, style
from .keys import KeyRouter
from .model import settings, two_digit
from .model.lesson import Lesson
from .model.view import View
from .panels.input_panel import SAMPLES, InputPanel
from .panels.settings_panel import SettingsPanel
from .panels.transport import Transport
from .panels.two_digit_panel import TwoDigitPanel
from .qt_session import QtSession
from .result_panel import ElidedLabel, ResultPanel
from .style import TIPS, Banner, apply_theme
from .teaching import Teaching

WELCOME = ("Welcome! Draw a digit in the Input box on the left (or click a digit button under it), then press Space "
           "or ▶ Play to watch the search. F1 explains how IGC works.")
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp *.pgm *.ppm);;All files (*)"
MODEL_FILTER = "igc checkpoints (*.safetensors *.json);;All files (*)"

class _KeepSize:
    """Puts the window's size back after a change of layout (fonts, panels shown or hidden), which Qt would
    otherwise answer by growing the window to the layout's new minimum: a projector's 720 px would be lost."""

    def __init__(self, window: QMainWindow):
        self.window = window

    def __enter__(self) -> None:
        w = self.window
        self.size = None if w.isMaximized() or w.isFullScreen() else w.size()

    def __exit__(self, *_exc) -> None:
        w = self.window
        if self.size is not None and w.size() != self.size:
            layout = w.layout()
            if layout is not None:
                layout.activate()
            w.resize(self.size)


class MainWindow(QMainWindow):
    """Draw a digit and watch the generator find it."""

    result_shown = Signal()  # a run finished and its result is drawn (tests and scripts wait on it)

    def __init__(self, model_path: str | None = None, device: str | None = None, data_dir: str | None = None,
                 image_path: str | None = None, settings_path: str | Path | None = None, load_model: bool = True,
                 persist: bool = True, overrides: dict | None = None, hint: bool = True):
        super().__init__()
        self.settings_path = Path(settings_path) if settings_path else settings.default_path()
        self.persist = persist
        loaded = settings.load(self.settings_path)
        self.values = {**loaded.values, **(overrides or {})}
        self.model_path: str | None = None
        self.session = QtSession(self)
        self.session.view_changed.connect(self._render)
        self.session.run_finished.connect(self._on_finished)
        self.session.run_failed.connect(lambda msg: self.show_message(f"The search failed: {msg}", "error"))
        notice = getattr(self.session.runner, "notice", None)  # the engine is silent (stand-ins in tests have none)
        if notice is not None:
            notice.connect(lambda msg: self.show_message(msg[:1].upper() + msg[1:], "warning"))
        self._auto_timer = QTimer(self, singleShot=True, interval=350)
        self._auto_timer.timeout.connect(self._auto_run)
        self._status_text = ""

        self.setWindowTitle("IGC: draw a digit and watch the generator find it")
        self.setAcceptDrops(True)
        self._build_ui(data_dir)
        self.teaching = Teaching(self.session, self.result_panel, self, self)
        self.presenting = False
        self.lesson: Lesson | None = None  # a lesson being walked through (Page Down / Page Up)
        self.lesson_index = -1
        self._inheriting: list | None = None  # the widgets that take the window's font (presentation mode)
        self._build_actions()
        self.keys = KeyRouter(self, {"play": self.toggle_play, "step": self.single_step, "back": self.scrub_back,
                                     "stop": self.stop_search, "run": self.start_search,
                                     "next": lambda: self.lesson_step(+1), "previous": lambda: self.lesson_step(-1)})
        self.keys.watch(self)
        self._apply_values(device)
        self._size_window(loaded.fresh)
        messages = list(loaded.messages)
        if load_model:
            messages += self._load_startup_model(model_path)
        if image_path:
            self.open_image(image_path)
        if messages:
            self.show_message("\n".join(messages), "warning")
        elif loaded.fresh and hint and not image_path:  # in the narration line, so nothing moves when it goes
            self.transport.set_hint(WELCOME)
        self._render(self.session.view)

    # ================================================================== building
    def _build_ui(self, data_dir: str | None) -> None:
        central = QWidget()
        self.setCentralWidget(central)
        outer = QVBoxLayout(central)
        outer.setContentsMargins(8, 6, 8, 4)
        outer.setSpacing(6)
        self.banner = Banner(central)  # floats over the top of the window: showing it moves nothing
        row = QHBoxLayout()
        row.setSpacing(8)
        self.input_panel = InputPanel(data_dir)
        self.input_panel.edited.connect(self._schedule_auto)
        self.input_panel.edited.connect(lambda: self.transport.set_hint(None))
        self.input_panel.edited.connect(self._render_transport)  # Play may no longer replay: say so at once
        self.input_panel.noise_changed.connect(self.session.set_noise)
        self.input_panel.message.connect(self.show_message)
        self.input_panel.open_button.clicked.connect(self.open_image_dialog)
        self.result_panel = ResultPanel()
        self.result_panel.threshold_dragged.connect(self.session.set_threshold)
        self.result_panel.threshold_reset.connect(lambda: self.session.set_threshold(None))
        self.input_panel.noise_changed.connect(self.result_panel.set_input_sigma)  # the gauge says whose σ it shows
        self.settings_panel = SettingsPanel()
        self.settings_panel.changed.connect(self._on_setting)
        self.settings_panel.load_model_clicked.connect(self.open_model_dialog)
        self.input_panel.setMinimumWidth(245)
        self.input_panel.setMaximumWidth(440)
        self.settings_panel.setFixedWidth(250)
        left = QVBoxLayout()  # the input, and a lesson's caption under it (a lesson in presentation mode)
        left.setSpacing(6)
        left.addWidget(self.input_panel, 1)
        self.lesson_label = QLabel(wordWrap=True, objectName="lesson")
        self.lesson_label.setStyleSheet("#lesson { background: #fff7db; border: 1px solid #d9b84a; border-radius: 6px;"
                                        " padding: 6px; color: #111827; }")
        self.lesson_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.lesson_label.setToolTip("The lesson's caption for this step. Page Down: the next step; Page Up: the previous one.")
        self.lesson_label.hide()
        left.addWidget(self.lesson_label)
        row.addLayout(left, 4)
        row.addWidget(self.result_panel, 11)
        row.addWidget(self.settings_panel, 0)
        # ---- two-digit mode (issue 11): shown instead of the input and result panels (see _set_two_digit)
        self.two_digit = False
        self._saved_values: dict = {}
        self.two_digit_panel = TwoDigitPanel(data_dir)
        self.two_digit_panel.edited.connect(self._schedule_auto)
        self.two_digit_panel.edited.connect(self._render_transport)
        self.two_digit_panel.noise_changed.connect(self.session.set_noise)
        self.two_digit_panel.message.connect(self.show_message)
        self.two_digit_panel.open_button.clicked.connect(self.open_image_dialog)
        self.two_digit_panel.hide()
        row.insertWidget(0, self.two_digit_panel, 15)
        outer.addLayout(row, 1)
        self.transport = Transport()
        self.transport.play.connect(self.toggle_play)
        self.transport.step.connect(self.single_step)
        self.transport.stop.connect(self.stop_search)
        self.transport.reset.connect(self.reset)
        self.transport.scrub.connect(self.session.scrub)
        self.transport.run.connect(lambda: self.start_search())
        self.transport.speed.connect(self.session.set_speed)
        outer.addWidget(self.transport)
        self.status_label = ElidedLabel()  # a long status line is shortened (its tooltip has it all), never widens the window
        self.statusBar().addWidget(self.status_label, 1)
        self._flash_timer = QTimer(self, singleShot=True)
        self._flash_timer.timeout.connect(lambda: self.status_label.setText(self._status_text))

    def _build_actions(self) -> None:
        def action(menu, text, shortcut, slot, tip=""):
            a = QAction(text, self)
            if shortcut:
                a.setShortcut(QKeySequence(shortcut))
            a.setStatusTip(tip)
            a.triggered.connect(slot)
            menu.addAction(a)
            self.addAction(a)
            return a

        m = self.menuBar().addMenu("&File")
        action(m, "Open image…", QKeySequence.StandardKey.Open, self.open_image_dialog, TIPS["open"])
        action(m, "Load model…", "Ctrl+M", self.open_model_dialog, "Load another generator checkpoint")
        action(m, "Load the default model", None, lambda: self.load_model(None), "Load the shipped default generator")
        action(m, "Save results…", QKeySequence.StandardKey.Save, self.save_results_dialog,
               "Save a figure (input, verdict, grid, curves) as PNG, every step as CSV and the run as JSON")
        action(m, "Export animation…", "Ctrl+Shift+S", self.export_animation_dialog,
               "Write the run as an animation (GIF; MP4/WebM with imageio-ffmpeg), one frame per recorded step, "
               "from the recording: no new search")
        m.addSeparator()
        action(m, "Quit", QKeySequence.StandardKey.Quit, self.close)
        m = self.menuBar().addMenu("&Edit")
        action(m, "Undo stroke", QKeySequence.StandardKey.Undo, self.input_panel.canvas.undo, TIPS["undo"])
        action(m, "Clear canvas", QKeySequence.StandardKey.Delete, self.input_panel.clear_canvas, TIPS["clear"])
        m = self.menuBar().addMenu("&Search")
        # the keys themselves are routed by app.keys.KeyRouter (they must work whatever has the focus)
        action(m, "Play / pause\tSpace", None, self.toggle_play, TIPS["play"])
        action(m, "Search again\tReturn", None, self.start_search, "Start a new search of the current input")
        action(m, "Single step\tRight", None, self.single_step, TIPS["step"])
        action(m, "Back one recorded step\tLeft", None, self.scrub_back, "Show the previous recorded step")
        action(m, "Stop\tEsc", None, self.stop_search, TIPS["stop"])
        action(m, "Reset", "Ctrl+R", self.reset, TIPS["reset"])
        action(m, "Use the measured threshold", None, lambda: self.session.set_threshold(None), TIPS["threshold"])
        m.addSeparator()
        for name in settings.search.PRESETS:
            action(m, f"Preset: {name}", None, lambda _=False, n=name: self.settings_panel.set_preset(n), TIPS["preset"])
        m = self.menuBar().addMenu("&View")
        self.presentation_action = action(m, "Presentation mode", "F11", lambda: self.set_presentation(
            not self.presenting), "Large fonts, no settings panel: for a projector (F11 again leaves it)")
        self.presentation_action.setCheckable(True)
        action(m, "Replay the run\tSpace", None, self.session.replay, "Play the recorded run again without searching")
        action(m, "Differences in the grid", "Ctrl+D", lambda: self.session.set_grid_mode(
            "images" if self.session.state.grid_mode == "differences" else "differences"),
               "Show each reconstruction's difference from the input instead of the reconstruction")
        m.addSeparator()
        from .result_panel import TAB_TITLES, TABS

        for i, tab in enumerate(TABS):
            action(m, TAB_TITLES[tab], f"Ctrl+{i + 1}", lambda _=False, t=tab: self.result_panel.show_tab(t))
        m = self.menuBar().addMenu("&Help")
        action(m, "How IGC works", "F1", self.show_help)
        action(m, "About IGC", None, self.show_about)
        action(m, "About Qt", None, QApplication.aboutQt)

    # ================================================================== settings
    def _apply_values(self, device: str | None) -> None:
        v = self.values
        if device:
            v["device"] = device
        self.settings_panel.set_values(v)
        self.input_panel.brush_slider.setValue(v["brush"])
        self.input_panel.canvas.set_brush_size(v["brush"])
        self.input_panel.set_noise(v["noise"])
        self.two_digit_panel.set_noise(v["noise"])  # two-digit mode
        self.input_panel.set_seed(v["seed"])
        self.result_panel.set_planned(v["restarts"], v["steps"])
        self.session.set_curves(v["curves"])
        self.session.set_speed(v["speed"])

    def _size_window(self, fresh: bool) -> None:
        screen = QGuiApplication.primaryScreen()
        avail = screen.availableGeometry() if screen else None
        w, h = self.values["window"] if not fresh else (1500, 950)
        if avail is not None:
            w, h = min(w, avail.width()), min(h, avail.height())
        self.resize(QSize(w, h))
        if self.values["maximized"] and not fresh:
            self.setWindowState(Qt.WindowState.WindowMaximized)

    def current_values(self) -> dict:
        v = dict(self.values)
        v.update(self.settings_panel.values())
        v.update(noise=self.active_input().noise_sigma, brush=self.input_panel.brush_slider.value(), speed=self.session.state.speed,
                 model=self.model_path or "", maximized=self.isMaximized())
        if not self.isMaximized():
            v["window"] = [self.width(), self.height()]
        return v

    def save_settings(self) -> None:
        if self.persist:
            settings.save(self.settings_path, self.current_values())

    def search_config(self):
        return self.settings_panel.search_config()

    def _on_setting(self, name: str) -> None:
        v = self.settings_panel.values()
        self.input_panel.set_seed(v["seed"])
        self.two_digit_panel.set_seed(v["seed"])
        self.result_panel.set_planned(v["restarts"], v["steps"])
        self.session.set_curves(v["curves"])
        self._plan()
        self._render_transport()
        if name not in ("curves", "autorun"):
            self._schedule_auto()

    def _plan(self) -> None:
        """Before a run the grid shows where each class starts, for the settings as they are."""
        try:
            self.session.set_planned(self.search_config())
        except ValueError:
            pass

    # ================================================================== the model
    def _load_startup_model(self, model_path: str | None) -> list[str]:
        """The asked-for or remembered model, else the shipped one; the messages say what happened."""
        wanted = model_path or self.values["model"] or None
        messages = []
        if wanted:
            problem = self._try_load(wanted)
            if problem is None:
                return []
            messages.append(f"Cannot load the model {wanted}: {problem}")
        problem = self._try_load(None)
        if problem is None:
            return [m + "; using the shipped model instead." for m in messages]
        return [m + "." for m in messages] + [
            f"Cannot load the shipped model {checkpoints.DEFAULT_MODEL}: {problem}. "
            "Load a checkpoint with File ▸ Load model… (train one with `igc train`)."]

    def _try_load(self, path: str | None) -> str | None:
        """Load a generator; None when it worked, else the reason in words."""
        try:
            model, meta = checkpoints.load_generator(path, device="cpu")
        except (checkpoints.CheckpointError, OSError, ValueError) as exc:
            return str(exc)
        except Exception as exc:  # a bad file must never stop the app (MemoryError, ...)
            return f"{type(exc).__name__}: {exc}"
        before = (self.session.model, self.session.meta, self.model_path)
        try:
            self._switch_model(model, meta, str(path) if path else None)
        except Exception as exc:
            if before[0] is not None:
                self._switch_model(*before)  # whole: the window is never left half-switched
            else:
                self.model_path = None
            return f"{type(exc).__name__}: {exc}"
        return None

    def _switch_model(self, model, meta: dict, path: str | None) -> None:
        """Show `model` everywhere (the session, the two-digit mode, the panels, the title)."""
        name = Path(path).stem if path else "default"
        cfg = meta.get("model", {})
        self.session.set_model(model, meta, f"{name} ({meta.get('kind', '?')}, latent {cfg.get('latent_dim', '?')})")
        self._set_two_digit(two_digit.is_two_digit(model), meta)
        self.settings_panel.set_encoder_available(model.has_encoder)
        self.result_panel.latent.set_latent_dim(int(cfg.get("latent_dim", 2) or 2))
        self._plan()
        self.settings_panel.model_label.setText(f"Model: {self.session.model_name}")
        self.setWindowTitle(f"IGC: draw a digit and watch the generator find it — {self.session.model_name}")
        self.model_path = path  # remembered only once it is shown: a model that failed is never saved

    def load_model(self, path: str | None) -> bool:
        """Load a generator checkpoint (None: the shipped one); on failure the loaded model stays."""
        self.banner.hide()  # before: loading may say something (recommended settings not applied)
        problem = self._try_load(path)
        if problem is not None:
            where = path or str(checkpoints.DEFAULT_MODEL)
            stays = "\nThe previous model stays loaded." if self.session.model is not None else ""
            self.show_message(f"Cannot load the model {where}: {problem}{stays}", "error")
            return False
        self.flash(f"Loaded {self.session.model_name}", 5000)
        self._schedule_auto()
        return True

    def open_model_dialog(self) -> None:
        start = str(Path(self.model_path).parent) if self.model_path else str(checkpoints.ASSETS)
        path, _ = QFileDialog.getOpenFileName(self, "Load a generator checkpoint", start, MODEL_FILTER)
        if path:
            self.load_model(path)

    def _set_two_digit(self, on: bool, meta: dict) -> None:
        """Two-digit mode (issue 11) with a two-label checkpoint: its own canvas and grid replace the input and
        result panels; the settings the model's sidecar recommends (older ones: dif bce) are shown in the settings
        panel while it is loaded, and the replaced values come back when a one-digit model is loaded again."""
        values = self.settings_panel.values()
        if on:
            refused: list[str] = []
            wanted = two_digit.recommended_values(meta, values, refused)
            if refused:
                self.show_message("; ".join(refused[:3])[:1].upper() + "; ".join(refused[:3])[1:] + ".", "warning")
            self._saved_values = {**{k: values[k] for k in wanted}, **self._saved_values}
            if wanted:
                self.settings_panel.set_values(wanted)
                self.flash("Two-digit model: " + two_digit.describe_recommended(meta, wanted), 8000)
        elif self._saved_values:
            self.settings_panel.set_values(self._saved_values)
            self._saved_values = {}
        if on != self.two_digit:
            self.two_digit = on
            with self.keeping_size():  # the panels that go are hidden first: their widths never add up
                for panel in (self.input_panel, self.result_panel, self.two_digit_panel):
                    # isHidden, not isVisible: a model given at start is loaded before the window is shown
                    if not panel.isHidden() and (panel is self.two_digit_panel) != on:
                        panel.hide()
                for panel in (self.input_panel, self.result_panel, self.two_digit_panel):
                    if (panel is self.two_digit_panel) == on:
                        panel.show()
            self.session.set_noise((self.two_digit_panel if on else self.input_panel).noise_sigma)

    def active_input(self):
        """The input panel in use: the two-digit panel in two-digit mode."""
        return self.two_digit_panel if self.two_digit else self.input_panel

    # ================================================================== the input
    def current_input(self):
        return self.active_input().current_input()

    def open_image(self, path: str) -> bool:
        if not self.active_input().open_image(path):
            return False
        self.values["input_dir"] = str(Path(path).parent)
        self.flash(f"Opened {path}", 5000)
        self.banner.hide()
        return True

    def open_image_dialog(self) -> None:
        start = self.values["input_dir"] or str(SAMPLES)
        path, _ = QFileDialog.getOpenFileName(self, "Open an image of a digit", start, IMAGE_FILTER)
        if path:
            self.open_image(path)

    def pick_sample(self, digit: int, index: int | None = None) -> bool:
        return self.input_panel.pick_sample(digit, index)

    # ================================================================== running
    def start_search(self, start_paused: bool = False) -> bool:
        """Start a new search of the current input; a message says why when it cannot."""
        self._auto_timer.stop()
        try:
            p = self.active_input()
            _, x = p.current_input()
            config = self.search_config()
            settings.search.resolve_device(config.device)
            warning = two_digit.noise_warning(config.dif, p.noise_sigma) if self.two_digit else None
            if self.two_digit:
                config = two_digit.make_config(config, p.mode)
            self.banner.hide()  # before the start: a start that fails at once (a full disk) says so in it
            self.session.start(x, p.noise_sigma, config, name=p.input_name, true_label=p.true_label, paused=start_paused)
        except ValueError as exc:
            self.show_message(str(exc)[0].upper() + str(exc)[1:], "warning")
            return False
        if warning:
            self.show_message(warning, "warning")
        return True

    def toggle_play(self) -> None:
        """Space: pause / resume the search or the replay; on a finished run of this input, replay it; else search."""
        if self.session.toggle():
            return
        if not (self.teaching.replay_ready() and self.session.replay()):
            self.start_search()

    def single_step(self) -> None:
        if not self.session.step():
            self.start_search(start_paused=True)

    def scrub_back(self) -> None:
        self.session.back()

    def stop_search(self) -> None:
        self.session.stop()

    def reset(self) -> None:
        self.session.reset()
        self.flash("Reset.", 3000)

    def _schedule_auto(self) -> None:
        if self.settings_panel.value("autorun"):
            self._auto_timer.start()

    def _auto_run(self) -> None:
        if not self.settings_panel.value("autorun") or self.session.model is None:
            return
        try:
            self.active_input().current_input()
        except data.DataError:
            return  # nothing to search yet: no message while drawing
        self.start_search()

    def _render(self, view: View) -> None:
        if isinstance(view, two_digit.TwoDigitView):
            self.two_digit_panel.render(view)
        else:
            self.result_panel.set_input_sigma(self.input_panel.noise_sigma)
            self.result_panel.render(view)
        self._render_transport(view)
        if view.status_text != self._status_text:
            self._status_text = view.status_text
            if not self._flash_timer.isActive():
                self.status_label.setText(view.status_text)

    def _render_transport(self, view: View | None = None) -> None:
        """The transport from the view on screen (default: the session's) and whether Play would replay now (the input
        or a setting may have changed since the run: then Play searches, and its label says so)."""
        self.transport.render(view or self.session.view, self.session.model is not None, self.teaching.replay_ready())

    def flash(self, text: str, ms: int = 5000) -> None:
        """A passing note in the status line; the run's status comes back after `ms`."""
        self.status_label.setText(text)
        self._flash_timer.start(ms)

    def _on_finished(self, view: View) -> None:
        self._flash_timer.stop()  # the run's own status line (time, precision) replaces any passing note
        self.status_label.setText(self._status_text)
        if view.verdict.kind == "diverged":
            self.show_message(view.status_text, "error")
        self.result_shown.emit()

    # ================================================================== saving
    def save_results(self, path: str | Path) -> list[Path]:
        """Write <base>.png (a figure), <base>-losses.csv (every recorded step) and <base>-settings.json."""
        s = self.session
        if isinstance(s.view, two_digit.TwoDigitView):
            raise ValueError("saving a two-digit run is not available yet (use `igc classify --json`)")
        doc = export.run_document(s.view, s.result, s.state.seconds, self.model_path or str(checkpoints.DEFAULT_MODEL),
                                  s.meta.get("kind"))
        return export.save_run(path, s.view, s.history, doc, s.model_name or "")

    def save_results_dialog(self) -> None:
        if isinstance(self.session.view, two_digit.TwoDigitView):  # refused before a dialog asks for a name
            self.show_message("Saving a two-digit run is not available yet (use `igc classify --json`).", "warning")
            return
        if not self.session.view.has_run:
            self.show_message("There is nothing to save yet: run a search first (Space).", "warning")
            return
        start = self.values["output_dir"] or str(Path.home())
        path, _ = QFileDialog.getSaveFileName(self, "Save a figure (PNG), every step (CSV) and the run (JSON)",
                                              str(Path(start) / "igc-run.png"), "PNG image (*.png)",
                                              options=QFileDialog.Option.DontConfirmOverwrite)
        if not path:
            return
        try:
            if not self.confirm_overwrite(path):
                return
            written = self.save_results(path)
        except (OSError, ValueError) as exc:
            self.show_message(f"Could not save: {exc}", "error")
            return
        self.values["output_dir"] = str(Path(path).parent)
        self.flash("Saved " + ", ".join(p.name for p in written), 8000)

    # ------------------------------------------------------------------ lessons (issue 18)
    def start_lesson(self, lesson: Lesson) -> None:
        """Walk through `lesson` in presentation mode, from its first step (Page Down / Page Up move on and back)."""
        self.lesson, self.lesson_index = lesson, -1
        self._lesson_base = {**self.settings_panel.values(), "noise": self.input_panel.noise_sigma}
        self.set_presentation(True)
        self.transport.set_hint(None)
        self.lesson_label.setFont(style.font(11, True))
        self.input_panel.show_model_input(False)  # the caption takes the place of the small model-input view
        self.lesson_label.show()
        self.lesson_step(+1)

    def lesson_step(self, delta: int) -> bool:
        """Show the lesson's next (+1) or previous (-1) step; False without a lesson or past its ends."""
        lesson = getattr(self, "lesson", None)
        if lesson is None:
            return False
        k = self.lesson_index + delta
        if not 0 <= k < len(lesson.steps):
            self.flash("The lesson's last step." if k >= 0 else "The lesson's first step.", 3000)
            return False
        self.lesson_index = k
        step = lesson.steps[k]
        self.session.stop()
        values = {**self._lesson_base, **step.settings}
        noise = values.pop("noise")
        self.settings_panel.set_values(values)
        self._on_setting("lesson")
        self._auto_timer.stop()
        if step.input is not None:
            kind, value = step.input
            if kind == "file":
                self.open_image(str(value))
            elif kind == "mnist" and not self.input_panel.pick_test_image(int(value)):
                self.show_message(f"The lesson's step {k + 1} wants MNIST test image {value}, which is not here "
                                  "(put the data set in --data or $IGC_DATA).", "warning")
            elif kind == "clear":
                self.input_panel.clear_canvas()
                self.session.reset()
        self.input_panel.set_noise(noise)
        self.session.set_grid_mode(step.grid)
        if step.tab is not None:
            self.result_panel.show_tab(step.tab)
        self.lesson_label.setText(f"{k + 1} / {len(lesson.steps)} · {step.caption}")
        self._auto_timer.stop()
        if step.run:
            self.start_search()
        return True

    # ------------------------------------------------------------------ the animation (issue 18)
    def grab_view(self, view: View):
        """The window as it shows `view` (a recorded step), as a QImage; the screen returns to the session's view."""
        self._render(view)
        image = self.grab().toImage()
        return image

    def record_animation(self, path: str | Path, figure: bool = False, size: tuple[int, int] | None = None) -> Path:
        """Write the shown run as an animation: the window at each recorded step, or the exported figure (`figure`,
        at `size`). ValueError with a message when there is nothing to record or the format is not available."""
        if isinstance(self.session.view, two_digit.TwoDigitView):
            raise ValueError("recording a two-digit run is not available yet")
        model = self.session.model_name or ""
        if figure:
            def grab(view):
                return export.render_figure(view, model, size or export.FIGURE_SIZE)
        else:
            grab = self.grab_view
        try:
            return record.record(path, self.session, grab)
        finally:
            self._render(self.session.view)

    def export_animation_dialog(self) -> None:
        if isinstance(self.session.view, two_digit.TwoDigitView):
            self.show_message("Recording a two-digit run is not available yet.", "warning")
            return
        if not self.session.view.has_run or self.session.is_active():
            self.show_message("There is no finished run to record yet: run a search first (Space).", "warning")
            return
        start = self.values["output_dir"] or str(Path.home())
        kinds = "GIF animation (*.gif)" + (";;MP4 video (*.mp4);;WebM video (*.webm)" if record.video_available() else "")
        path, _ = QFileDialog.getSaveFileName(self, "Export the run as an animation", str(Path(start) / "igc-run.gif"), kinds)
        if not path:
            return
        try:
            written = self.record_animation(path)
        except (OSError, ValueError) as exc:
            self.show_message(f"Could not write the animation: {exc}", "error")
            return
        self.values["output_dir"] = str(Path(path).parent)
        self.flash(f"Wrote {written.name} ({written.stat().st_size / 1e6:.1f} MB)", 8000)

    def confirm_overwrite(self, path: str | Path) -> bool:
        """Ask before replacing any of the files a save writes."""
        export.check_names(path)  # ValueError for a name the file system cannot take, before asking
        there = export.existing(path)
        if not there:
            return True
        answer = QMessageBox.question(
            self, "Replace files?", "These files exist already:\n" + "\n".join(str(p) for p in there) + "\n\nReplace them?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    # ================================================================== misc
    def show_message(self, text: str, level: str = "info") -> None:
        self.banner.show_message(text, level)
        self.banner.place()
        self.flash(text.splitlines()[0], 10000)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.banner.place()

    def hide_message(self) -> None:
        self.banner.hide()

    def keeping_size(self):
        """A context in which layout changes never resize the window (its size is put back after)."""
        return _KeepSize(self)

    def set_presentation(self, on: bool) -> None:
        """Large fonts (1.6x), no settings panel: the grid, the curves and the verdict fill the screen."""
        with self.keeping_size():
            self._set_presentation(on)

    def _set_presentation(self, on: bool) -> None:
        self.presenting = bool(on)
        style.set_scale(style.PRESENTATION_SCALE if on else 1.0)
        apply_theme(QApplication.instance())
        if self._inheriting is None:  # the widgets that take the window's font (no font of their own), found once
            self._inheriting = [c for c in self.findChildren(QWidget) if not c.testAttribute(Qt.WidgetAttribute.WA_SetFont)]
        for c in [self, *self._inheriting]:  # set one by one: a font change does not reach widgets under a style sheet
            f = c.font()
            f.setPointSizeF(style.BASE_POINTS * style.scale())
            c.setFont(f)
        self.settings_panel.setVisible(not on)
        self.menuBar().setVisible(not on)  # its shortcuts (F11, F1, Ctrl+…) still work
        self.statusBar().setVisible(not on)
        self.input_panel.set_compact(on)
        # a projector: the narration goes under the verdict, the buttons stay below: the grid has all the height between
        self.result_panel.set_presenting(on, self.transport.narration if on else None)
        if not on:
            self.transport.take_back_narration()
        for panel in (self.result_panel, self.transport, self.banner):
            panel.rescale()
        self.presentation_action.setChecked(on)
        self.flash("Presentation mode: F11 leaves it." if on else "Presentation mode off.", 4000)

    def show_help(self):
        return about.show_how(self, self.session.view, self.session.model_name or "")

    def show_about(self) -> None:
        about.show_about(self, self.session.model_name)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if not urls:
            return
        path = urls[0].toLocalFile()
        if Path(path).suffix.lower() in (".safetensors", ".json"):
            self.load_model(path)
        else:
            self.open_image(path)
        event.acceptProposedAction()

    def shutdown(self) -> None:
        """Stop the search and the attack demo's thread (idempotent)."""
        self._auto_timer.stop()
        self.session.shutdown()
        self.result_panel.attack.stop()

    def closeEvent(self, event) -> None:
        self.shutdown()
        try:
            self.save_settings()
        except OSError as exc:  # never block closing
            print(f"igc-app: could not save the settings to {self.settings_path}: {exc}")
        super().closeEvent(event)
