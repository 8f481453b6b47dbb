"""Attacks and the robustness ledger: budgets respected exactly, the IGC gradient is the true one, nested counting,
the contrast transform, and `igc attack` end to end on tiny models."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from igc_core import attacks as A
from igc_core.baseline import CNNClassifier, CNNConfig
from igc_core.generators import ConditionalGenerator, GeneratorConfig
from igc_core.robustness import Ledger, SuiteConfig, Verdict
from igc_core.search import SearchConfig, fit_intensity, objective, search


def _digits(n=6, seed=0):
    """Images in [-0.5, 0.5] with some pixels at the box's edges, so clipping is exercised."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 28, 28), dtype=np.float32) - 0.5
    x[:, :4] = -0.5
    x[:, -4:] = 0.5
    return torch.as_tensor(x)


@pytest.fixture
def tiny_cnn():
    torch.manual_seed(0)
    return CNNClassifier(CNNConfig(channels=(4, 8), hidden=16)).eval()


# ------------------------------------------------------------------------------------------ budgets


@pytest.mark.parametrize("norm, eps", [("linf", 0.1), ("linf", 0.3), ("l2", 1.0), ("l2", 2.5)])
def test_pgd_and_fgsm_stay_within_the_budget_and_the_box(tiny_cnn, norm, eps):
    x, y = _digits(), torch.arange(6) % 10
    oracle = A.cnn_oracle(tiny_cnn)
    for config in (A.PGDConfig(norm, eps, steps=7, seed=1), A.PGDConfig.fgsm(norm, eps)):
        for adv in A.pgd(oracle, x, y, config):
            size = A.perturbation_norm(adv - x, norm)
            assert (size <= eps + 1e-6).all(), (config, size.max())
            assert adv.min() >= -0.5 and adv.max() <= 0.5
            assert (size > 0.5 * eps).all()  # and it did move


def test_fgsm_takes_exactly_one_full_step_where_the_box_allows(tiny_cnn):
    x = torch.zeros(3, 28, 28)  # mid-grey: no pixel is clipped by a step of 0.2
    y = torch.tensor([0, 1, 2])
    _, grad = A.cnn_oracle(tiny_cnn)(x, y)
    last, _ = A.pgd(A.cnn_oracle(tiny_cnn), x, y, A.PGDConfig.fgsm("linf", 0.2))
    moved = grad != 0
    torch.testing.assert_close((last - x)[moved], 0.2 * grad.sign()[moved])
    last, _ = A.pgd(A.cnn_oracle(tiny_cnn), x, y, A.PGDConfig.fgsm("l2", 1.5))
    torch.testing.assert_close(A.perturbation_norm(last - x, "l2"), torch.full((3,), 1.5))


def test_projection_is_exact_and_keeps_small_perturbations():
    rng = torch.Generator().manual_seed(0)
    delta = torch.randn(5, 28, 28, generator=rng)
    assert torch.allclose(A.perturbation_norm(A.project(delta, "l2", 1.5), "l2"), torch.full((5,), 1.5))
    assert A.project(delta, "linf", 0.1).abs().max() <= 0.1
    small = 1e-3 * delta
    assert torch.equal(A.project(small, "l2", 1.5), small)
    with pytest.raises(ValueError, match="norm"):
        A.PGDConfig(norm="l1")
    with pytest.raises(ValueError, match="budget"):
        A.PGDConfig(eps=0.0)


def test_pgd_on_the_cnn_flips_labels(tiny_cnn):
    """A working attack: PGD at a large budget fools even an untrained CNN on most images."""
    x = _digits(8)
    y = torch.as_tensor(tiny_cnn.predict(x.numpy()))
    last, best = A.pgd(A.cnn_oracle(tiny_cnn), x, y, A.PGDConfig("linf", 0.3, steps=20))
    assert (torch.as_tensor(tiny_cnn.predict(best.numpy())) != y).float().mean() >= 0.75


# ----------------------------------------------------------------------------- the IGC gradient


def _exact_values(generator, x, z_start, config, iters=200):
    """min over z of the objective per class, solved tightly (L-BFGS from z_start): (C,) for one image."""
    C = generator.num_classes
    z = z_start.clone().requires_grad_(True)
    cond = generator.one_hot(torch.arange(C))
    target = x.reshape(1, -1).expand(C, -1)
    opt = torch.optim.LBFGS([z], lr=1, max_iter=iters, tolerance_grad=1e-12, tolerance_change=1e-15,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = objective(generator, z, cond, target, config)[0].sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return objective(generator, z, cond, target, config)[0].double(), z.detach()


def test_the_through_the_optimum_gradient_matches_a_finite_difference():
    """dV/dx at the optimum is the objective's partial derivative there (the envelope theorem): the oracle's
    gradient of the class margin equals a central finite difference of the exactly re-solved margin."""
    torch.manual_seed(3)
    generator = ConditionalGenerator(GeneratorConfig(latent_dim=3, num_classes=2, hidden=(12,), encoder_hidden=(8,))).eval()
    generator.requires_grad_(False)
    config = SearchConfig(steps=1, lr=1e-9, lambda_lr=0.0, dif="mse", precision="fp32", threads=1)
    x = _digits(1, seed=5)
    y = torch.tensor([0])
    z0 = torch.zeros(2, 3)
    _, z_star = _exact_values(generator, x[0], z0, config)
    oracle = A.OptimumOracle(generator, config, surrogate="mse", refine_steps=1)
    oracle.z, oracle.m1, oracle.m2, oracle.t = z_star.clone(), torch.zeros(2, 3), torch.zeros(2, 3), 0
    value, grad = oracle(x, y)

    def margin(image):
        values, _ = _exact_values(generator, image, z_star, config)
        return values[0] - values[1]

    assert value.item() == pytest.approx(margin(x[0]).item(), abs=1e-6)
    rng = torch.Generator().manual_seed(0)
    for _ in range(3):
        v = torch.randn(28, 28, generator=rng)
        h = 1e-2
        numeric = (margin(x[0] + h * v) - margin(x[0] - h * v)) / (2 * h)
        analytic = (grad[0].double() * v.double()).sum()
        assert analytic.item() == pytest.approx(numeric.item(), rel=2e-3, abs=1e-7)


def test_the_mae_gradient_is_a_sign_pattern_and_the_surrogate_is_not(tiny_model):
    """Why the attack differentiates a smooth stand-in: MAE's gradient has one magnitude for every pixel."""
    config = SearchConfig(steps=5, lr=0.05, precision="fp32", threads=1)
    x, y = _digits(2), torch.tensor([0, 1])
    _, g_mae = A.OptimumOracle(tiny_model, config, surrogate="mae", refine_steps=1)(x, y)
    _, g_mse = A.OptimumOracle(tiny_model, config, surrogate="mse", refine_steps=1)(x, y)
    assert len(torch.unique(g_mae[0].abs().round(decimals=7))) <= 3  # 0 and 1/P, 2/P
    assert len(torch.unique(g_mse[0].abs().round(decimals=7))) > 100


def test_the_unrolled_oracle_runs_and_moves_the_latents(tiny_model):
    config = SearchConfig(steps=5, lr=0.05, precision="fp32", threads=1)
    x, y = _digits(2), torch.tensor([0, 1])
    oracle = A.UnrolledOracle(tiny_model, config, unroll=3, refine_steps=2)
    value, grad = oracle(x, y)
    assert value.shape == (2,) and grad.shape == x.shape and torch.isfinite(grad).all() and grad.abs().sum() > 0
    adv, _ = A.pgd(oracle, x, y, A.PGDConfig("l2", 1.0, steps=2))
    assert (A.perturbation_norm(adv - x, "l2") <= 1.0 + 1e-6).all()


# ------------------------------------------------------------------------------------------ counting


def test_nested_counting_worst_case_and_correct_or_rejected():
    clean = torch.zeros(4, 28, 28)
    labels = np.array([1, 2, 3, 4])
    ledger = Ledger(clean, labels, {"linf": (0.1, 0.2, 0.3), "l2": (1.0, 2.0)}, threshold=0.5)
    ledger.record("clean", clean, Verdict(labels.copy(), np.zeros(4)))
    # attack a: image 0 fooled at L-inf 0.05 (accepted), image 1 fooled at 0.25 but rejected (OOC 0.9)
    adv = clean.clone()
    adv[0, 0, 0], adv[1, 0, 0] = 0.05, 0.25
    ledger.record("a", adv, Verdict(np.array([7, 7, 3, 4]), np.array([0.1, 0.9, 0.1, 0.1])))
    # attack b: image 2 fooled by an L2-sized perturbation of 1.5 spread thinly (L-inf 1.5/28)
    adv = clean.clone()
    adv[2] = 1.5 / 28
    ledger.record("b", adv, Verdict(np.array([1, 2, 9, 4]), np.zeros(4)))
    # a weaker success of a at a larger budget does not undo the smaller one
    adv = clean.clone()
    adv[0, 0, 0] = 0.3
    ledger.record("a", adv, Verdict(np.array([1, 2, 3, 4]), np.zeros(4)))

    assert ledger.accuracy("linf", 0.01, "a") == 100.0
    assert ledger.accuracy("linf", 0.1, "a") == 75.0  # image 0, counted at every budget above 0.05
    assert ledger.accuracy("linf", 0.3, "a") == 50.0
    assert ledger.accuracy("linf", 0.3, "a", reject=True) == 75.0  # image 1 was rejected, not fooled
    assert ledger.accuracy("linf", 0.05, "a") == 75.0  # exactly at the budget counts
    assert ledger.accuracy("l2", 1.0, "b") == 100.0 and ledger.accuracy("l2", 2.0, "b") == 75.0
    assert ledger.accuracy("linf", 0.1, "b") == 75.0  # the L2 adversarial is small in L-inf too
    assert ledger.accuracy("linf", 0.1) == 50.0  # worst case: images 0 (a) and 2 (b)
    assert ledger.accuracy("linf", 0.3) == 25.0
    assert ledger.accuracy("linf", 0.3, reject=True) == 50.0
    assert ledger.examples["linf", 0.1][0].fooled and ledger.examples["linf", 0.1][0].attack == "a"


def test_a_wrong_clean_label_counts_as_broken_at_zero_and_divergence_as_rejected():
    clean = torch.zeros(2, 28, 28)
    ledger = Ledger(clean, np.array([1, 2]), {"linf": (0.1,)}, threshold=0.5)
    ledger.record("clean", clean, Verdict(np.array([3, -1]), np.zeros(2)))
    assert ledger.accuracy("linf", 0.0) == 0.0
    assert ledger.accuracy("linf", 0.1, reject=True) == 50.0  # the diverged search refused to answer


def test_suite_config_is_validated():
    with pytest.raises(ValueError, match="unknown attack"):
        SuiteConfig(attacks=("pgd", "magic"))
    with pytest.raises(ValueError, match="below 0.5"):
        SuiteConfig(linf=(0.6,))
    with pytest.raises(ValueError, match="does not apply"):
        SuiteConfig(attacks=("optimum",)).jobs("cnn")
    levels = SuiteConfig(linf=(0.1, 0.3), contrast_step=0.1).contrast_levels()
    assert levels == pytest.approx([0.1, 0.2, 0.3])


# ------------------------------------------------------------------------------ gradient-free attacks


def test_contrast_and_noise_have_the_size_they_claim():
    x = _digits(3)
    grey = A.contrast(x, 0.2, "grey")
    assert A.perturbation_norm(grey - x, "linf").max() <= 0.2 + 1e-6
    np.testing.assert_allclose(A.perturbation_norm(grey - x, "linf"), 0.2, atol=1e-6)  # the box's edges move by 0.2
    faded = A.contrast(x, 0.2, "black")
    assert (faded >= -0.5).all() and A.perturbation_norm(faded - x, "linf").max() <= 0.2 + 1e-6
    rng = torch.Generator().manual_seed(0)
    for norm, eps in (("linf", 0.1), ("l2", 1.5)):
        noisy = A.random_noise(x, norm, eps, rng)
        assert (A.perturbation_norm(noisy - x, norm) <= eps + 1e-6).all()


def test_the_boundary_walk_only_gets_closer_and_stays_adversarial():
    """Against a toy product (label = is the mean brightness above 0), every returned point is adversarial and
    no further from the original than its start."""
    x = torch.full((4, 28, 28), -0.2)
    y = torch.zeros(4, dtype=torch.int64)
    starts = torch.full((4, 28, 28), 0.3)
    label = lambda images: (images.mean((1, 2)) > 0).long().numpy()  # noqa: E731
    adv = A.boundary_attack(label, x, y, starts, steps=10, bisections=8)
    assert (label(adv) == 1).all()
    assert (A.perturbation_norm(adv - x, "l2") <= A.perturbation_norm(starts - x, "l2")).all()
    assert (A.perturbation_norm(adv - x, "l2") < 0.45 * A.perturbation_norm(starts - x, "l2")).all()


# ------------------------------------------------------------------------------- intensity transform


def test_fit_intensity_recovers_a_line_and_respects_its_bounds():
    rng = torch.Generator().manual_seed(0)
    recon = torch.rand(3, 50, generator=rng) - 0.5
    target = 0.6 * recon + 0.1
    a, b = fit_intensity(recon, target, 0.25, 1.5)
    torch.testing.assert_close(a.squeeze(1), torch.full((3,), 0.6), atol=1e-4, rtol=0)
    torch.testing.assert_close(b.squeeze(1), torch.full((3,), 0.1), atol=1e-4, rtol=0)
    a, _ = fit_intensity(recon, 0.1 * recon, 0.25, 1.5)
    assert torch.allclose(a, torch.full_like(a, 0.25))


def test_the_contrast_transform_is_searched_and_recovers_a_scaled_input(tiny_model):
    """A class's own drawing, faded toward grey and brightened, is matched exactly once the intensity is searched."""
    with torch.no_grad():
        z = tiny_model.prior_mean + 0.5 * tiny_model.prior_std
        own = tiny_model.decode(z.view(1, -1), tiny_model.one_hot(torch.tensor([3])))  # (1, 28, 28)
    faint = (0.4 * own + 0.05).numpy()
    base = SearchConfig(steps=60, lr=0.05, lambda_lr=0.0, precision="fp32", threads=1)
    plain = search(tiny_model, faint, base, return_reconstructions=True)
    fitted = search(tiny_model, faint, base.with_(intensity="affine"), return_reconstructions=True)
    assert fitted.distances[0, 3] < 0.1 * plain.distances[0, 3]
    assert fitted.distances[0, 3] < 0.01
    np.testing.assert_allclose(fitted.reconstructions[0, 3], faint[0], atol=0.03)


def test_binarize_compares_against_ink_or_paper(tiny_model):
    image = np.full((1, 28, 28), -0.5, np.float32)
    image[0, 10:18, 10:18] = 0.2  # ink at 0.7 on the 0-1 scale
    config = SearchConfig(steps=3, lr=0.05, precision="fp32", threads=1, binarize=0.5)
    result = search(tiny_model, image, config, return_reconstructions=True)
    binary = np.where(image + 0.5 > 0.5, 0.5, -0.5)
    recon_mae = np.abs(result.reconstructions[0] - binary[0]).mean((1, 2))
    np.testing.assert_allclose(recon_mae, result.distances[0], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("changes, message", [
    ({"intensity": "gamma"}, "intensity must be one of"),
    ({"intensity": "affine", "dif": "bce"}, "intensity transform needs"),
    ({"min_contrast": 0.0}, "contrast range"),
    ({"max_contrast": 0.9}, "contrast range"),
    ({"binarize": 1.0}, "binarize"),
])
def test_robustness_settings_are_validated(changes, message):
    with pytest.raises(ValueError, match=message):
        SearchConfig(**changes)


# ------------------------------------------------------------------------------------- igc attack


def test_igc_attack_end_to_end_on_tiny_models(tiny_data_dir, tiny_model, tmp_path, capsys):
    from igc_core import checkpoints
    from igc_core.cli import main

    checkpoints.save(tiny_model, tmp_path / "gen", {"command": "test"})
    torch.manual_seed(0)
    checkpoints.save(CNNClassifier(CNNConfig(channels=(4, 8), hidden=16)).eval(), tmp_path / "cnn", {"command": "test"})
    common = ["--model", str(tmp_path / "gen"), "--cnn", str(tmp_path / "cnn"), "--data", str(tiny_data_dir),
              "--images", "4", "--select", "all", "--linf", "0.1,0.3", "--l2", "1.5", "--pgd-steps", "2",
              "--refine-steps", "1", "--unroll", "1", "--unrolled-steps", "1", "--boundary-steps", "1",
              "--contrast-step", "0.15", "--noise-draws", "1", "--steps", "4", "--lr", "0.05", "--threads", "1", "--quiet"]
    out_json = tmp_path / "igc.json"
    code = main(["attack", *common, "--attacks", "transfer,optimum,unrolled,ooc,contrast,noise,boundary",
                 "--threshold", "measure", "--json", str(out_json), "--examples", str(tmp_path / "ex" / "igc")])
    assert code == 0
    out = capsys.readouterr().out
    assert "| **worst case** |" in out and "correct or rejected" in out and "`igc attack " in out
    report = json.loads(out_json.read_text())
    assert set(report["accuracy"]) >= {"clean", "transfer", "optimum", "unrolled", "ooc", "contrast", "noise", "boundary", "worst case"}
    worst = report["accuracy"]["worst case"]
    assert worst["linf 0.3"] <= worst["linf 0.1"] <= report["accuracy"]["clean"]["linf 0.1"]  # nested
    assert len(report["test_indices"]) == 4 and max(report["test_indices"]) < 32  # the threshold's images held out
    assert (tmp_path / "ex" / "igc-linf.png").exists() and (tmp_path / "ex" / "igc-l2.png").exists()

    code = main(["attack", *common, "--target", "cnn", "--attacks", "fgsm,pgd,contrast"])
    assert code == 0
    assert "Robustness of the CNN" in capsys.readouterr().out

    assert main(["attack", *common, "--target", "cnn", "--attacks", "optimum"]) == 2
    assert "does not apply" in capsys.readouterr().err
