"""The presenter's view function, tested without Qt: what the screen says at each step, from plain data."""

import numpy as np
import pytest

from app.model.history import Frame, History
from app.model.threshold import Threshold, gauge_max, threshold_for
from app.model.view import RunInfo, SessionState, format_pair, make_view
from igc_core.search import SearchConfig, SearchResult

C = 10


def frame(step, difs, losses=None, steps=10):
    difs = np.asarray(difs, dtype=np.float32).reshape(C, -1)
    losses = difs.copy() if losses is None else np.asarray(losses, dtype=np.float32).reshape(C, -1)
    return Frame(step=step, steps=steps, losses=losses, difs=difs, active=np.ones(C, bool),
                 reconstructions=np.zeros((C, difs.shape[1], 28, 28), np.float16))


def result_for(f: Frame, config: SearchConfig, stopped=False, diverged=False) -> SearchResult:
    per = f.difs.min(axis=1)
    label = -1 if diverged else int(np.argmin(per))
    return SearchResult(labels=np.array([label]), ooc=np.array([per.min()]), distances=per[None],
                        best_restart=f.difs.argmin(axis=1)[None], diverged=np.array([diverged]), steps_done=f.step,
                        stopped=stopped, config=config, precision="fp32", precision_reason="chosen in the settings")


def state(frames, result=None, status="idle", threshold=0.1, cursor=None, config=None, curves="dif", true_label=None,
          sigma=0.0, source="measured"):
    config = config or SearchConfig(steps=frames[-1].steps if frames else 10)
    h = History()
    for f in frames:
        h.append(f)
    run = RunInfo(config=config, image=np.zeros((28, 28), np.float32), sigma=sigma, name="test", true_label=true_label)
    return SessionState(status=status, run=run, history=h, cursor=cursor, result=result,
                        threshold=Threshold(threshold, sigma, source), gauge_max=2 * threshold, curves=curves,
                        model_name="tiny")


def distances(best, value, others=0.2):
    d = np.full(C, others, dtype=np.float32)
    for c, v in zip(best, value):
        d[c] = v
    return d


# ------------------------------------------------------------------------------------ numbers


def test_both_sides_of_a_comparison_have_the_same_decimals():
    assert format_pair(0.06795, 0.06786) == ("0.06795", "0.06786")  # was "0.0679 > 0.068" on screen
    a, b = format_pair(0.0679, 0.068)
    assert len(a) == len(b) and a != b
    assert format_pair(0.00004, 0.004) == ("0.000040", "0.004000")  # a tiny margin is not printed as 0.0000
    assert format_pair(0.1, 0.12) == ("0.1000", "0.1200")


# ------------------------------------------------------------------------------------ verdicts


def test_in_class_uncertain_and_out_of_class():
    cfg = SearchConfig(steps=10)
    clear = frame(10, distances([3, 5], [0.05, 0.08]))
    v = make_view(state([frame(0, distances([], [])), clear], result_for(clear, cfg), config=cfg))
    assert v.verdict.kind == "in" and v.verdict.big == "3" and v.leader == 3 and v.runner_up == 5
    assert v.margin == pytest.approx(0.03) and "3 ahead of 5 by 0.0300" in v.verdict.detail
    close = frame(10, distances([3, 5], [0.05, 0.0504]))
    v = make_view(state([close], result_for(close, cfg), config=cfg))
    assert v.verdict.kind == "uncertain" and v.verdict.big == "3?" and "3 or 5" in v.verdict.headline
    far = frame(10, distances([3, 5], [0.15, 0.18]))
    v = make_view(state([far], result_for(far, cfg), config=cfg))
    assert v.verdict.kind == "out" and v.verdict.big == "?" and "closest: 3" in v.verdict.detail
    assert "OOC 0.1500 > threshold 0.1000" in v.verdict.detail


def test_ooc_and_threshold_print_alike_when_they_differ_in_the_fifth_decimal():
    cfg = SearchConfig(steps=10)
    f = frame(10, distances([3, 5], [0.06795, 0.09]))
    v = make_view(state([f], result_for(f, cfg), threshold=0.06786, config=cfg))
    assert v.verdict.kind == "out" and "OOC 0.0680 > threshold 0.0679" in v.verdict.detail
    assert (v.shown_ooc, v.shown_threshold) == ("0.0680", "0.0679")
    f = frame(10, distances([3, 5], [0.067861, 0.09]))  # equal to 4 decimals: more are shown
    v = make_view(state([f], result_for(f, cfg), threshold=0.06786, config=cfg))
    assert v.verdict.kind == "out" and (v.shown_ooc, v.shown_threshold) == ("0.067861", "0.067860")


def test_ranking_curves_and_verdict_use_the_quantity_that_decides():
    """The whole loss and L_DD disagree (8 has the lower loss, 3 the lower L_DD): everything says 3."""
    cfg = SearchConfig(steps=10)
    difs = distances([3, 8], [0.07, 0.08])
    losses = distances([3, 8], [0.10, 0.09], others=0.3)
    frames = [frame(0, distances([], []), distances([], [], 0.3)), frame(10, difs, losses)]
    v = make_view(state(frames, result_for(frames[-1], cfg), config=cfg))
    assert v.leader == 3 and v.order[0] == 3 and v.verdict.big == "3"
    assert v.curve_name == "L_DD" and v.curve_decides
    assert int(np.argmin(v.curve_values[-1])) == 3  # the curve that ends lowest is the winner
    loss_view = make_view(state(frames, result_for(frames[-1], cfg), config=cfg, curves="loss"))
    assert loss_view.curve_name == "L" and not loss_view.curve_decides and loss_view.leader == 3


def test_mid_search_and_scrubbing_are_provisional():
    cfg = SearchConfig(steps=10)
    frames = [frame(s, distances([5, 3], [0.1 - 0.005 * s, 0.1 - 0.008 * s])) for s in range(11)]
    v = make_view(state(frames[:4], status="running", config=cfg))
    assert v.verdict.kind == "provisional" and v.verdict.headline == "searching: step 3 of 10"
    assert not v.final and "closest so far" in v.verdict.detail
    done = state(frames, result_for(frames[-1], cfg), cursor=2, config=cfg)
    v = make_view(done)
    assert v.step == 2 and v.verdict.kind == "provisional" and "final answer: 3" in v.verdict.headline
    assert v.leader == int(np.argmin(frames[2].difs.min(axis=1)))  # grid frame, bars and verdict at step 2
    stopped = make_view(state(frames[:5], None, config=cfg))
    assert "stopped at step 4 of 10: no verdict" in stopped.verdict.headline


def test_diverged_and_failed_runs():
    cfg = SearchConfig(steps=10, lr=5.0)
    f = frame(10, distances([2], [0.3]))
    v = make_view(state([f], result_for(f, cfg, diverged=True), config=cfg))
    assert v.verdict.kind == "diverged" and v.verdict.big == "?" and "try 0.5" in v.verdict.detail
    failed = make_view(SessionState(error="boom", model_name="tiny"))
    assert failed.verdict.kind == "failed" and failed.verdict.detail == "boom"
    assert make_view(SessionState()).verdict.headline == "no model loaded"


def test_true_label_is_marked():
    cfg = SearchConfig(steps=10)
    f = frame(10, distances([7, 1], [0.04, 0.09]))
    assert "true label 7 ✓" in make_view(state([f], result_for(f, cfg), config=cfg, true_label=7)).verdict.detail
    assert "true label 1 ✗" in make_view(state([f], result_for(f, cfg), config=cfg, true_label=1)).verdict.detail


def test_the_views_arrays_are_read_only():
    cfg = SearchConfig(steps=10)
    f = frame(10, distances([7], [0.04]))
    v = make_view(state([frame(0, distances([], [])), f], result_for(f, cfg), config=cfg))
    for a in (v.distances, v.curve_values, v.curve_steps, v.best_restart):
        with pytest.raises(ValueError):
            a[0] = 1


# ------------------------------------------------------------------------------------ thresholds


META = {"metrics": {"ooc_threshold": 0.066, "ooc_thresholds_by_sigma": {"0": 0.066, "0.1": 0.093, "0.2": 0.125},
                    "ooc_threshold_search": SearchConfig().to_dict()}}


def test_the_threshold_follows_the_noise():
    measured = SearchConfig()  # the search META's thresholds were measured with (not the default preset, robust)
    assert threshold_for(META, 0.0, measured).value == pytest.approx(0.066)
    t = threshold_for(META, 0.2, measured)
    assert t.value == pytest.approx(0.125) and t.source == "measured" and "σ 0.20" in t.note
    t = threshold_for(META, 0.15, measured)
    assert t.value == pytest.approx((0.093 + 0.125) / 2) and t.source == "interpolated"
    clean_only = {"metrics": {"ooc_threshold": 0.07}}
    t = threshold_for(clean_only, 0.3, measured)  # a sidecar that does not name its search: the paper's (MAE)
    assert t.value == pytest.approx(0.07) and t.source == "clean" and "clean digits only" in t.note
    assert threshold_for({}, 0.0).source == "fallback"
    assert gauge_max(threshold_for(META, 0.2, measured)) == pytest.approx(0.25)  # fixed per model and noise: never per run


def test_a_threshold_for_other_search_settings_gives_no_out_of_class_verdict():
    """Issue 14: a threshold holds only for the distances it was measured on; a run with other distance settings is
    ranked, not judged, and the note says why (it once borrowed the threshold of another configuration)."""
    mse = SearchConfig(dif="mse", steps=10)
    t = threshold_for(META, 0.0, mse)
    assert not t.comparable and "no out-of-class verdict" in t.note
    f = frame(10, distances([3, 5], [0.5, 0.9], others=1.0))
    s = state([f], result_for(f, mse), config=mse)
    v = make_view(SessionState(**{**s.__dict__, "threshold": t}))
    assert v.verdict.kind == "ranked" and v.verdict.big == "3" and "no OOC verdict" in v.verdict.headline
    other = threshold_for(META, 0.0, SearchConfig(steps=30))
    assert not other.comparable and other.differs == ("steps",) and "other steps" in other.note
    assert threshold_for(META, 0.0, SearchConfig(precision="fp32", seed=3, threads=1)).comparable  # distances as measured


def test_a_threshold_measured_without_the_robustness_options_says_so():
    """The intensity fit, binarising and the rest change the distances: the note names them (it once did not)."""
    t = threshold_for(META, 0.0, SearchConfig(intensity="affine"))
    assert t.differs == ("intensity",) and not t.comparable and "other intensity fit" in t.note
    t = threshold_for(META, 0.0, SearchConfig(lambda_lr=0.1, binarize=0.5, score="loss", score_lambda=0.2))
    assert t.differs == ("lambda_lr", "score", "binarize", "score_lambda") and not t.comparable
    t = threshold_for(META, 0.0, SearchConfig(lambda_lr=0.1, binarize=0.5, precision="fp32", seed=3))
    assert not t.comparable and "other λ_LR, binarize" in t.note  # precision, seed: no change


def test_a_calibration_for_the_run_gives_the_verdict_on_its_score():
    """igc calibrate's result: the score divides by the ink, its own uncertain lead, only for its settings."""
    from igc_core import verdict

    config = SearchConfig(steps=10)
    cal = verdict.Calibration("ink", verdict.settings_of(config), {0.0: 0.2, 0.5: 0.4}, margin=0.01, measured_by="igc calibrate")
    meta = verdict.with_calibration({"metrics": META["metrics"]}, cal)
    t = threshold_for(meta, 0.25, config)
    assert t.comparable and t.score == "ink" and t.value == pytest.approx(0.3) and t.source == "interpolated"
    assert t.note == "interpolated for noise σ 0.25, these settings"  # which search measured it
    robust = SearchConfig.from_preset("robust")
    named = threshold_for(verdict.with_calibration({}, verdict.Calibration("ink", verdict.settings_of(robust), {0.0: 0.1},
                                                                          margin=0.0)), 0.0, robust)
    assert named.note == "measured for noise σ 0.00, robust search"
    f = frame(10, distances([3, 5], [0.02, 0.05], others=1.0))
    s = state([f], result_for(f, config), config=config)
    v = make_view(SessionState(**{**s.__dict__, "threshold": t, "margin": None}))
    ink = float((s.run.image + 0.5).mean())
    assert v.ooc == pytest.approx(0.02 / np.sqrt(ink + verdict.INK_FLOOR))
    assert v.verdict.kind == ("in" if v.ooc <= 0.3 else "out")
    close = frame(10, distances([3, 5], [0.02, 0.025], others=1.0))  # 0.005 lead < the calibrated 0.01
    s = state([close], result_for(close, config), config=config)
    v = make_view(SessionState(**{**s.__dict__, "threshold": threshold_for(meta, 0.0, config), "margin": None}))
    assert v.verdict.kind in ("uncertain", "out")
    assert not threshold_for(meta, 0.0, SearchConfig(steps=11)).comparable


def test_summaries_use_the_declared_labels():
    from app.model.compare import differences, settings_text

    assert settings_text(SearchConfig()) == "100 steps · lr 0.001 · λ_LR 0.03 · 1 restart"
    assert settings_text(SearchConfig(restarts=5)).endswith("· 5 restarts")
    assert differences(SearchConfig(), SearchConfig(lambda_lr=0.1, intensity="affine")) == [
        "λ_LR 0.03 → 0.1", "intensity fit none → affine"]


def test_tick_labels_never_read_minus_zero():
    from app.widgets import tick_text

    assert tick_text(-1e-17, 0.1) == "0.0" and tick_text(-0.1, 0.1) == "-0.1" and tick_text(0.05, 0.05) == "0.05"


def test_the_bars_threshold_line_is_the_scores_threshold_in_distance_units():
    """The bars show raw distances: the threshold line sits where the winner's score would reach the threshold."""
    from app.model.threshold import in_distance
    from igc_core import verdict

    image = np.full((28, 28), -0.5, np.float32)
    image[:14] = 0.5  # half the sheet inked
    t = Threshold(0.2, 0.0, "measured", score="ink")
    at = in_distance(t, image)
    assert t.of(at, image) == pytest.approx(0.2) and at == pytest.approx(0.2 * np.sqrt(0.5 + verdict.INK_FLOOR))
    assert in_distance(Threshold(0.2, 0.0, "measured"), image) == 0.2  # the raw distance: the line is the value
