"""Shared fixtures: tiny seeded models, tiny IDX data sets, and the real MNIST folder when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from synthetic import synthetic_digits, write_idx

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")


def pytest_configure(config):
    import tempfile

    import torch

    # the runtime calibration cache (igc_core.runtime) goes to a fresh folder, not the user's ~/.cache
    os.environ["IGC_CACHE"] = tempfile.mkdtemp(prefix="igc-test-cache-")

    torch.set_num_threads(1)  # tiny models: one thread is faster than two and immune to a busy neighbour

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("IGC_SHARED", ROOT.parent / "shared"))  # worktrees elsewhere: IGC_SHARED=/work/shared
SHARED_MNIST = SHARED / "mnist"
SHARED_FASHION = SHARED / "fashion-mnist"


@pytest.fixture
def tiny_data_dir(tmp_path: Path) -> Path:
    """A folder holding a tiny synthetic data set under the four MNIST file names."""
    folder = tmp_path / "tinydata"
    folder.mkdir()
    for split, n in (("train", 256), ("t10k", 64)):
        images, labels = synthetic_digits(n, seed=1 if split == "train" else 2)
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", labels)
    return folder


@pytest.fixture
def mnist_dir() -> Path:
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("../shared/mnist is not present")
    return SHARED_MNIST


@pytest.fixture
def tiny_model():
    """An untrained, seeded, tiny CVAE: enough to test the machinery, fast on CPU."""
    import torch

    from igc_core.generators import ConditionalGenerator, GeneratorConfig

    torch.manual_seed(0)
    model = ConditionalGenerator(GeneratorConfig(kind="cvae", latent_dim=4, hidden=(32, 48), encoder_hidden=(32,)))
    model.eval()
    return model


@pytest.fixture(scope="session")
def default_model():
    """The shipped default generator."""
    from igc_core import checkpoints

    if not checkpoints.DEFAULT_MODEL.exists():
        pytest.skip("assets/default.safetensors is not present")
    return checkpoints.load(None)
