"""The batched latent search: equal to a one-image loop, reproducible, stoppable, honest about divergence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from igc_core.search import PRESETS, SearchConfig, SearchDiverged, classify_one, search, start_points


def _images(n=4, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, 28, 28), dtype=np.float32) - 0.5).astype(np.float32)


# Numerical comparisons between runs fix what "auto" would choose per batch size and machine load: a batch
# and a single image fall into different precision buckets, and thread counts move the last bits.
EXACT = {"precision": "fp32", "threads": 1}


def _loop(model, images, config, **kw):
    """The paper's way: one image at a time."""
    return [search(model, img[None], config, **kw) for img in images]


@pytest.mark.parametrize(
    "config",
    [
        SearchConfig(steps=15, lr=0.05, restarts=3, **EXACT),
        SearchConfig(steps=15, lr=0.05, restarts=2, dif="bce", score="loss", init="encoder", **EXACT),
        SearchConfig(steps=15, lr=0.05, restarts=2, dif="mse", keep_classes=3, prune_step=5, **EXACT),
        SearchConfig(steps=15, lr=0.05, restarts=2, intensity="affine", score="loss", **EXACT),
        SearchConfig(steps=15, lr=0.05, restarts=2, dif="mse", intensity="affine", binarize=0.4, keep_classes=3, prune_step=5, **EXACT),
    ],
)
def test_batched_search_equals_one_image_loop(tiny_model, config):
    images = _images(5)
    batched = search(tiny_model, images, config.with_(batch_size=2), return_reconstructions=True, return_latents=True)
    singles = _loop(tiny_model, images, config, return_reconstructions=True, return_latents=True)
    for i, one in enumerate(singles):
        assert batched.labels[i] == one.labels[0]
        np.testing.assert_allclose(batched.distances[i], one.distances[0], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(batched.latents[i], one.latents[0], rtol=1e-3, atol=1e-5)
        np.testing.assert_allclose(batched.reconstructions[i], one.reconstructions[0], atol=1e-4)
        assert np.array_equal(batched.best_restart[i], one.best_restart[0])


def test_batched_equals_loop_with_class_heads_and_a_scaled_latent():
    from igc_core.generators import ConditionalGenerator, GeneratorConfig

    torch.manual_seed(1)
    model = ConditionalGenerator(GeneratorConfig(latent_dim=3, hidden=(16, 16), encoder_hidden=(16,), class_heads=True, latent_scale=0.05)).eval()
    config = SearchConfig(steps=10, lr=0.005, restarts=2, **EXACT)
    images = _images(3)
    batched = search(model, images, config)
    for i, one in enumerate(_loop(model, images, config)):
        np.testing.assert_allclose(batched.distances[i], one.distances[0], rtol=1e-4, atol=1e-6)


def test_result_shapes_prediction_and_ooc(tiny_model):
    result = search(tiny_model, _images(3), SearchConfig(steps=5, lr=0.05, restarts=2), return_reconstructions=True, return_latents=True)
    assert result.labels.shape == (3,) and result.distances.shape == (3, 10)
    assert result.reconstructions.shape == (3, 10, 28, 28) and result.latents.shape == (3, 10, 4)
    assert np.array_equal(result.labels, result.distances.argmin(1))  # prediction: the closest class
    np.testing.assert_allclose(result.ooc, result.distances.min(1))  # OOC: that smallest distance
    assert result.steps_done == 5 and not result.stopped and not result.diverged.any()
    # the per-class distance is the best restart's final MAE to the image
    recon_mae = np.abs(result.reconstructions - _images(3)[:, None]).mean((2, 3))
    np.testing.assert_allclose(recon_mae, result.distances, rtol=1e-4, atol=1e-6)


def test_search_lowers_the_loss_and_seeded_runs_repeat(tiny_model):
    losses = []
    # bit-for-bit repeats need a fixed thread count: sigmoid's vectorised and scalar paths differ in the last
    # bit, and which elements take which path depends on how the work is split between threads
    config = SearchConfig(steps=30, lr=0.05, restarts=3, seed=7, **EXACT)
    first = search(tiny_model, _images(2), config, on_snapshot=lambda s: losses.append(s.losses.mean()), snapshot_every=1)
    assert losses[-1] < losses[0]
    again = search(tiny_model, _images(2), config)
    assert np.array_equal(first.distances, again.distances)
    other_seed = search(tiny_model, _images(2), config.with_(seed=8))
    assert not np.array_equal(first.distances, other_seed.distances)


def test_restart_zero_starts_at_the_prior_mean_and_others_around_it(tiny_model):
    with torch.no_grad():
        tiny_model.prior_mean.fill_(0.3)
        tiny_model.prior_std.fill_(2.0)
    starts = start_points(tiny_model, SearchConfig(restarts=50, seed=1), torch.device("cpu"))
    assert starts.shape == (10, 50, 4)
    assert torch.allclose(starts[:, 0], torch.full((10, 4), 0.3))
    rest = starts[:, 1:]
    assert abs(rest.mean().item() - 0.3) < 0.15 and abs(rest.std().item() - 2.0) < 0.2


def test_snapshots_report_every_k_steps_with_images(tiny_model):
    snaps = []
    search(tiny_model, _images(1), SearchConfig(steps=10, restarts=2), on_snapshot=snaps.append, snapshot_every=4, snapshot_images=True)
    assert [s.step for s in snaps] == [0, 4, 8, 10]
    assert snaps[0].losses.shape == (1, 10, 2) and snaps[0].reconstructions.shape == (1, 10, 2, 28, 28)
    assert snaps[-1].active.all()
    assert np.all(snaps[-1].losses >= snaps[-1].difs)  # L = L_DD + lambda * L_LR


def test_should_stop_ends_early_and_still_returns_results(tiny_model):
    calls = []

    def stop():
        calls.append(1)
        return len(calls) >= 3

    result = search(tiny_model, _images(2), SearchConfig(steps=50), should_stop=stop)
    assert result.stopped and result.steps_done == 3
    assert np.isfinite(result.distances).all()


def test_pruning_keeps_only_the_best_classes_searching(tiny_model):
    snaps = []
    config = SearchConfig(steps=12, lr=0.05, keep_classes=2, prune_step=4, **EXACT)
    result = search(tiny_model, _images(2), config, on_snapshot=snaps.append, snapshot_every=1)
    assert snaps[0].active.all() and snaps[-1].active.sum(1).tolist() == [2, 2]
    # pruned classes keep the distance they stopped at, and still count in the ranking
    assert np.array_equal(result.labels, result.distances.argmin(1))
    for i in range(2):
        frozen = ~snaps[-1].active[i]
        np.testing.assert_allclose(snaps[-1].difs[i, frozen, 0], snaps[5].difs[i, frozen, 0])


def test_a_diverging_search_is_reported_not_returned(tiny_model):
    result = search(tiny_model, _images(3), SearchConfig(steps=30, lr=50.0))
    assert result.diverged.all() and (result.labels == -1).all()
    with pytest.raises(SearchDiverged, match="lower the learning rate"):
        classify_one(tiny_model, _images(1)[0], SearchConfig(steps=30, lr=50.0))
    sane = search(tiny_model, _images(3), SearchConfig(steps=30, lr=0.05))
    assert not sane.diverged.any()


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"steps": -1}, "steps"),
        ({"lr": 0.0}, "learning rate"),
        ({"lr": float("nan")}, "learning rate"),
        ({"lambda_lr": -1.0}, "lambda"),
        ({"restarts": 0}, "restarts"),
        ({"dif": "l3"}, "dif must be one of"),
        ({"device": "tpu"}, "device"),
        ({"keep_classes": 3, "prune_step": 0}, "prune_step"),
        ({"batch_size": 0}, "batch size"),
    ],
)
def test_config_is_validated_with_readable_messages(changes, message):
    with pytest.raises(ValueError, match=message):
        SearchConfig(**changes)


def test_bad_images_are_refused(tiny_model):
    with pytest.raises(ValueError, match="shape"):
        search(tiny_model, np.zeros((2, 20, 20), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        search(tiny_model, np.full((1, 28, 28), np.nan, np.float32))
    with pytest.raises(ValueError, match=r"\[-0.5, 0.5\]"):
        search(tiny_model, np.full((1, 28, 28), 200.0, np.float32))


def test_the_model_is_left_as_it_was(tiny_model):
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    flags = [p.requires_grad for p in tiny_model.parameters()]
    search(tiny_model, _images(1), SearchConfig(steps=5, lr=0.1))
    assert all(torch.equal(before[k], v) for k, v in tiny_model.state_dict().items())
    assert flags == [p.requires_grad for p in tiny_model.parameters()]


def test_presets_include_the_papers_protocol():
    paper = PRESETS["paper"]
    assert (paper.steps, paper.lr, paper.lambda_lr, paper.dif, paper.restarts) == (100, 0.001, 0.03, "mae", 1)
    assert PRESETS["paper-parallel"].restarts == 5


def test_zero_steps_scores_the_starting_points(tiny_model):
    result = search(tiny_model, _images(1), SearchConfig(steps=0))
    assert result.steps_done == 0 and np.isfinite(result.distances).all()


def test_snapshot_latents_follow_the_search_and_batched_equals_loop(tiny_model):
    config = SearchConfig(steps=6, lr=0.05, restarts=2, batch_size=2, **EXACT)
    images = _images(3)

    def run(imgs, **kw):
        snaps = []
        result = search(tiny_model, imgs, config, on_snapshot=snaps.append, snapshot_every=1, return_latents=True, **kw)
        return result, snaps

    plain, snaps = run(images[:1])
    assert all(s.latents is None for s in snaps)  # off by default
    result, snaps = run(images, snapshot_latents=True)
    L = tiny_model.latent_dim
    steps0 = [s for s in snaps if s.step == 0]
    assert all(s.latents.shape == (len(s.losses), 10, 2, L) for s in snaps)
    starts = start_points(tiny_model, config, torch.device("cpu")).numpy()
    np.testing.assert_allclose(steps0[0].latents[0], starts)  # step 0: the starting points
    finals = [s for s in snaps if s.step == config.steps]
    final = np.concatenate([s.latents for s in finals])  # (N, C, R, L) at the end
    best = np.take_along_axis(final, result.best_restart[:, :, None, None], axis=2)[:, :, 0]
    np.testing.assert_allclose(best, result.latents, rtol=1e-6, atol=1e-7)  # the same latents the result returns
    assert not np.allclose(snaps[1].latents, steps0[0].latents[:2])  # they move
    for i in range(3):  # one image at a time gives the same paths
        _, single = run(images[i : i + 1], snapshot_latents=True)
        chunk = [s for s in snaps if s.first_image <= i < s.first_image + len(s.losses)]
        for a, b in zip(chunk, single):
            assert a.step == b.step
            np.testing.assert_allclose(a.latents[i - a.first_image], b.latents[0], rtol=1e-4, atol=1e-6)


def test_starting_images_are_what_step_zero_draws(tiny_model):
    from igc_core.search import starting_images

    config = SearchConfig(steps=1, restarts=3, **EXACT)
    snaps = []
    search(tiny_model, _images(1), config, on_snapshot=snaps.append, snapshot_every=1, snapshot_images=True)
    start = starting_images(tiny_model, config)
    assert start.shape == (10, 3, 28, 28) and start.min() >= -0.5 and start.max() <= 0.5
    np.testing.assert_allclose(start, snaps[0].reconstructions[0], atol=1e-5)
