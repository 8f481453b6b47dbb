"""Choosing precision and threads at run time: explicit choices honoured, automatic ones measured and cached."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from igc_core import runtime
from igc_core.search import PRESETS, SearchConfig, search


def test_explicit_precision_is_honoured_and_gpu_auto_is_fp32(tiny_model):
    cpu = torch.device("cpu")
    assert runtime.choose_precision(tiny_model, 100, cpu, "bf16").precision == "bf16"
    assert runtime.choose_precision(tiny_model, 100, cpu, "fp32").precision == "fp32"
    assert runtime.choose_precision(tiny_model, 100, torch.device("cuda"), "auto").precision == "fp32"


def test_auto_precision_without_native_bf16_is_fp32_without_timing(tiny_model, monkeypatch):
    monkeypatch.setattr(runtime, "native_bf16", lambda: (False, "AVX2 without avx512_bf16/amx_bf16"))
    monkeypatch.setattr(runtime, "_calibrate", lambda *a: pytest.fail("must not calibrate"))
    choice = runtime.choose_precision(tiny_model, 5000, torch.device("cpu"))
    assert choice.precision == "fp32" and "no native bfloat16" in choice.reason


def test_auto_precision_follows_the_calibration_and_caches_it(tiny_model, monkeypatch, tmp_path):
    monkeypatch.setenv("IGC_CACHE", str(tmp_path))
    monkeypatch.setattr(runtime, "native_bf16", lambda: (True, "AVX512, avx512_bf16"))
    timings = {"fp32": 0.010, "bf16": 0.004}  # seconds per step: bf16 2.5x faster
    calls = []

    def fake(generator, rows, device):
        calls.append(rows)
        return dict(timings)

    monkeypatch.setattr(runtime, "_calibrate", fake)
    first = runtime.choose_precision(tiny_model, 2560, torch.device("cpu"))
    assert first.precision == "bf16" and "2.5x" in first.reason
    assert calls == [4096]  # calibrated once, at the batch's power-of-two bucket
    again = runtime.choose_precision(tiny_model, 3000, torch.device("cpu"))  # same bucket: from the cache
    assert again.precision == "bf16" and len(calls) == 1
    assert json.loads((tmp_path / "runtime.json").read_text())  # the cache is plain JSON
    timings["bf16"] = 0.009  # only 1.1x faster at another batch size: not worth bf16's rounding
    assert runtime.choose_precision(tiny_model, 50, torch.device("cpu")).precision == "fp32"


def test_a_damaged_cache_is_ignored(tiny_model, monkeypatch, tmp_path):
    monkeypatch.setenv("IGC_CACHE", str(tmp_path))
    (tmp_path / "runtime.json").write_text("{not json")
    monkeypatch.setattr(runtime, "native_bf16", lambda: (True, "test"))
    monkeypatch.setattr(runtime, "_calibrate", lambda g, rows, d: {"fp32": 0.02, "bf16": 0.01})
    assert runtime.choose_precision(tiny_model, 64, torch.device("cpu")).precision == "bf16"


@pytest.mark.parametrize("bad", [-2, 1.5, "2", True])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(ValueError, match="threads"):
        SearchConfig(threads=bad)


def _drive(tuner, cost, steps):
    """Run `steps` fake steps whose duration is cost(threads); returns the counts used, step by step."""
    used = []
    clock = [0.0]
    real = runtime.time.perf_counter
    runtime.time.perf_counter = lambda: clock[0]
    try:
        for _ in range(steps):
            tuner.begin()
            n = torch.get_num_threads()
            used.append(n)
            clock[0] += cost(n)
            tuner.end()
    finally:
        runtime.time.perf_counter = real
    return used


def test_thread_tuner_keeps_the_faster_count(monkeypatch):
    monkeypatch.setattr(runtime, "available_cores", lambda: 2)
    before = torch.get_num_threads()
    idle = runtime.ThreadTuner(0, recheck_seconds=1.0)
    used = _drive(idle, lambda n: 0.010 / n, 60)  # idle machine: two threads twice as fast
    assert used[0] == 1 and used[-1] == 2 and used[-20:].count(1) <= 3
    busy = runtime.ThreadTuner(0, recheck_seconds=1.0)
    used = _drive(busy, lambda n: 0.010 if n == 1 else 0.060, 200)  # busy neighbour: two threads stall
    assert used.count(2) <= 10  # tried, given up on after its first slow steps, rechecked rarely
    busy.close()
    idle.close()
    assert torch.get_num_threads() == before


def test_fixed_threads_are_fixed(monkeypatch):
    tuner = runtime.ThreadTuner(1)
    assert set(_drive(tuner, lambda n: 0.01 / n, 20)) == {1}
    tuner.close()


def test_auto_threads_give_the_same_labels_as_one_thread(tiny_model):
    images = (np.random.default_rng(3).random((6, 28, 28), dtype=np.float32) - 0.5)
    config = SearchConfig(steps=20, lr=0.05, precision="fp32")
    auto = search(tiny_model, images, config)
    one = search(tiny_model, images, config.with_(threads=1))
    assert np.array_equal(auto.labels, one.labels)
    np.testing.assert_allclose(auto.distances, one.distances, rtol=1e-3)


def test_presets_build_from_one_place():
    assert SearchConfig.from_preset() == PRESETS["robust"]  # the default (issue 14)
    assert SearchConfig.from_preset("robust").precision == "auto"
    assert SearchConfig.from_preset("igc").precision == "auto"
    assert SearchConfig.from_preset("paper").precision == "fp32"
    changed = SearchConfig.from_preset("igc", lambda_lr=0.1)
    assert changed.lambda_lr == 0.1 and changed.preset_name() is None
    assert SearchConfig.from_preset("paper-parallel").preset_name() == "paper-parallel"
    with pytest.raises(ValueError, match="unknown preset"):
        SearchConfig.from_preset("fastest")
    with pytest.raises(ValueError, match="unknown search setting"):
        SearchConfig.from_preset("igc", lamda=0.1)


def test_calibration_times_both_precisions_and_leaves_the_model_as_it_was(tiny_model):
    tiny_model.requires_grad_(True)
    before = torch.get_num_threads()
    timings = runtime._calibrate(tiny_model, 64, torch.device("cpu"))
    assert set(timings) == {"fp32", "bf16"} and all(0 < t < 1 for t in timings.values())
    assert all(p.requires_grad for p in tiny_model.parameters()) and torch.get_num_threads() == before
