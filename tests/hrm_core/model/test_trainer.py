"""Trainer: overfitting a tiny set, exact resume after a kill, windows, batch order, curves."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import torch

from hrm_core.model.hrm import ModelConfig
from hrm_core.model.train_data import collate, epoch_batches, load_tokenized, synthetic_table
from hrm_core.model.trainer import (
    TrainConfig,
    evaluate,
    load_checkpoint,
    lr_factor,
    model_from_checkpoint,
    plot_loss_curves,
    selection_metric,
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


def test_best_checkpoint_carries_the_validation_metrics_of_its_own_weights(tmp_path: Path) -> None:
    table = synthetic_table(80, 64, 100, seed=2)
    # Every validation message is sensitive: FP@95R has no negative to count and stays 0.0, so no later
    # epoch beats epoch 0, and best.pt (epoch 0) is not last.pt (epoch 1), whatever training does.
    splits = table["split"].to_pylist()
    labels = [
        [1, *y[1:]] if s == "val" else y for y, s in zip(table["doc_labels"].to_pylist(), splits, strict=True)
    ]
    table = table.set_column(
        table.schema.get_field_index("doc_labels"),
        "doc_labels",
        pa.array(labels, table.schema.field("doc_labels").type),
    )
    tcfg = TrainConfig(
        epochs=2, batch_size=8, lr=1e-2, warmup_steps=1, patience=5, progress=False, curriculum_window=16
    )
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
