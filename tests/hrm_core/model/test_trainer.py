"""Trainer: overfitting a tiny set, exact resume after a kill, windows, batch order, curves."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import torch

from hrm_core.model import trainer as trainer_module
from hrm_core.model.hrm import HRMDLP, ModelConfig
from hrm_core.model.train_data import collate, epoch_batches, load_tokenized, synthetic_table
from hrm_core.model.trainer import (
    TrainConfig,
    autocast_for,
    best_epoch,
    better_checkpoint,
    clear_run_checkpoints,
    cpu_has_bf16,
    evaluate,
    load_checkpoint,
    lr_factor,
    model_from_checkpoint,
    padded_tokens,
    param_groups,
    plot_loss_curves,
    replan_budget,
    selection_key,
    selection_metric,
    steps_within_budget,
    train,
)
from hrm_core.serve.scanner import Scanner, model_settings
from hrm_core.tokens.features import CANDIDATE_MARKS_KEY, DSL_VERSION_KEY
from hrm_core.tokens.windows import window_bounds

TINY: dict[str, Any] = dict(
    vocab_size=64, max_len=64, d_model=32, n_heads=2, n_fast_layers=1, n_slow_blocks=1, slow_update_stride=8
)


def _all_train(table: pa.Table) -> pa.Table:
    return table.set_column(table.schema.get_field_index("split"), "split", pa.array(["train"] * len(table)))


def test_tiny_model_overfits_32_examples(tmp_path: Path) -> None:
    torch.set_num_threads(2)
    table = _all_train(synthetic_table(32, 64, 32, seed=1, thread_share=0.0))
    # One recurrence step and no masking: the test is about fitting capacity, kept fast for 2 shared cores.
    cfg = ModelConfig(**TINY, mask_denoise_prob=0.0, segments=1, H_cycles=1, L_cycles=1)
    tcfg = TrainConfig(epochs=40, batch_size=8, lr=3e-3, warmup_steps=10, ema_decay=0.5, curriculum=False,
                       patience=1000, progress=False, ckpt_every=10_000)  # fmt: skip
    result = train(table, tmp_path, cfg, tcfg)
    assert result.steps == 40 * 4  # bounded: 160 optimizer steps
    ds = load_tokenized(table)
    m = evaluate(model_from_checkpoint(result.checkpoint_path), ds, ds.rows("train"), torch.device("cpu"))
    assert m["spans_token"]["micro"]["f1"] >= 0.95, m["spans_token"]["micro"]
    for head in ("sensitivity", "exposure", "context"):
        assert m["doc"][head]["accuracy"] >= 0.95, (head, m["doc"][head])
    assert "obfuscation" not in m["doc"]  # unlabelled head (-1 everywhere) is absent, not zero
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"] / 3


def test_resume_after_kill_matches_straight_run(tmp_path: Path) -> None:
    table = synthetic_table(48, 64, 40, seed=2)
    cfg = ModelConfig(**TINY)
    base = dict(epochs=2, batch_size=8, grad_accum=2, warmup_steps=2, progress=False, curriculum_window=24)
    # Steps per epoch: epoch 0 (clean rows only) and epoch 1 differ; N covers both epochs.
    straight = train(table, tmp_path / "a", cfg, TrainConfig(**base, ckpt_every=1000))  # type: ignore[arg-type]
    n = straight.steps
    assert n >= 4
    half = n // 2
    # "Kill": checkpoint at step `half`, then one more step whose work is lost, as after a SIGKILL.
    killed = train(
        table, tmp_path / "b", cfg, TrainConfig(**base, ckpt_every=half, kill_after_steps=half + 1)
    )  # type: ignore[arg-type]
    assert killed.steps == half + 1
    assert load_checkpoint(tmp_path / "b" / "last.pt")["step"] == half
    resumed = train(table, tmp_path / "b", cfg, TrainConfig(**base, ckpt_every=1000, resume=True))  # type: ignore[arg-type]
    assert resumed.steps == n
    a, b = load_checkpoint(straight.checkpoint_path), load_checkpoint(resumed.checkpoint_path)
    for key in ("model", "ema"):
        for name, t in a[key].items():
            torch.testing.assert_close(b[key][name], t, atol=1e-6, rtol=0, msg=f"{key}.{name}")
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in straight.history]


def test_max_steps_caps_training_and_still_validates_and_checkpoints(tmp_path: Path) -> None:
    table = synthetic_table(48, 64, 40, seed=2)
    tcfg = TrainConfig(epochs=3, batch_size=8, warmup_steps=2, progress=False, ckpt_every=1000, max_steps=3)
    result = train(table, tmp_path, ModelConfig(**TINY), tcfg)
    assert result.steps == 3 and len(result.history) == 1  # stopped inside the first epoch
    best = load_checkpoint(result.best_checkpoint_path)  # a capped run is usable downstream
    assert best["step"] == 3 and best["val_metrics"] == result.best_val_metrics
    assert load_checkpoint(result.checkpoint_path)["step"] == 3
    # A table without a DSL version is version 1; the model records the DSL it was trained on, whatever
    # its config said, so the scanner serializes messages the same way (`scanner.model_settings`).
    assert best["config"]["model"]["dsl_version"] == 1
    v2 = table.replace_schema_metadata({DSL_VERSION_KEY: "2"})
    again = train(v2, tmp_path / "v2", ModelConfig(**TINY, dsl_version=1), tcfg)
    cfg = load_checkpoint(again.best_checkpoint_path)["config"]["model"]
    assert cfg["dsl_version"] == 2 and model_settings(cfg)["dsl_version"] == 2
    assert model_settings({})["dsl_version"] == 1  # a bundle from before versions
    with pytest.raises(ValueError, match="dsl_version 7"):  # refused at load, not at every scan
        Scanner.over_model(model_from_checkpoint(again.best_checkpoint_path), None, None, dsl_version=7)


def test_a_fresh_run_clears_the_checkpoints_an_earlier_run_left_and_a_resumed_one_keeps_them(
    tmp_path: Path,
) -> None:
    table = synthetic_table(48, 64, 40, seed=2)
    base = dict(batch_size=8, warmup_steps=2, progress=False, ckpt_every=1000, keep_epoch_checkpoints=True)
    long = train(table, tmp_path, ModelConfig(**TINY), TrainConfig(**base, epochs=3))  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.glob("epoch_*.pt")) == ["epoch_0.pt", "epoch_1.pt", "epoch_2.pt"]
    (tmp_path / "notes.txt").write_text("mine")
    # A shorter run in the same directory: the long run's epochs 1 and 2 must not pass for its own.
    short = train(table, tmp_path, ModelConfig(**TINY), TrainConfig(**base, epochs=1))  # type: ignore[arg-type]
    assert short.steps < long.steps
    assert sorted(p.name for p in tmp_path.glob("epoch_*.pt")) == ["epoch_0.pt"]
    assert load_checkpoint(tmp_path / "epoch_0.pt")["step"] == short.steps
    assert load_checkpoint(tmp_path / "best.pt")["step"] <= short.steps
    assert (tmp_path / "notes.txt").read_text() == "mine"  # only the trainer's own file names go
    # Resuming continues the run in the directory: nothing is cleared, the finished run stays finished.
    again = train(table, tmp_path, ModelConfig(**TINY), TrainConfig(**base, epochs=1, resume=True))  # type: ignore[arg-type]
    assert again.steps == short.steps and (tmp_path / "epoch_0.pt").is_file()
    (tmp_path / "empty").mkdir()
    assert clear_run_checkpoints(tmp_path / "empty") == []
    removed = clear_run_checkpoints(tmp_path)
    assert sorted(p.name for p in removed) == ["best.pt", "epoch_0.pt", "last.pt"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".pt") == []


def test_steps_within_budget_prices_each_epoch_and_its_validation():
    # Epochs of 10, 20, 20 steps at 1, 2, 2 s a step, a validation 5 s: 15, 45, 45 s.
    plan = ([10, 20, 20], [1.0, 2.0, 2.0], 5.0)
    assert steps_within_budget(105.0, *plan) == steps_within_budget(1e9, *plan) == 50  # the whole plan fits
    assert steps_within_budget(104.9, *plan) == 30 + 19  # 60 s for two epochs, (104.9 - 60 - 5) // 2 more
    assert steps_within_budget(60.0, *plan) == 30 and steps_within_budget(59.0, *plan) == 10 + 19
    assert steps_within_budget(10.0, *plan) == 5  # cut inside the first epoch, its validation kept
    assert steps_within_budget(1.0, *plan) == 0  # not one step with its validation (`train` runs one)
    # Unpriced steps (an epoch without batches) cost nothing, even where the run is cut.
    assert steps_within_budget(12.0, [4, 4], [1.0, 0.0], 5.0) == 8
    ds = load_tokenized(synthetic_table(8, 64, 40, seed=2))
    longest = max(len(ds.input_ids[r]) for r in (0, 1, 2))
    assert padded_tokens(ds, [0, 1, 2], 1000) == 3 * longest  # every row padded to the batch's longest
    assert padded_tokens(ds, [0, 1, 2], 5) == 3 * 5 and padded_tokens(ds, [], 64) == 0  # at most the window


def test_replan_budget_prices_the_epochs_to_come_by_what_the_run_measured() -> None:
    # Epochs of 10, 20, 20 steps priced at 1, 2, 2 s a step; the first on a shorter window.
    budget = {"time_budget_s": 60.0, "step_s": [1.0, 2.0, 2.0], "val_s": 5.0, "price_s": 2.0}
    epochs, windows = [10, 20, 20], [256, 512, 512]
    first = [{"step": 10, "train_s": 5.0, "val_s": 3.0}]  # half the priced 10 s: factor 0.5 everywhere
    # Spent 2 + 5 + 3 = 10 s; the rest at 1 s a step and 3 s a validation: 23 + 23 <= 50, all of it.
    assert replan_budget(budget, epochs, windows, first, 10.0) == 50
    assert replan_budget({**budget, "time_budget_s": 40.0}, epochs, windows, first, 10.0) == 10 + 20 + 4
    # After epoch 1 its own window's factor prices epoch 2 (30 s for 40 priced: 0.75, 1.5 s a step).
    second = [*first, {"step": 30, "train_s": 30.0, "val_s": 5.0}]  # validations now cost 4 s on average
    assert replan_budget(budget, epochs, windows, second, 45.0) == 30 + (60 - 45 - 4) // 1.5
    assert replan_budget(budget, epochs, windows, second, 58.0) == 30  # nothing more fits: stop here
    assert replan_budget({**budget, "time_budget_s": 1e9}, epochs, windows, second, 45.0) == 50  # never past


def test_a_time_budget_stops_the_run_where_the_budget_ends_and_resume_keeps_the_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = synthetic_table(48, 64, 40, seed=2)
    base = dict(epochs=3, batch_size=8, warmup_steps=2, progress=False, lr=1e-3, min_lr_ratio=0.1)
    whole = train(table, tmp_path / "whole", ModelConfig(**TINY), TrainConfig(**base, ckpt_every=1000))  # type: ignore[arg-type]
    assert whole.budget is None
    ends = [h["step"] for h in whole.history]
    epoch_steps = [b - a for a, b in zip([0, *ends[:-1]], ends, strict=True)]
    # Fixed prices, 1 s a step and 2 s a validation: 12.5 s (less the instant the stub takes to price the
    # run) hold the first epoch and part of the second.
    prices = {"step_s": [1.0, 1.0, 1.0], "val_s": 2.0}
    steps = steps_within_budget(12.5, epoch_steps, prices["step_s"], prices["val_s"])
    assert epoch_steps[0] < steps < ends[1] < whole.steps
    calls: list[int] = []
    monkeypatch.setattr(trainer_module, "price_run", lambda *a, **k: calls.append(1) or dict(prices))
    # At the end of epoch 0 the plan is made again from the run's own seconds; this one moves the cut to
    # the end of epoch 1, and the run then obeys it.
    replans: list[tuple[list[dict[str, Any]], float]] = []

    def replan(
        budget: dict[str, Any], epoch_steps: list[int], windows: list[int], history: list, spent: float
    ) -> int:
        replans.append(([dict(h) for h in history], spent))
        return ends[1]

    monkeypatch.setattr(trainer_module, "replan_budget", replan)
    planned = TrainConfig(**base, time_budget_s=12.5, kill_after_steps=ends[0] + 1, ckpt_every=1)  # type: ignore[arg-type]
    killed = train(table, tmp_path / "b", ModelConfig(**TINY), planned)
    assert killed.steps == ends[0] + 1 and calls == [1] and len(replans) == 1
    (history, spent), measured = replans[0], killed.history[0]
    assert [h["step"] for h in history] == [ends[0]] and measured["train_s"] > 0 and measured["val_s"] > 0
    assert spent > history[0]["train_s"] + history[0]["val_s"]  # wall seconds, pricing included
    resumed = train(
        table, tmp_path / "b", ModelConfig(**TINY), replace(planned, kill_after_steps=None, resume=True)
    )
    assert calls == [1] and len(replans) == 1  # resume keeps the latest plan: no second pricing
    assert (
        resumed.steps == ends[1] and [h["step"] for h in resumed.history] == ends[:2]
    )  # validated where cut
    assert resumed.budget is not None and 0 <= resumed.budget.pop("price_s") < 0.4
    assert resumed.budget == {
        "time_budget_s": 12.5, **prices, "planned_steps": whole.steps, "steps": ends[1], "replanned": [ends[1]]
    }  # fmt: skip
    # The run follows the epochs' learning-rate schedule and stops early: up to the cut it is the whole
    # run, step for step, and it stops with the learning rate that schedule has there.
    assert [resumed.history[0][k] for k in ("step", "val", "lr")] == [
        whole.history[0][k] for k in ("step", "val", "lr")
    ]
    assert resumed.history[-1]["lr"] == pytest.approx(1e-3 * lr_factor(ends[1], 2, whole.steps, 0.1))
    assert resumed.history[-1]["lr"] > whole.history[-1]["lr"] == pytest.approx(1e-3 * 0.1)


def test_a_run_faster_than_its_price_moves_the_cut_to_what_its_own_epochs_measured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = synthetic_table(48, 64, 40, seed=2)
    base = dict(epochs=3, batch_size=8, warmup_steps=2, progress=False, ckpt_every=1000)
    whole = train(table, tmp_path / "whole", ModelConfig(**TINY), TrainConfig(**base))  # type: ignore[arg-type]
    # Priced at 1 s a step, 12.5 s cut the run inside epoch 1; its steps take milliseconds, so the plan
    # made at the end of epoch 0 holds every step, and the run is the whole run, weight for weight.
    prices = {"step_s": [1.0, 1.0, 1.0], "val_s": 2.0}
    monkeypatch.setattr(trainer_module, "price_run", lambda *a, **k: dict(prices))
    fast = train(table, tmp_path / "fast", ModelConfig(**TINY), TrainConfig(**base, time_budget_s=12.5))  # type: ignore[arg-type]
    assert fast.budget is not None and fast.budget["steps"] == fast.steps == whole.steps
    assert fast.budget["replanned"] == [whole.steps, whole.steps]  # at the end of epochs 0 and 1
    a, b = load_checkpoint(whole.checkpoint_path), load_checkpoint(fast.checkpoint_path)
    for name, t in a["ema"].items():
        torch.testing.assert_close(b["ema"][name], t, atol=0, rtol=0, msg=name)
    # The same run where a step costs more than the budget has left: it stops at the end of epoch 0.
    monkeypatch.setattr(
        trainer_module, "replan_budget", lambda budget, e, w, history, spent: history[-1]["step"]
    )
    slow = train(table, tmp_path / "slow", ModelConfig(**TINY), TrainConfig(**base, time_budget_s=12.5))  # type: ignore[arg-type]
    assert slow.steps == whole.history[0]["step"] and len(slow.history) == 1
    assert slow.budget is not None and slow.budget["replanned"] == [slow.steps]


def test_pricing_a_run_leaves_the_run_untouched(tmp_path: Path) -> None:
    table = synthetic_table(48, 64, 40, seed=2)
    base = dict(epochs=2, batch_size=8, warmup_steps=2, progress=False, ckpt_every=1000)
    plain = train(table, tmp_path / "plain", ModelConfig(**TINY), TrainConfig(**base, tie_break=False))  # type: ignore[arg-type]
    priced = train(table, tmp_path / "priced", ModelConfig(**TINY), TrainConfig(**base, time_budget_s=1e6))  # type: ignore[arg-type]
    assert (
        priced.budget is not None and priced.budget["steps"] == priced.budget["planned_steps"] == plain.steps
    )
    assert plain.precision == priced.precision == "fp32"  # cpu_bf16 "off" by default
    assert len(priced.budget["step_s"]) == 2 and all(s > 0 for s in priced.budget["step_s"])
    assert priced.budget["val_s"] > 0 and priced.budget["price_s"] > 0
    a, b = load_checkpoint(plain.checkpoint_path), load_checkpoint(priced.checkpoint_path)
    for name, t in a["ema"].items():  # same weights: the timed steps ran on a copy, with the RNG restored
        torch.testing.assert_close(b["ema"][name], t, atol=0, rtol=0, msg=name)


def test_cpu_bf16_autocasts_where_asked_or_where_the_cpu_has_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    zen4 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n"
    assert cpu_has_bf16(zen4) and cpu_has_bf16("flags : sse amx_bf16 amx_tile")
    assert not cpu_has_bf16("flags\t: fpu avx2 fma\nbugs\t: avx512_bf16\n")  # only the flags line counts
    cpu = torch.device("cpu")

    def casts(mode: str) -> bool:
        with autocast_for(cpu, TrainConfig(cpu_bf16=mode)):
            return torch.get_autocast_dtype("cpu") == torch.bfloat16 and torch.is_autocast_enabled("cpu")

    monkeypatch.setattr(trainer_module, "cpu_has_bf16", lambda: False)
    assert (casts("off"), casts("on"), casts("auto")) == (False, True, False)
    monkeypatch.setattr(trainer_module, "cpu_has_bf16", lambda: True)
    assert (casts("off"), casts("auto")) == (False, True)
    with pytest.raises(ValueError, match="cpu_bf16 must be one of"):
        TrainConfig(cpu_bf16="yes")


def test_a_run_trains_and_is_priced_under_cpu_bf16(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entered: list[str] = []
    real = trainer_module.autocast_for

    def recording(device: torch.device, tcfg: TrainConfig):  # type: ignore[no-untyped-def]
        entered.append(tcfg.cpu_bf16)
        return real(device, tcfg)

    monkeypatch.setattr(trainer_module, "autocast_for", recording)
    table = synthetic_table(48, 64, 40, seed=2)
    tcfg = TrainConfig(epochs=2, batch_size=8, warmup_steps=2, progress=False, ckpt_every=1000, time_budget_s=1e6,
                       cpu_bf16="on")  # fmt: skip
    result = train(table, tmp_path, ModelConfig.preset("cpu-small", **TINY, name_candidates=False), tcfg)
    # The run and its pricing step under the same autocast: one call per priced window, one for the run.
    assert entered == ["on"] * len(entered) and len(entered) >= 3
    assert result.steps == result.budget["planned_steps"] and math.isfinite(result.history[-1]["train_loss"])
    assert result.precision == "bf16"
    ema = load_checkpoint(result.checkpoint_path)["ema"]
    assert all(t.dtype == torch.float32 for t in ema.values() if t.is_floating_point())  # weights stay fp32


def test_a_model_reading_the_name_mark_needs_a_table_that_holds_it(tmp_path: Path) -> None:
    table = synthetic_table(48, 64, 40, seed=2)  # no marks key: a table from before the census-name mark
    named = ModelConfig(**TINY, use_candidates=True, name_candidates=True)
    tcfg = TrainConfig(epochs=1, batch_size=8, warmup_steps=2, progress=False, ckpt_every=1000, max_steps=1)
    with pytest.raises(ValueError, match="predates it: materialize tokenized_examples again"):
        train(table, tmp_path / "old", named, tcfg)
    marked = table.replace_schema_metadata({CANDIDATE_MARKS_KEY: "leet,name"})
    assert load_tokenized(marked).candidate_marks == {"leet", "name"}
    result = train(marked, tmp_path / "new", named, tcfg)
    assert load_checkpoint(result.best_checkpoint_path)["config"]["model"]["name_candidates"] is True


def test_epoch_end_callback_history_and_curves(tmp_path: Path) -> None:
    table = synthetic_table(30, 64, 40, seed=3)
    seen: list[dict] = []
    result = train(table, tmp_path, ModelConfig(**TINY), TrainConfig(epochs=2, batch_size=8, progress=False,
                   curriculum_window=16), on_epoch_end=seen.append)  # fmt: skip
    assert [s["epoch"] for s in seen] == [0, 1]
    assert {"doc/sensitivity/auprc", "doc/sensitivity/fp_at_95_recall", "span/micro/f1"} <= set(seen[0])
    assert [h["window"] for h in result.history] == [16, 64]  # curriculum: short windows first
    assert result.param_count > 0 and result.tokens_per_s > 0 and result.device == "cpu"
    png = plot_loss_curves(result.history, tmp_path / "curves.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert Path(result.best_checkpoint_path).exists()


def test_epoch_batches_deterministic_sharded_and_thread_ordered() -> None:
    ds = load_tokenized(synthetic_table(100, 64, 40, seed=4, thread_share=0.5))
    rows = ds.rows("train")
    one = epoch_batches(ds, rows, 4, seed=7, epoch=1)
    assert one == epoch_batches(ds, rows, 4, seed=7, epoch=1)
    assert one != epoch_batches(ds, rows, 4, seed=7, epoch=2)
    positions = [int(ds.thread_index[b[0]]) for b in one]
    assert positions == sorted(positions) and max(positions) >= 1  # predecessors come first
    r0 = epoch_batches(ds, rows, 4, 7, 1, rank=0, world_size=2)
    r1 = epoch_batches(ds, rows, 4, 7, 1, rank=1, world_size=2)
    assert len(r0) == len(r1)
    assert not set(np.concatenate(r0)) & set(np.concatenate(r1))  # ranks see disjoint rows
    # Predecessor links: a thread's message k points at its message k-1.
    k = int(np.flatnonzero(ds.prev_row >= 0)[0])
    assert ds.thread_index[ds.prev_row[k]] == ds.thread_index[k] - 1


def test_window_bounds_and_lr_schedule() -> None:
    assert window_bounds(10, 64, 16) == [(0, 10)]
    assert window_bounds(150, 64, 16) == [(0, 64), (48, 112), (86, 150)]
    assert lr_factor(0, 10, 100, 0.1) == 0.1 and lr_factor(9, 10, 100, 0.1) == 1.0
    assert abs(lr_factor(55, 10, 100, 0.1) - 0.55) < 1e-9 and abs(lr_factor(100, 10, 100, 0.1) - 0.1) < 1e-9


def _flat(d: dict, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out |= _flat(v, f"{prefix}{k}/")
        else:
            out[f"{prefix}{k}"] = float(v)
    return out


def _every_val_message_sensitive(table: pa.Table) -> pa.Table:
    """`table` with sensitivity 1 on every validation row: FP@95R has no negative to count there and stays
    0.0 at every epoch, a tie the selection figure alone never breaks."""
    splits = table["split"].to_pylist()
    labels = [
        [1, *y[1:]] if s == "val" else y for y, s in zip(table["doc_labels"].to_pylist(), splits, strict=True)
    ]
    return table.set_column(
        table.schema.get_field_index("doc_labels"),
        "doc_labels",
        pa.array(labels, table.schema.field("doc_labels").type),
    )


def test_best_checkpoint_carries_the_validation_metrics_of_its_own_weights(tmp_path: Path) -> None:
    table = synthetic_table(80, 64, 100, seed=2)
    # Every validation message is sensitive: FP@95R has no negative to count and stays 0.0, so no later
    # epoch beats epoch 0, and best.pt (epoch 0) is not last.pt (epoch 1), whatever training does.
    table = _every_val_message_sensitive(table)
    tcfg = TrainConfig(
        epochs=2, batch_size=8, lr=1e-2, warmup_steps=1, patience=5, progress=False, curriculum_window=16,
        tie_break=False,  # the tie stays a tie (test_a_tie_break_keeps_the_later_epoch_... breaks it)
    )  # fmt: skip
    result = train(table, tmp_path, ModelConfig(**TINY), tcfg)

    assert [h["val"]["doc"]["sensitivity"]["fp_at_95_recall"] for h in result.history] == [0.0, 0.0]
    assert result.best_epoch == 0 and result.best_step == result.history[0]["step"] < result.steps
    assert result.best_val_metrics == result.history[0]["val"]
    assert result.val_metrics == result.history[1]["val"] != result.best_val_metrics  # last is not best
    best = load_checkpoint(result.best_checkpoint_path)
    assert (best["epoch"], best["step"]) == (0, result.best_step)
    assert best["val_metrics"] == result.best_val_metrics
    # A fresh evaluation of the shipped weights (best.pt, EMA) gives exactly the recorded figures.
    ds = load_tokenized(table)
    model = model_from_checkpoint(result.best_checkpoint_path)
    fresh = evaluate(model, ds, ds.rows("val"), torch.device("cpu"), batch_size=tcfg.batch_size)
    assert _flat(fresh) == pytest.approx(_flat(result.best_val_metrics), abs=1e-12, nan_ok=True)


def test_training_windows_of_a_long_row_repeat_its_header() -> None:
    ds = load_tokenized(synthetic_table(4, 64, 200, seed=3, thread_share=0.0))
    r = int(np.argmax([len(x) for x in ds.input_ids]))
    n = len(ds.input_ids[r])
    assert n > 64
    body_tag = int(ds.input_ids[r][4])  # any id works as the tag: its first occurrence ends the header
    head = int(np.flatnonzero(ds.input_ids[r] == body_tag)[0]) + 1
    assert head <= 16
    seen_starts = set()
    for k in range(30):
        b = collate(ds, [r], 64, np.random.default_rng(k), body_tag_id=body_tag)
        ids, bio = b["input_ids"][0].numpy(), b["bio"][0].numpy()
        assert len(ids) == 64
        np.testing.assert_array_equal(ids[:head], ds.input_ids[r][:head])
        # The rest is one contiguous slice after the header, its labels aligned with it.
        start = next(s for s in range(head, n - 64 + head + 1)
                     if np.array_equal(ds.input_ids[r][s : s + 64 - head], ids[head:]))  # fmt: skip
        np.testing.assert_array_equal(bio[head:], ds.bio[r][start : start + 64 - head])
        seen_starts.add(start)
    assert len(seen_starts) > 5  # random crops
    first = collate(ds, [r], 64, None, body_tag_id=body_tag)["input_ids"][0].numpy()
    np.testing.assert_array_equal(first, ds.input_ids[r][:64])  # no rng: the first window
    plain = collate(ds, [r], 64, np.random.default_rng(0))["input_ids"][0].numpy()
    assert not np.array_equal(plain[:head], ds.input_ids[r][:head])  # -1: v1 crops, no header


def test_a_window_without_the_rows_values_does_not_learn_their_labels() -> None:
    from hrm_core.model.train_data import crop_doc_labels

    ds = load_tokenized(synthetic_table(4, 64, 200, seed=3, thread_share=0.0))
    r = int(np.argmax([len(x) for x in ds.input_ids]))
    n = len(ds.input_ids[r])
    ds.doc_labels[r] = [1, 1, 0, 1]
    ds.bio[r] = np.zeros(n, dtype=np.int64)
    ds.bio[r][100:104] = [1, 2, 2, 2]  # one value, tokens 100-103
    ds.obf_evidence[r] = np.full(n, -1, dtype=np.int64)
    ds.obf_evidence[r][100:104] = 1  # and it is the hidden one
    ds.dest_evidence[r] = np.full(n, -1, dtype=np.int64)
    ds.dest_evidence[r][2] = 1  # an outside recipient's class token, in the header
    whole = np.arange(n)
    assert crop_doc_labels(ds, r, whole).tolist() == [1, 1, 0, 1]  # the whole row: its labels
    assert crop_doc_labels(ds, r, np.r_[0:8, 90:146]).tolist() == [1, 1, 0, 1]  # holds the value
    # Cannot see the value: sensitivity, obfuscation and the illegitimate context it rests on are unknown.
    assert crop_doc_labels(ds, r, np.arange(0, 64)).tolist() == [-1, 1, -1, -1]
    assert crop_doc_labels(ds, r, np.arange(90, 154)).tolist() == [1, -1, -1, 1]  # no destination
    ds.obf_evidence[r][100:104] = 0  # shown plainly; the hidden value is not known token by token
    assert crop_doc_labels(ds, r, np.r_[0:8, 110:166]).tolist() == [-1, 1, -1, 1]
    ds.doc_labels[r] = [1, 1, 1, 0]  # a legitimate workflow stays legitimate in any window
    assert crop_doc_labels(ds, r, np.arange(0, 64)).tolist() == [-1, 1, 1, 0]
    ds.doc_labels[r] = [0, 0, 1, 0]  # negatives stay negatives in any window
    assert crop_doc_labels(ds, r, np.arange(0, 64)).tolist() == [0, 0, 1, 0]
    # collate applies it to the windows it cuts, and only when asked.
    ds.doc_labels[r] = [1, 1, 0, 1]
    ds.obf_evidence[r][100:104] = 1
    labels = {
        tuple(collate(ds, [r], 64, np.random.default_rng(k))["doc_labels"][0].tolist()) for k in range(40)
    }
    # No header repeated here: a window sees the destination (token 2) or the value (100-103), not both.
    assert {(-1, 1, -1, -1), (1, -1, -1, 1)} <= labels and (1, 1, 0, 1) not in labels
    plain = collate(ds, [r], 64, np.random.default_rng(0), unseen_labels=False)["doc_labels"][0].tolist()
    assert plain == [1, 1, 0, 1]
    # Two values, one allowed for this sender and one not (`features.context_evidence`): a window that
    # sees only the allowed one cannot tell the message is illegitimate.
    ds.doc_labels[r] = [1, 0, 0, 0]
    ds.obf_evidence[r][:] = -1
    ds.dest_evidence[r][:] = -1
    ds.bio[r][150:154] = [1, 2, 2, 2]
    ds.ctx_evidence[r] = np.full(n, -1, dtype=np.int64)
    ds.ctx_evidence[r][100:104] = 0
    ds.ctx_evidence[r][150:154] = 1
    assert crop_doc_labels(ds, r, np.arange(90, 154), context_values=True).tolist() == [1, 0, 0, 0]
    assert crop_doc_labels(ds, r, np.arange(108, 172), context_values=True).tolist() == [1, 0, -1, 0]
    assert crop_doc_labels(ds, r, np.arange(108, 172)).tolist() == [1, 0, 0, 0]  # models that do not
    assert collate(ds, [r], 64, None, context_values=True)["ctx_evidence"].shape == (1, 64)


def test_a_tie_break_keeps_the_later_epoch_without_lengthening_the_run(tmp_path: Path) -> None:
    table = synthetic_table(80, 64, 100, seed=2)
    # As above: FP@95R is 0.0 at every epoch, a tie the selection figure alone never breaks.
    table = _every_val_message_sensitive(table)
    base = dict(
        epochs=4, batch_size=8, lr=1e-2, warmup_steps=1, patience=2, progress=False, curriculum_window=16
    )
    plain = train(table, tmp_path / "plain", ModelConfig(**TINY), TrainConfig(**base, tie_break=False))
    tied = train(
        table,
        tmp_path / "tied",
        ModelConfig(**TINY),
        TrainConfig(**base, tie_break=True, keep_epoch_checkpoints=True),
    )
    # Patience counts the selection figure only: both runs stop after epoch 2 of 4 (two epochs without
    # a lower FP@95R), with the same weights at every step.
    assert [h["epoch"] for h in plain.history] == [h["epoch"] for h in tied.history] == [0, 1, 2]
    assert plain.steps == tied.steps and plain.best_epoch == 0
    assert [h["val"] for h in plain.history] == [h["val"] for h in tied.history]
    ranks = [selection_key(h["val"], "sensitivity_fp95") for h in tied.history]
    assert [r[0] for r in ranks] == [0.0, 0.0, 0.0] and len({r[1] for r in ranks}) == 3
    want = min(range(3), key=lambda e: ranks[e][1])  # the best every-head figure wins the tie
    assert tied.best_epoch == want == best_epoch(tied.history, "sensitivity_fp95", tie_break=True)
    assert best_epoch(tied.history, "sensitivity_fp95", tie_break=False) == plain.best_epoch == 0
    assert load_checkpoint(tied.best_checkpoint_path)["epoch"] == want
    # Every epoch's EMA weights are kept beside best.pt, with the figures of their own validation.
    for h in tied.history:
        kept = load_checkpoint(tmp_path / "tied" / f"epoch_{h['epoch']}.pt")
        assert (kept["epoch"], kept["step"], kept["val_metrics"]) == (h["epoch"], h["step"], h["val"])
        assert "optimizer" not in kept and model_from_checkpoint(kept) is not None
    assert not list((tmp_path / "plain").glob("epoch_*.pt"))


def test_train_keeps_best_pt_by_its_tie_margin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Scripted validation: epoch 1 is one negative lower on FP@95R (0.04 vs 0.05) and worse on context.
    script = [(0.05, 0.95), (0.04, 0.80)]

    def scripted(*_a: Any, **_k: Any) -> dict[str, Any]:
        fp, ctx = script[len(calls)]
        calls.append(fp)
        return {"doc": {"sensitivity": {"auprc": 0.99, "fp_at_95_recall": fp}, "context": {"auprc": ctx}}}

    monkeypatch.setattr(trainer_module, "evaluate", scripted)
    table = synthetic_table(40, 64, 100, seed=3)
    base = dict(
        epochs=2, batch_size=8, lr=1e-2, warmup_steps=1, patience=5, progress=False, curriculum_window=16
    )
    kept = {}
    for margin in (0.0, 0.02):
        calls: list[float] = []
        run = train(
            table, tmp_path / f"m{margin}", ModelConfig(**TINY), TrainConfig(**base, tie_margin=margin)
        )
        assert calls == [0.05, 0.04]
        kept[margin] = run.best_epoch
        assert load_checkpoint(run.best_checkpoint_path)["epoch"] == run.best_epoch
        assert run.best_epoch == best_epoch(run.history, "sensitivity_fp95", tie_break=True, margin=margin)
    assert kept == {0.0: 1, 0.02: 0}  # one negative lower wins outright only without the margin


def test_better_checkpoint_ranks_by_the_selection_figure_then_the_tie_break():
    assert better_checkpoint((0.5, 0.0), None, tie_break=False)  # the first epoch is always kept
    assert better_checkpoint((0.5, 0.0), (math.inf, math.inf), tie_break=False)
    assert better_checkpoint((0.02, -0.5), (0.03, -0.9), tie_break=True)  # a lower figure wins outright
    assert not better_checkpoint((0.04, -0.99), (0.03, -0.9), tie_break=True)  # a higher one never does
    assert not better_checkpoint((0.03, -0.95), (0.03, -0.9), tie_break=False)
    assert better_checkpoint((0.03 + 1e-12, -0.95), (0.03, -0.9), tie_break=True)
    assert not better_checkpoint(
        (0.03, -0.9), (0.03, -0.9), tie_break=True
    )  # an equal pair keeps the earlier
    assert not better_checkpoint((0.03, math.nan), (0.03, -0.9), tie_break=True)

    # Replayed over a history: FP@95R 0.05, 0.03, 0.03 (context better), 0.03 (context worse), 0.04.
    def rec(epoch: int, fp: float, ctx: float) -> dict[str, Any]:
        doc = {"sensitivity": {"auprc": 0.99, "fp_at_95_recall": fp}, "context": {"auprc": ctx}}
        return {"epoch": epoch, "val": {"doc": doc}}

    history = [
        rec(0, 0.05, 0.90),
        rec(1, 0.03, 0.94),
        rec(2, 0.03, 0.96),
        rec(3, 0.03, 0.95),
        rec(4, 0.04, 0.99),
    ]
    assert best_epoch(history, "sensitivity_fp95", tie_break=False) == 1
    assert best_epoch(history, "sensitivity_fp95", tie_break=True) == 2
    assert best_epoch(history, "all_heads", tie_break=False) == 4
    assert best_epoch([], "sensitivity_fp95", tie_break=True) is None
    # Within a margin of the lowest figure seen, figures are tied: epoch 4's 0.04 ties 0.03 at 0.01.
    assert best_epoch(history, "sensitivity_fp95", tie_break=True, margin=0.01) == 4
    assert best_epoch(history, "sensitivity_fp95", tie_break=False, margin=0.01) == 1  # no tie-break: none
    # No drift: each epoch is within 0.02 of the one before, but only the first two of the lowest.
    drift = [rec(0, 0.03, 0.90), rec(1, 0.045, 0.95), rec(2, 0.06, 0.99)]
    assert best_epoch(drift, "sensitivity_fp95", tie_break=True, margin=0.02) == 1
    # A new lowest figure beyond the margin wins outright, whatever the other heads say.
    assert best_epoch([rec(0, 0.05, 0.99), rec(1, 0.01, 0.50)], "sensitivity_fp95", True, 0.02) == 1
    # ... and a figure inside it needs the better tie-break figure, lower or not.
    assert not better_checkpoint((0.02, -0.5), (0.03, -0.9), True, floor=0.02, margin=0.02)
    assert better_checkpoint((0.04, -0.95), (0.03, -0.9), True, floor=0.03, margin=0.02)
    assert not better_checkpoint((0.06, -0.99), (0.03, -0.9), True, floor=0.03, margin=0.02)
    # best.pt outside the tie that the floor sets: a tied newcomer replaces it, whatever its tie-break.
    assert better_checkpoint((0.02, -0.1), (0.08, -0.9), True, floor=0.01, margin=0.02)


def test_selection_metric_by_sensitivity_or_by_every_head_and_the_spans():
    val = {
        "doc": {
            "sensitivity": {"auprc": 1.0, "fp_at_95_recall": 0.05},
            "exposure": {"auprc": 1.0, "fp_at_95_recall": 0.0},
            "context": {"auprc": 0.9, "fp_at_95_recall": 0.3},
            "obfuscation": {"auprc": 0.8, "fp_at_95_recall": 0.2},
        },
        "spans": {"exact": {"micro": {"f1": 0.8}}},
    }
    assert selection_metric(val, "sensitivity_fp95") == 0.05
    assert selection_metric(val, "all_heads") == pytest.approx(-(1.0 + 1.0 + 0.9 + 0.8 + 0.8) / 5)
    # Context improves while sensitivity FP@95R stays: only "all_heads" calls it an improvement.
    better = {**val, "doc": {**val["doc"], "context": {"auprc": 0.95, "fp_at_95_recall": 0.2}}}
    assert selection_metric(better, "sensitivity_fp95") == selection_metric(val, "sensitivity_fp95")
    assert selection_metric(better, "all_heads") < selection_metric(val, "all_heads")
    assert math.isnan(selection_metric({}, "all_heads")) and math.isnan(
        selection_metric({}, "sensitivity_fp95")
    )
    with pytest.raises(ValueError, match="select_on"):
        selection_metric(val, "loss")


def test_param_groups_decay_matrices_and_give_the_doc_heads_their_own_rate_only_when_asked():
    model = HRMDLP(ModelConfig.preset("cpu-small", **TINY))
    names = {id(p): n for n, p in model.named_parameters()}
    plain = param_groups(model, TrainConfig(lr=2e-3))
    assert [(g["weight_decay"], "lr" in g) for g in plain] == [(0.02, False), (0.0, False)]  # as before
    assert all(p.dim() >= 2 and "embed" not in names[id(p)] for p in plain[0]["params"])
    split = param_groups(model, TrainConfig(lr=2e-3, doc_lr=1e-3))
    want = [(0.02, None), (0.0, None), (0.02, 1e-3), (0.0, 1e-3)]  # the doc heads' groups last
    assert [(g["weight_decay"], g.get("lr")) for g in split] == want
    doc = {names[id(p)] for g in split[2:] for p in g["params"]}
    assert doc and all(n.startswith("readout.") for n in doc)
    assert {id(p) for g in split for p in g["params"]} == {id(p) for g in plain for p in g["params"]}
    opt = torch.optim.AdamW(split, lr=2e-3)
    torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5)  # the schedule scales each group's own rate
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([1e-3, 1e-3, 5e-4, 5e-4])
