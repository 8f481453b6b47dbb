"""The app's Qt-free half: the session (presenter), its pure view, history, settings, narration and the rest.

Nothing here imports a Qt binding (an import-linter contract in .importlinter keeps it so): the panels draw
what these modules compute, and their tests need no window.
"""
