"""Multi-label IGC (paper Sec. 1.4): per-label and exhaustive searches, two-digit data, framing, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from synthetic import synthetic_digits
from igc_core import checkpoints, multilabel
from igc_core.cli import main
from igc_core.data import DataError, Dataset
from igc_core.framing import frame_number, load_image
from igc_core.generators import ConditionalGenerator, GeneratorConfig
from igc_core.multilabel import MultiLabelConfig, label_blocks, plan
from igc_core.pairs import MAX_OVERLAP, compose, epoch_pairs, fixed_pairs, number_label
from igc_core.search import SearchConfig
from igc_core.search import search as single_label_search


def _two_label_model(classes=(3, 4), shape=(8, 16), seed=0, **kw) -> ConditionalGenerator:
    torch.manual_seed(seed)
    config = GeneratorConfig(latent_dim=3, hidden=(16, 24), encoder_hidden=(16,), num_classes=sum(classes), labels=classes,
                             image_size=shape[0], image_width=shape[1], **kw)
    return ConditionalGenerator(config).eval()


def _template_model() -> ConditionalGenerator:
    """A toy where both searches are exact: G(c, z) = sigmoid(b + T c), the z and hidden layers switched off.

    Label 0 draws a template on the left half, label 1 on the right, so each label's class is visible alone and
    only the true one-hot condition reconstructs an image the model drew.
    """
    model = _two_label_model(classes=(3, 3), shape=(4, 8))
    rng = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.zero_()
        templates = torch.zeros(32, 6)  # logits per pixel (left half's 16, then the right half's) and condition
        templates[:16, :3] = 6 * (torch.rand(16, 3, generator=rng) > 0.5).float() - 3  # left half: label 0
        templates[16:, 3:] = 6 * (torch.rand(16, 3, generator=rng) > 0.5).float() - 3  # right half: label 1
        model.decoder.out_cond.weight.copy_(_halves(templates))
    return model


def _halves(templates: torch.Tensor) -> torch.Tensor:
    """Rows 0..15 of `templates` to the left half of a 4x8 image, rows 16..31 to the right half."""
    out = torch.zeros(4, 8, templates.shape[1])
    out[:, :4] = templates[:16].view(4, 4, -1)
    out[:, 4:] = templates[16:].view(4, 4, -1)
    return out.view(32, -1)


def _images(n, shape=(8, 16), seed=0):
    return (np.random.default_rng(seed).random((n, *shape), dtype=np.float32) - 0.5).astype(np.float32)


# ------------------------------------------------------------------------------------------ the search


def test_plans_and_blocks():
    assert plan((3, 4), "per-label").tolist() == [[0, -1], [1, -1], [2, -1], [-1, 0], [-1, 1], [-1, 2], [-1, 3]]
    exhaustive = plan((3, 4), "exhaustive")
    assert exhaustive.shape == (12, 2) and exhaustive[5].tolist() == [1, 1]
    assert label_blocks((10, 10)) == [slice(0, 10), slice(10, 20)]


def test_per_label_equals_exhaustive_where_both_are_exact():
    model = _template_model()
    truth = torch.tensor([[0, 2], [1, 1], [2, 0], [1, 2]])
    with torch.no_grad():
        images = model.decode(torch.zeros(4, 3), model.one_hot(truth)).numpy()
    config = SearchConfig(steps=150, lr=0.01)
    per = multilabel.search(model, images, MultiLabelConfig(mode="per-label", search=config, cond_lr=0.2))
    every = multilabel.search(model, images, MultiLabelConfig(mode="exhaustive", search=config))
    assert per.labels.tolist() == truth.tolist() and every.labels.tolist() == truth.tolist()
    for k in range(2):  # the true classes explain the image (nearly) exactly in both searches
        true_per = per.distances[k][np.arange(4), truth[:, k]]
        true_every = every.distances[k][np.arange(4), truth[:, k]]
        assert np.all(true_every < 1e-6) and np.all(true_per < 0.01)
    np.testing.assert_allclose(per.ooc, np.max([d.min(1) for d in per.distances], 0))


@pytest.mark.parametrize("mode,paths", [("per-label", False), ("exhaustive", False), ("per-label", True)])
def test_batched_equals_one_image_loop(mode, paths):
    model = _two_label_model(label_paths=paths, label_shift=2.0 if paths else 0.0)
    config = MultiLabelConfig(mode=mode, search=SearchConfig(steps=12, lr=0.05, restarts=2, batch_size=2),
                              cond_lr=0.1, temperature=2.0, final_temperature=0.5, cond_spread=1.0)
    images = _images(5)
    kw = dict(return_conditions=True, return_reconstructions=True, return_latents=True)
    batched = multilabel.search(model, images, config, **kw)
    for i in range(5):
        one = multilabel.search(model, images[i : i + 1], config, **kw)
        assert batched.labels[i].tolist() == one.labels[0].tolist()
        np.testing.assert_allclose(batched.search_distances[i], one.search_distances[0], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(batched.conditions[i], one.conditions[0], atol=1e-5)
        np.testing.assert_allclose(batched.latents[i], one.latents[0], rtol=1e-3, atol=1e-5)
        np.testing.assert_allclose(batched.reconstructions[i], one.reconstructions[0], atol=1e-4)
        for k in range(2):
            np.testing.assert_allclose(batched.distances[k][i], one.distances[k][0], rtol=1e-4, atol=1e-6)


def test_relaxed_conditions_stay_on_the_simplex_and_move():
    model = _two_label_model()
    snaps = []
    config = MultiLabelConfig(search=SearchConfig(steps=20, lr=0.05, restarts=2), cond_lr=0.2, cond_spread=2.0)
    multilabel.search(model, _images(2), config, on_snapshot=snaps.append, snapshot_every=5, snapshot_images=True)
    assert [s.step for s in snaps] == [0, 5, 10, 15, 20]
    searches, blocks = snaps[0].searches, snaps[0].blocks
    for snap in snaps:
        assert snap.conditions.shape == (2, 7, 2, 7) and snap.reconstructions.shape == (2, 7, 2, 8, 16)
        for k, block in enumerate(blocks):
            part = snap.conditions[..., block]  # (n, S, R, C_k)
            assert np.all(part >= 0)
            np.testing.assert_allclose(part.sum(-1), 1.0, atol=1e-5)  # every label's condition sums to 1
            held = searches[:, k] >= 0
            assert np.array_equal(part[:, held].argmax(-1), np.broadcast_to(searches[held, k][None, :, None], (2, held.sum(), 2)))
            assert np.all(part[:, held].max(-1) == 1.0)  # a fixed label stays one-hot
    relaxed = snaps[0].searches[:, 1] < 0
    assert np.allclose(snaps[0].conditions[:, relaxed, 0, 3:], 0.25)  # restart 0 starts uniform ...
    assert not np.allclose(snaps[-1].conditions[:, relaxed, 0, 3:], 0.25)  # ... and the search moves it


def test_result_shapes_prediction_and_ooc():
    model = _two_label_model()
    result = multilabel.search(model, _images(3), MultiLabelConfig(mode="exhaustive", search=SearchConfig(steps=4)))
    assert result.labels.shape == (3, 2) and [d.shape for d in result.distances] == [(3, 3), (3, 4)]
    assert result.search_distances.shape == (3, 12) and result.conditions is None
    for k in range(2):  # exhaustive: a class's distance is the best combination holding it
        assert np.array_equal(result.labels[:, k], result.distances[k].argmin(1))
    np.testing.assert_allclose(result.ooc, result.search_distances.min(1))
    best = result.search_distances.argmin(1)
    assert np.array_equal(result.searches[best], result.labels)


def test_should_stop_and_divergence():
    model = _two_label_model()
    calls = []
    result = multilabel.search(model, _images(2), MultiLabelConfig(search=SearchConfig(steps=50)),
                               should_stop=lambda: calls.append(1) or len(calls) >= 3)
    assert result.stopped and result.steps_done == 3 and np.isfinite(result.ooc).all()
    wild = multilabel.search(model, _images(2), MultiLabelConfig(search=SearchConfig(steps=30, lr=50.0)))
    assert wild.diverged.all() and (wild.labels == -1).all()


def test_score_lambda_moves_two_digit_distances_as_it_moves_one_digit_ones(tiny_model):
    """score "loss" ranks by L_DD + score_lambda * L_LR in both searches (one ranking, `search.class_score`).

    The search itself does not depend on the score, so with one restart a class's distance moves by exactly
    score_lambda times its final latent's mean |zscore|, one digit or two."""
    def l_lr(model, latents):
        return np.abs((latents - model.prior_mean.numpy()) / model.prior_std.numpy()).mean(-1)

    base = SearchConfig(steps=10, lr=0.05, score="loss", precision="fp32", threads=1)
    one = {w: single_label_search(tiny_model, _images(3, shape=(28, 28)), base.with_(score_lambda=w), return_latents=True)
           for w in (0.0, 10.0)}
    np.testing.assert_allclose(one[10.0].distances - one[0.0].distances, 10 * l_lr(tiny_model, one[0.0].latents),
                               rtol=1e-4, atol=1e-6)
    model = _two_label_model()
    for mode in ("per-label", "exhaustive"):
        two = {w: multilabel.search(model, _images(3), MultiLabelConfig(mode=mode, search=base.with_(score_lambda=w)),
                                    return_latents=True) for w in (0.0, 10.0)}
        moved = two[10.0].search_distances - two[0.0].search_distances
        assert np.all(moved > 0.01)  # the latents have left the prior mean, so L_LR counts
        np.testing.assert_allclose(moved, 10 * l_lr(model, two[0.0].latents), rtol=1e-4, atol=1e-6)
        if mode == "per-label":  # each class's distance is that of the one search fixing it
            for k, block in enumerate(label_blocks(model.label_classes)):
                held = two[10.0].searches[:, k] >= 0
                np.testing.assert_allclose(two[10.0].distances[k], two[10.0].search_distances[:, held])
        dif = multilabel.search(model, _images(3), MultiLabelConfig(mode=mode, search=base.with_(score="dif")))
        np.testing.assert_allclose(two[0.0].search_distances, dif.search_distances)  # weight 0: L_DD alone


def test_config_validation_and_refusals():
    for bad in ({"mode": "greedy"}, {"cond_lr": 0}, {"temperature": -1}, {"cond_spread": float("nan")},
                {"search": SearchConfig(init="encoder")}, {"search": SearchConfig(keep_classes=2, prune_step=1)}):
        with pytest.raises(ValueError):
            MultiLabelConfig(**bad)
    config = MultiLabelConfig().with_(steps=7, cond_lr=0.3)
    assert config.search.steps == 7 and config.cond_lr == 0.3
    with pytest.raises(ValueError, match="2 labels"):
        single_label_search(_two_label_model(), _images(1), SearchConfig(steps=1))
    with pytest.raises(ValueError, match="shape"):
        multilabel.search(_two_label_model(), np.zeros((1, 28, 28), np.float32))


# ------------------------------------------------------------------------------------ generator, data


def test_multi_label_generator_conditions_on_concatenated_one_hots():
    model = _two_label_model()
    assert model.label_classes == (3, 4) and model.image_shape == (8, 16)
    c = model.one_hot(torch.tensor([[2, 0], [0, 3]]))
    assert c.tolist() == [[0, 0, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0, 1]]
    assert model.decode(torch.zeros(2, 3), c).shape == (2, 8, 16)
    single = ConditionalGenerator(GeneratorConfig(latent_dim=3, hidden=(8,), encoder_hidden=(8,)))
    assert single.label_classes == (10,) and single.image_shape == (28, 28)
    with pytest.raises(ValueError, match="sum"):
        GeneratorConfig(num_classes=10, labels=(10, 10))
    with pytest.raises(ValueError, match="two or more labels"):
        GeneratorConfig(label_paths=True)


def test_label_paths_draw_each_label_apart():
    """One decoder per label, logits summed: label 0's path never sees label 1's condition, so the logits are
    additive across labels (a, b) + (a', b') = (a, b') + (a', b), for one-hot and relaxed conditions alike."""
    model = _two_label_model(label_paths=True)
    z = torch.randn(1, 3)
    logits = lambda c: model.decode_logits(z, c)  # noqa: E731
    a, a2 = torch.eye(3)[[0]], torch.eye(3)[[2]]
    b, b2 = torch.eye(4)[[1]], torch.softmax(torch.randn(1, 4), 1)  # a one-hot and a relaxed units condition
    cat = lambda x, y: torch.cat([x, y], 1)  # noqa: E731
    assert torch.allclose(logits(cat(a, b)) + logits(cat(a2, b2)), logits(cat(a, b2)) + logits(cat(a2, b)), atol=1e-5)
    assert not torch.allclose(logits(cat(a, b)), logits(cat(a2, b)))


def test_label_shift_moves_a_paths_drawing_by_a_latent_amount():
    model = _two_label_model(label_paths=True, label_shift=3.0)
    paths = model.decoder
    z, c = torch.randn(2, 3), model.one_hot(torch.tensor([[0, 1], [2, 3]]))
    unshifted = sum(p(z, c[:, a:b]) for p, (a, b) in zip(paths.paths, paths.bounds))
    assert torch.allclose(model.decode_logits(z, c), unshifted, atol=1e-6)  # the shift heads start at zero
    with torch.no_grad():
        paths.shifts[0].bias.copy_(torch.tensor([20.0, 0.0]))  # tanh -> 1: label 0's drawing moves 3 px right
    moved = model.decode_logits(z, c).view(2, 8, 16)
    left = paths.paths[0](z, c[:, :3]).view(2, 8, 16)
    right = paths.paths[1](z, c[:, 3:]).view(2, 8, 16)
    assert torch.allclose(moved[:, :, 3:], left[:, :, :-3] + right[:, :, 3:], atol=1e-5)
    assert torch.allclose(moved[:, :, :3], right[:, :, :3], atol=1e-5)  # nothing of label 0 enters from outside


def test_pairs_are_composed_seeded_and_overlap():
    images, labels = synthetic_digits(40, seed=1)
    data = Dataset(images, labels.astype(np.int64), "tiny")
    pairs = fixed_pairs(data, 30)
    assert pairs.images.shape == (30, 28, 56) and pairs.labels.shape == (30, 2)
    assert np.array_equal(fixed_pairs(data, 10).images, pairs.images[:10])  # a prefix is the same pairs
    one = epoch_pairs(data, seed=0, epoch=0)
    assert np.array_equal(one.images, epoch_pairs(data, seed=0, epoch=0).images)
    assert not np.array_equal(one.images, epoch_pairs(data, seed=0, epoch=1).images)
    assert sorted(one.labels[:, 0]) == sorted(labels)  # every digit once as tens, once as units
    # composition: pixel-wise max of the two digits, their boxes overlapping by 0..MAX_OVERLAP pixels
    rng = np.random.default_rng(0)
    wide = np.full((50, 28, 28), 255, np.uint8)
    numbers = compose(wide, wide, rng)
    inked = (numbers > 0).any(1).sum(1)  # inked columns per number: 56 - overlap
    assert inked.min() >= 56 - MAX_OVERLAP and inked.max() == 56 and len(set(inked)) > 3
    assert number_label([4, 7]) == "47"


def test_framing_a_wide_number():
    gray = np.zeros((60, 300), np.float32)
    gray[10:50, 20:120] = 1.0  # a wide "number": ink 40 x 100, drawn off-centre
    gray[10:50, 180:280] = 1.0
    out = frame_number(gray)
    assert out.shape == (28, 56) and out.max() <= 1.0
    rows, cols = np.flatnonzero(out.max(1) > 0.05), np.flatnonzero(out.max(0) > 0.05)
    assert cols[-1] - cols[0] + 1 <= 45 and rows[-1] - rows[0] + 1 <= 22 * 40 / 260 * 6 + 2  # fitted into 22 x 44
    assert cols[-1] - cols[0] > 3 * (rows[-1] - rows[0])  # aspect kept (260 wide, 40 high)
    ys, xs = np.indices(out.shape)
    assert abs((xs * out).sum() / out.sum() - 28) <= 1 and abs((ys * out).sum() / out.sum() - 14) <= 1  # centred
    with pytest.raises(DataError, match="empty"):
        frame_number(np.zeros((10, 10)))


# --------------------------------------------------------------------------------------------- the CLI


@pytest.fixture
def two_digit_model(tiny_data_dir, tmp_path):
    out = tmp_path / "two"
    assert main(["train", "--model", "cvae", "--task", "two-digit", "--data", str(tiny_data_dir), "--out", str(out),
                 "--epochs", "1", "--latent", "4", "--hidden", "32", "--limit", "64", "--check", "4", "--quiet"]) == 0
    return out


def _number_pngs(folder, n):
    from PIL import Image

    images, labels = synthetic_digits(2 * n, seed=5)
    pairs = fixed_pairs(Dataset(images, labels.astype(np.int64), "tiny"), n)
    paths = []
    for i, image in enumerate(pairs.images):
        path = folder / f"number{i}.png"
        Image.fromarray(image).save(path)
        paths.append(str(path))
    return paths


def test_train_two_digit_records_the_task(two_digit_model):
    model, meta = checkpoints.load(two_digit_model)
    assert model.label_classes == (10, 10) and model.image_shape == (28, 56)
    assert meta["task"] == "two-digit" and "--task two-digit" in meta["command"]
    assert "both_digits_accuracy_first_4_test_pairs" in meta["metrics"]


def test_classify_two_digit_json(two_digit_model, tmp_path, capsys):
    paths = _number_pngs(tmp_path, 2)
    capsys.readouterr()
    for mode in ("per-label", "exhaustive"):
        assert main(["classify", *paths, "--model", str(two_digit_model), "--steps", "3", "--json", "--threshold", "0.2",
                     "--multi-label", mode, "--quiet"]) == 0
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [r["file"] for r in lines] == paths
        for r in lines:
            assert set(r) == {"file", "labels", "label", "ooc", "ooc_score", "verdict", "out_of_class", "distances"}
            assert len(r["labels"]) == 2 and r["label"] == f"{r['labels'][0]}{r['labels'][1]}"
            assert [len(d) for d in r["distances"]] == [10, 10]
            assert r["labels"] == [int(np.argmin(d)) for d in r["distances"]]
            assert r["out_of_class"] == (r["ooc"] > 0.2)
    assert load_image(paths[0], frame_number).shape == (28, 56)


def test_evaluate_two_digit_table(two_digit_model, tiny_data_dir, tmp_path, capsys):
    digit = tmp_path / "digit"
    assert main(["train", "--model", "cvae", "--data", str(tiny_data_dir), "--out", str(digit), "--epochs", "1",
                 "--latent", "4", "--hidden", "32", "--check", "0", "--quiet"]) == 0
    report = tmp_path / "report.json"
    assert main(["evaluate", "--task", "two-digit", "--model", str(two_digit_model), "--digit-model", str(digit),
                 "--data", str(tiny_data_dir), "--pairs", "6", "--sigmas", "0,0.4", "--steps", "2", "--quiet",
                 "--save-threshold", "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "| per-label | 0 |" in out and "| exhaustive | 0.4 |" in out and "| naive split | 0 |" in out
    rows = json.loads(report.read_text())["rows"]
    assert len(rows) == 6 and all(r["images"] == 6 and len(r["label_accuracy"]) == 2 for r in rows)
    assert checkpoints.read_meta(two_digit_model)["metrics"]["ooc_threshold"] > 0
    assert main(["evaluate", "--task", "two-digit", "--model", str(digit), "--data", str(tiny_data_dir), "--quiet"]) == 2
    assert "reads one label" in capsys.readouterr().err
