"""Each search setting is declared once, beside its SearchConfig field: the CLI and the threshold follow from it."""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np
import pytest

from igc_core import multilabel, search
from igc_core.cli import build_parser
from igc_core.commands import attack, common
from igc_core.search import SETTINGS, SearchConfig


def _options(command: str) -> dict[str, argparse.Action]:
    """The options of one `igc` subcommand, by destination."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {a.dest: a for a in sub.choices[command]._actions}


def test_every_field_declares_its_meaning():
    config_fields = [f.name for f in dataclasses.fields(SearchConfig)]
    assert list(SETTINGS) == config_fields
    for name, s in SETTINGS.items():
        assert s.name == name and s.help and s.label, name
        assert s.default == getattr(SearchConfig(), name) and s.type in (int, float, str), name
        assert not s.panel or s.title and s.tip, f"{name}: a panel field needs a title and a tooltip"
    own = [f.name for f in dataclasses.fields(multilabel.MultiLabelConfig) if f.name != "search"]
    assert list(multilabel.SETTINGS) == own and all(s.help for s in multilabel.SETTINGS.values())


@pytest.mark.parametrize("command", ["classify", "bench", "attack"])
def test_every_search_setting_is_an_option_built_from_its_declaration(command):
    options = _options(command)
    for name, s in SETTINGS.items():
        action = options[name]
        assert action.option_strings == [s.cli_flag] and action.help == s.help, name
        if name in common.COMMON_SETTINGS:
            continue  # --threads: declared with the common options (its own parser takes 'auto')
        assert action.default is None, f"{name}: an unset option leaves the preset's value"
        assert action.type is s.type and list(action.choices or ()) == list(s.choices), name


def test_the_flags_keep_their_names():
    flags = {s.cli_flag for s in SETTINGS.values()}
    assert {"--steps", "--lr", "--lambda-lr", "--restarts", "--dif", "--score", "--init", "--keep-classes", "--prune-step",
            "--precision", "--seed", "--device", "--batch-size", "--threads", "--intensity", "--min-contrast",
            "--max-contrast", "--score-lambda", "--binarize"} <= flags
    ml = _options("classify")
    assert ml["mode"].option_strings == ["--multi-label"] and ml["mode"].default == "per-label"
    assert [ml[n].option_strings[0] for n in ("cond_lr", "temperature", "final_temperature", "cond_spread")] == [
        "--cond-lr", "--temperature", "--final-temperature", "--cond-spread"]


def test_every_option_given_reaches_the_config():
    """A value for each setting on the command line (one that differs from the default) ends up in the config."""
    changed = {"steps": "7", "lr": "0.002", "lambda_lr": "0.5", "restarts": "3", "dif": "mse", "score": "loss",
               "init": "encoder", "restart_spread": "0.5", "keep_classes": "2", "prune_step": "3", "seed": "5",
               "device": "auto", "precision": "fp32", "batch_size": "8", "threads": "2", "intensity": "affine",
               "min_contrast": "0.5", "max_contrast": "2", "binarize": "0.4", "score_lambda": "0.1"}
    assert set(changed) == set(SETTINGS)  # a new setting: add a value here
    argv = ["classify", "x.png"] + [a for n, v in changed.items() for a in (SETTINGS[n].cli_flag, v)]
    config = common.search_config(build_parser().parse_args(argv))
    for name, text in changed.items():
        assert getattr(config, name) == SETTINGS[name].type(text), name
    args = build_parser().parse_args(["classify", "x.png", "--multi-label", "exhaustive", "--cond-lr", "0.1",
                                      "--temperature", "2", "--final-temperature", "0.5", "--cond-spread", "1"])
    ml = common.multilabel_config(args, SearchConfig())
    assert (ml.mode, ml.cond_lr, ml.temperature, ml.final_temperature, ml.cond_spread) == ("exhaustive", 0.1, 2, 0.5, 1)
    assert common.multilabel_config(build_parser().parse_args(["classify", "x.png"]), SearchConfig()).mode == "per-label"


def test_the_settings_that_change_distances_are_one_list():
    assert search.DISTANCE_SETTINGS == tuple(n for n, s in SETTINGS.items() if s.changes_distances)
    # what the threshold lookups once missed: the robustness options and the score's weight
    assert {"intensity", "binarize", "score_lambda", "min_contrast", "max_contrast", "restart_spread"} <= set(
        search.DISTANCE_SETTINGS)
    assert not {"precision", "threads", "device", "batch_size"} & set(search.DISTANCE_SETTINGS)


@pytest.mark.parametrize("change, source", [({}, "the model's measured threshold"),
                                            ({"intensity": "affine"}, "measured:"),
                                            ({"score": "loss", "score_lambda": 0.5}, "measured:")])
def test_attack_uses_the_models_threshold_only_for_the_settings_it_was_measured_with(tiny_model, change, source):
    measured_with = SearchConfig(steps=2)
    ctx = common.Context(tiny_model, {"metrics": {"ooc_threshold": 0.1, "ooc_threshold_search": measured_with.to_dict()}},
                         "tiny", measured_with.with_(**change))
    images = np.random.default_rng(0).uniform(-0.5, 0.5, (6, 28, 28)).astype(np.float32)
    value, how = attack._threshold(argparse.Namespace(threshold="auto", via_files=False), ctx, images)
    assert how.startswith(source) and value > 0
