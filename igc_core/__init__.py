"""igc_core: the Inverted Generator Classifier engine (torch and numpy only, never Qt)."""

__version__ = "0.1.0"
