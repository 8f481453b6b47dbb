"""Which packages the wheel carries; everything else about the build is in pyproject.toml.

The code is found, not listed: every package under igc_core/ and app/ (a folder with an __init__.py), so a new
subpackage ships without an edit here. The shipped models and sample digits live in assets/ (their source of
truth in the repository) and travel as the data-only package igc_core.assets (pyproject.toml maps the folder
and names its files). pyproject.toml alone cannot say both: its `packages` is either a list or a `find`, and
`find` knows a folder only by its own name.
"""

from setuptools import find_packages, setup

CODE = find_packages(include=["igc_core", "igc_core.*", "app", "app.*"])
setup(packages=[*CODE, "igc_core.assets", "igc_core.assets.samples"])
