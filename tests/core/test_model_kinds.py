"""One table of model kinds behind one `Generator` protocol: every kind keeps the protocol, the table drives
checkpoints, training and `igc train`, and a new kind needs the table and its own module only."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
import pytest
import torch
from torch import nn

from synthetic import synthetic_digits
from igc_core import checkpoints, model_kinds
from igc_core.cli import main
from igc_core.data import to_model_range
from igc_core.generators import Generator
from igc_core.model_kinds import KINDS, ModelKind
from igc_core.search import SearchConfig, search
from igc_core.training import TrainConfig


@pytest.mark.parametrize("name", list(KINDS))
def test_every_kind_builds_what_the_table_says(name):
    kind = KINDS[name]
    model = kind.model(kind.config(kind=name))
    assert model.config.kind == name
    assert isinstance(model, Generator) == kind.generator  # generators keep the protocol, the classifier does not
    if kind.generator:
        assert model.has_encoder == kind.has_encoder
        assert model.decode(model.prior_mean[None], model.one_hot(torch.tensor([1]))).shape == (1, *model.image_shape)


def test_an_option_of_another_kind_is_refused_by_name(tiny_data_dir, tmp_path, capsys):
    common = ["train", "--data", str(tiny_data_dir), "--out", str(tmp_path / "m"), "--epochs", "1", "--check", "0", "--quiet"]
    assert main([*common, "--model", "cvae", "--ema", "0.9"]) == 2
    assert "--ema is not an option of --model cvae; it takes --epochs" in capsys.readouterr().err
    assert main([*common, "--model", "cnn", "--hidden", "8", "--class-heads"]) == 2
    assert "--hidden, --class-heads are not options of --model cnn" in capsys.readouterr().err
    assert main([*common, "--model", "cgan-conv", "--task", "two-digit"]) == 2
    assert "--task two-digit needs --model cvae" in capsys.readouterr().err
    assert not (tmp_path / "m.safetensors").exists()


def test_the_mlp_cgan_trains_from_the_command_line(tiny_data_dir, tmp_path):
    assert main(["train", "--model", "cgan-mlp", "--data", str(tiny_data_dir), "--out", str(tmp_path / "g"), "--epochs", "1",
                 "--latent", "3", "--hidden", "16", "--latent-scale", "0.1", "--check", "4", "--quiet"]) == 0
    model, meta = checkpoints.load_generator(tmp_path / "g")
    assert meta["kind"] == model.config.kind == "cgan-mlp" and model.config.hidden == (16,) and not model.has_encoder
    assert torch.allclose(model.prior_std, torch.full((3,), 0.1)) and "igc_accuracy_first_4_test" in meta["metrics"]


def test_only_kinds_that_fine_tune_continue_from_a_checkpoint():
    config = KINDS["cgan-conv"].config(latent_dim=2, channels=(4, 4), d_channels=(4, 4), d_features=8)
    with pytest.raises(ValueError, match="cgan-conv trains from fresh weights"):
        model_kinds.train(config, None, KINDS["cgan-conv"].train_config(), start=KINDS["cgan-conv"].model(config))


# --------------------------------------------------------------------------- a kind added in one place


@dataclass(frozen=True)
class ToyConfig:
    kind: str = "toy"
    latent_dim: int = 2
    num_classes: int = 10

    def to_dict(self) -> dict:
        return asdict(self)


class ToyGenerator(nn.Module):
    """The smallest Generator: one linear layer from (z, c) to the image's logits."""

    def __init__(self, config: ToyConfig):
        super().__init__()
        self.config = config
        self.net = nn.Linear(config.latent_dim + config.num_classes, 28 * 28)
        self.register_buffer("prior_mean", torch.zeros(config.latent_dim))
        self.register_buffer("prior_std", torch.ones(config.latent_dim))

    latent_dim = property(lambda self: self.config.latent_dim)
    num_classes = property(lambda self: self.config.num_classes)
    label_classes = property(lambda self: (self.config.num_classes,))
    image_shape = property(lambda self: (28, 28))
    has_encoder = property(lambda self: False)

    def decode_logits(self, z: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, condition], 1))

    def decode(self, z: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return (torch.sigmoid(self.decode_logits(z, condition)) - 0.5).view(-1, 28, 28)

    def encode(self, images: torch.Tensor, condition: torch.Tensor):
        raise ValueError("a toy generator has no encoder")

    def one_hot(self, labels: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(labels, self.num_classes).float()

    def sample(self, labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.decode(self.prior_mean.expand(len(labels), -1), self.one_hot(labels))


def _train_toy(config: ToyConfig, data, train: TrainConfig, progress=None) -> tuple[ToyGenerator, dict]:
    torch.manual_seed(train.seed)
    return ToyGenerator(config).eval(), {"trained": "not at all"}


@pytest.fixture
def toy_kind(monkeypatch):
    kind = ModelKind("toy", "a linear toy", ToyConfig, ToyGenerator, TrainConfig, _train_toy,
                     (model_kinds.EPOCHS, model_kinds.SEED, model_kinds.LATENT))
    monkeypatch.setitem(KINDS, "toy", kind)
    return kind


def test_a_kind_added_to_the_table_is_trained_saved_loaded_and_searched(toy_kind, tiny_data_dir, tmp_path, capsys):
    assert main(["train", "--model", "toy", "--data", str(tiny_data_dir), "--out", str(tmp_path / "toy"), "--latent", "3",
                 "--check", "4", "--quiet"]) == 0
    model, meta = checkpoints.load_generator(tmp_path / "toy")
    assert isinstance(model, ToyGenerator) and isinstance(model, Generator) and meta["kind"] == "toy"
    assert meta["model"] == {"kind": "toy", "latent_dim": 3, "num_classes": 10} and "igc_accuracy_first_4_test" in meta["metrics"]
    result = search(model, to_model_range(synthetic_digits(2, seed=4)[0]), SearchConfig(steps=3))
    assert result.distances.shape == (2, 10) and np.isfinite(result.ooc).all()
    sidecar = tmp_path / "toy.json"
    doc = json.loads(sidecar.read_text())
    doc["model"]["latent_dim"] = "3"  # the schema reads the new kind's config too
    sidecar.write_text(json.dumps(doc))
    with pytest.raises(checkpoints.CheckpointError, match="latent_dim must be a whole number"):
        checkpoints.load_generator(tmp_path / "toy")
    assert main(["train", "--model", "toy", "--data", str(tiny_data_dir), "--out", str(tmp_path / "t2"), "--hidden", "8"]) == 2
    assert "--hidden is not an option of --model toy" in capsys.readouterr().err
