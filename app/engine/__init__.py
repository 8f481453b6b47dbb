"""The engine's process (`engine_process`, no Qt) and its client in the window (`worker`, Qt signals)."""
