"""The Dagster run config of trained_model and the train CLI resolve to the same training defaults."""

from __future__ import annotations

import pytest

from dlp_assets.model import TrainRunConfig, model_config_for, train_config_for
from hrm_core.cli.train import build_parser, train_config_from_args
from hrm_core.model.hrm import ModelConfig
from hrm_core.model.presets import PRESET_NAMES, train_config
from hrm_core.tokens.tokenizer import DlpTokenizer
from tests.fixtures.make_tiny_spm import TINY_SPM_PATH

CLI_REQUIRED = ["--data", "t.parquet", "--tokenizer", "t.model", "--out", "run"]


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_dagster_and_cli_defaults_are_the_presets(preset):
    dagster = train_config_for(TrainRunConfig(preset=preset), device="cpu")
    cli = train_config_from_args(build_parser().parse_args([*CLI_REQUIRED, "--preset", preset]))
    assert dagster == train_config(preset, device="cpu", progress=False)
    assert (dagster.lr, dagster.epochs, dagster.batch_size) == (cli.lr, cli.epochs, cli.batch_size)
    assert dagster.lr == {"cpu-small": 1e-3, "seed-27m": 3e-4}[preset]


def test_dagster_knobs_override_and_unset_ones_keep_the_preset():
    run = TrainRunConfig(lr=5e-4, max_steps=10, d_model=32, n_heads=2, use_slow=False)
    tcfg = train_config_for(run)
    assert (tcfg.lr, tcfg.max_steps, tcfg.epochs) == (5e-4, 10, train_config("cpu-small").epochs)
    assert tcfg.time_budget_s == train_config("cpu-small").time_budget_s  # unset: the preset's
    assert train_config_for(TrainRunConfig(time_budget_s=0)).time_budget_s == 0  # 0: no budget
    tok = DlpTokenizer.load(TINY_SPM_PATH)
    mcfg = model_config_for(run, tok)
    preset = ModelConfig.preset("cpu-small")
    assert (mcfg.d_model, mcfg.n_heads, mcfg.use_slow) == (32, 2, False)
    assert (mcfg.max_len, mcfg.n_fast_layers, mcfg.vocab_size) == (
        preset.max_len,
        preset.n_fast_layers,
        tok.vocab_size,
    )


def test_every_model_knob_is_a_field_of_the_dagster_run_config():
    from hrm_core.model.presets import MODEL_KNOBS, RUN_KNOBS

    fields = set(TrainRunConfig.model_fields)
    assert [k for k in MODEL_KNOBS if k not in fields] == []  # a knob the asset's config lacks fails the run
    assert [k for k in RUN_KNOBS if k not in fields] == []
    assert train_config_for(TrainRunConfig(cpu_bf16="on")).cpu_bf16 == "on"
