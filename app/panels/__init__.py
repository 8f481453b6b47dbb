"""The window's panels: each renders the session's `View` (or owns its own input) and emits intents."""
