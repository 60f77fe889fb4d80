"""One home for training defaults: presets carry their lr; the train CLI resolves knobs through it."""

from __future__ import annotations

import pytest

from hrm_core.cli.train import build_parser, train_config_from_args
from hrm_core.model.hrm import ModelConfig
from hrm_core.model.presets import PRESET_NAMES, TRAIN_PRESETS, model_config, train_config
from hrm_core.model.trainer import TrainConfig

REQUIRED = ["--data", "t.parquet", "--tokenizer", "t.model", "--out", "run"]


def test_presets_carry_their_learning_rate():
    assert train_config("cpu-small").lr == 1e-3
    assert train_config("seed-27m").lr == 3e-4 == TrainConfig().lr
    assert train_config("cpu-small", lr=None, epochs=None).lr == 1e-3  # None keeps the preset's value
    assert train_config("cpu-small").epochs == 7 and train_config("seed-27m").epochs == TrainConfig().epochs
    assert train_config("cpu-small", lr=5e-4, max_steps=7) == TrainConfig(
        lr=5e-4, epochs=7, max_steps=7, time_budget_s=540
    )
    # cpu-small plans its run to fit 9 minutes of the machine it runs on; seed-27m has no budget.
    assert (train_config("cpu-small").time_budget_s, train_config("seed-27m").time_budget_s) == (540, None)
    assert TrainConfig().tie_break  # both presets break a tie of FP@95R by the other heads


def test_every_model_preset_has_training_defaults_and_unknown_names_fail():
    for name in PRESET_NAMES:
        assert isinstance(ModelConfig.preset(name), ModelConfig)
    assert set(TRAIN_PRESETS) == {"cpu-small", "seed-27m"}
    with pytest.raises(ValueError, match="unknown preset"):
        train_config("gpu-huge")
    with pytest.raises(ValueError, match="unknown knobs"):
        train_config("cpu-small", learning_rate=1e-3)
    with pytest.raises(ValueError, match="unknown knobs"):
        model_config("cpu-small", 100, 0, 99, lr=1e-3)


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_train_cli_defaults_are_the_preset_defaults(preset):
    args = build_parser().parse_args([*REQUIRED, "--preset", preset])
    assert train_config_from_args(args) == train_config(preset)
    args = build_parser().parse_args([*REQUIRED, "--preset", preset, "--lr", "2e-3", "--epochs", "5"])
    assert train_config_from_args(args) == train_config(preset, lr=2e-3, epochs=5)
    args = build_parser().parse_args([*REQUIRED, "--preset", preset, "--time-budget-s", "0"])
    assert train_config_from_args(args) == train_config(preset, time_budget_s=0.0)
    args = build_parser().parse_args([*REQUIRED, "--preset", preset, "--cpu-bf16", "auto"])
    assert train_config_from_args(args) == train_config(preset, cpu_bf16="auto")


def test_model_knobs_override_the_preset():
    cfg = model_config("cpu-small", 500, 0, 499, d_model=32, n_heads=None, use_slow=False)
    assert (cfg.vocab_size, cfg.d_model, cfg.n_heads, cfg.use_slow) == (500, 32, 4, False)


def test_train_cli_takes_every_model_knob_and_leaves_the_rest_to_the_preset():
    from hrm_core.cli.train import model_knobs_from_args
    from hrm_core.model.presets import MODEL_KNOBS

    args = build_parser().parse_args(REQUIRED)
    assert model_knobs_from_args(args) == dict.fromkeys(MODEL_KNOBS)
    assert model_config("cpu-small", 500, 0, 499, **model_knobs_from_args(args)) == model_config(
        "cpu-small", 500, 0, 499
    )
    flags = ["--use-slow", "false", "--doc-readout", "pool", "--L-cycles", "1", "--infer-segments", "2"]
    cfg = model_config(
        "cpu-small", 500, 0, 499, **model_knobs_from_args(build_parser().parse_args([*REQUIRED, *flags]))
    )
    assert (cfg.use_slow, cfg.doc_readout, cfg.L_cycles, cfg.infer_segments) == (False, "pool", 1, 2)
    assert cfg.use_candidates is True and cfg.d_model == 128  # untouched knobs keep the preset's value


@pytest.mark.parametrize("flags", [["--use-slow", "maybe"], ["--doc-readout", "mean"], ["--d-model", "wide"]])
def test_train_cli_rejects_a_bad_model_knob_in_one_line(flags, capsys):
    with pytest.raises(SystemExit) as err:
        build_parser().parse_args([*REQUIRED, *flags])
    assert err.value.code == 2
    assert "Traceback" not in capsys.readouterr().err
