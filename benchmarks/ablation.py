"""cpu-small ablation over seeds: same data, same budget; writes JSON, prints Markdown.

Each arm is the cpu-small preset (model v2: per-head readouts, HRM init, recognizer candidates) with
one knob changed; every arm trains once per seed on the demo's tokenized table (or, with
``--dsl-version N``, on the same examples serialized in DSL version N: `retokenized`), then is scored

* on the validation split as the trainer reports it (per-head AUPRC, whole-span exact / overlap F1),
* on the test split and on the outside dev sets through the `Scanner` (torch engine, served windows
  and decoding, the span floor fitted on validation by the calibration asset's rule) with
  `hrm_core.release.evaluation.evaluate`, next to the regex baseline: presidio span micro-F1 (exact,
  overlap, per type), noseyparker sensitivity FP@95R, contractnli sensitivity recall at p > 0.5
  (uncalibrated); ``--rescore`` scores kept checkpoints again with the current code;
* for arm ``v2`` also with fewer cycles at inference (``--infer``: segments x H x L), on the same
  weights: quality against compute.

    .venv/bin/python benchmarks/ablation.py --lake data_lake --seeds 0,1,2 --max-steps 400

Arms: v2 (the preset), readout_pool (one shared doc MLP, v1), init_legacy (std 0.02, slow state
added twice, v1), no_candidates, no_slow (fast tier only), train_L1 (L_cycles 1 in training and
serving), v2_long (v2 for 5 epochs, no step cap: does a longer demo pay?), L1_long (train_L1 for 5
epochs); preset (the cpu-small preset as the demo trains and serves it, 5 epochs), no_header (the
preset without repeating a long message's header in every window), all_crop_labels (the preset, but
a window cut from a long row learns its row's labels even when it holds none of its values),
preset_7ep (7 epochs, the demo's preset since), preset_9ep (9 epochs: would a longer demo pay?),
select_all_heads (preset_7ep, best.pt and early stopping by every head's AUPRC and span exact F1
instead of sensitivity FP@95R), context_evidence (preset_7ep, context read through a min over
per-token evidence learned from dense labels on the sensitive values: `features.context_evidence`),
obf_weight3 (preset_7ep with the obfuscation head's doc loss weighted 3: `ModelConfig.doc_head_weights`),
leet_candidates (preset_7ep reading the leetspeak mark of the candidate channel: `features.leet_words`;
needs a table tokenized with the mark, e.g. ``--dsl-version 1``; the census-name mark off), name_candidates
(leet_candidates also reading the census-name mark, as the presets do since: `hrm_core.rules.name_list`;
a table tokenized with it, ``--dsl-version 1``), tie_break (preset_7ep keeping every epoch's weights;
best.pt breaks a tie of validation sensitivity FP@95R by the every-head figure: `trainer.better_checkpoint`)
and tie_break_off (no run of its own: the epoch of the same run that the rule without the tie-break keeps,
`trainer.best_epoch`, so the two differ only in which weights ship), budget600 (tie_break, the run planned
to fit 600 s of wall clock: `TrainConfig.time_budget_s`, made again at each epoch end; run it alone, its plan
depends on the machine's speed), budget540 (the same at cpu-small's 540 s) and budget600_off / budget540_off
(their runs, without the tie-break), train_seg1 (budget540 training one deep-supervision segment, the one the
preset serves, where it trains two: a step costs about half, so the budget holds about twice the steps),
denoise_seg0 (budget540 with the denoise loss on the first segment only, the one the preset serves, at the
same weight: `ModelConfig.denoise_segments`; its logits over the vocabulary are about 14% of a step), and
<arm>_margin for each arm with the tie-break (no run of its own: the epoch of its run that the tie-break
keeps when sensitivity FP@95R within `TrainConfig.tie_margin` of the lowest counts as tied; those arms
train with exact ties, as they were first run), budget540_bs8 (budget540 in batches of 8 instead of 16, with
today's tie-break margin: about twice the optimizer steps in the same seconds), budget500 (budget540's run at
500 s, today's margin: what a smaller budget, with more room under `make demo`'s 15 minutes, costs),
partial_o_03 (budget540 with today's margin and the not-annotated types of a `PARTIAL_O` token weighted 0.3
instead of cpu-small's 0.1, `ModelConfig.partial_o_weight`: carrier text holds real names nobody labelled,
and 0.1 pulls them towards O), denoise_share25 (budget540 with the denoise loss scored on a quarter of the
masked tokens, all of them still masked: `ModelConfig.denoise_target_share`; a cheaper step, so more of them
in the same seconds), budget540_bf16 (budget540 under bf16 autocast where the CPU has bf16 instructions,
`TrainConfig.cpu_bf16="auto"`: on one without them it is budget540 itself); steps440_pool,
steps440_no_candidates and steps440_no_slow (the first table's readout, candidate and slow-tier arms again,
each one knob off today's preset at steps440's fixed step count: the v2 arms above are the model of 250
steps on the lake of that day, before the header, the name mark, the tie-break and one served segment).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch

from dlp_assets.dev_sets import DEV_SETS, dev_sample
from hrm_core.data.contract import DOC_HEADS, Example
from hrm_core.data.records import table_to_examples
from hrm_core.model.presets import model_config, train_config
from hrm_core.model.trainer import TrainConfig, best_epoch, load_checkpoint, model_from_checkpoint, train
from hrm_core.release.evaluation import evaluate, fit_served_span_floor, served_auprc
from hrm_core.release.policy import load_policy
from hrm_core.serve.scanner import Scanner
from hrm_core.tokens.features import build_tokenized_table
from hrm_core.tokens.tokenizer import DlpTokenizer

# Every arm up to L1_long serves both segments (infer_segments=0), as the arms of the first tables did,
# and windows long rows as they did then (no repeated header, every crop trained on its row's labels:
# `V1_WINDOWS`, `ARM_TCFG`), so their figures stay comparable; the "infer" block (`--infer-arms`)
# measures fewer segments and cycles on the same weights.
BOTH_SEGMENTS = {"infer_segments": 0, "body_tag_id": -1}
# The model as first shipped: two L cycles (the preset has one since; arm train_L1).
V2 = {**BOTH_SEGMENTS, "L_cycles": 2}
L1 = {**BOTH_SEGMENTS, "L_cycles": 1}  # one fast pass per H cycle in training too (half the compute)
ARMS: dict[str, dict[str, Any]] = {
    "v2": V2,
    "readout_pool": {**V2, "doc_readout": "pool"},
    "init_legacy": {**V2, "init_scheme": "legacy"},
    "no_candidates": {**V2, "use_candidates": False},
    "no_slow": {**V2, "use_slow": False},
    "train_L1": L1,
    "v2_long": V2,
    "L1_long": L1,
    # The preset exactly as `make demo` trains and serves it (one segment at inference, its epochs),
    # with long messages' headers repeated in every window; and the same without that repetition.
    "preset": {},
    "no_header": {"body_tag_id": -1},
    "all_crop_labels": {},
    "preset_7ep": {},
    "preset_9ep": {},
    "select_all_heads": {},
    "context_evidence": {"context_evidence": True},
    "obf_weight3": {},
    "leet_candidates": {},
    "name_candidates": {},
    "tie_break": {},
    "budget600": {},
    "budget540": {},
    "train_seg1": {},
    "denoise_seg0": {},
    "budget540_bs8": {},
    "budget500": {},
    "partial_o_03": {},
    "lr_2e3": {},
    "ctx_weight2": {},
    "lr_2e3_doc1e3": {},
    "steps440": {},
    "steps440_lr_2e3_doc1e3": {},
    "denoise_share25": {},
    "budget540_bf16": {},
}
# The first table's readout, candidate and slow-tier arms again, one knob off today's preset at steps440's
# step count and tie-break.
STEPS440_KNOB_OFF: dict[str, dict[str, Any]] = {
    "steps440_pool": {"doc_readout": "pool"},
    "steps440_no_candidates": {"use_candidates": False},  # the leet and name marks go with the channel
    "steps440_no_slow": {"use_slow": False},
}
ARMS.update(STEPS440_KNOB_OFF)
# Arms scored on another epoch's weights of an arm's run (`run_arm`), not trained themselves: the epoch the
# selection rule without the tie-break keeps.
# An arm's run and the selection rule that picks the epoch: the tie-break's margin (`TrainConfig.tie_margin`),
# or None for no tie-break. The arms with the tie-break ran with exact ties (margin 0, `ARM_TCFG`); the
# *_margin rows are their runs' epochs that today's margin picks. Added to an --out that holds the run,
# such a row is scored from the run's epoch checkpoints without training again.
SAME_RUN: dict[str, tuple[str, float | None]] = {
    "tie_break_off": ("tie_break", None), "budget600_off": ("budget600", None),
    "budget540_off": ("budget540", None),
    **{f"{arm}_margin": (arm, TrainConfig.tie_margin)
       for arm in ("tie_break", "budget600", "budget540", "train_seg1", "denoise_seg0",
                   "denoise_share25", "budget540_bf16")},
}  # fmt: skip
# ModelConfig fields that are not user knobs (`MODEL_KNOBS`), set on the preset's config.
ARM_MODEL: dict[str, dict[str, Any]] = {
    "obf_weight3": {"doc_head_weights": (1.0, 1.0, 1.0, 3.0)},
    "leet_candidates": {"leet_candidates": True, "name_candidates": False},
    "name_candidates": {"leet_candidates": True, "name_candidates": True},
    "train_seg1": {"segments": 1},
    "denoise_seg0": {"denoise_segments": 1},
    "partial_o_03": {"partial_o_weight": 0.3},
    "ctx_weight2": {"doc_head_weights": (1.0, 1.0, 2.0, 1.0)},
    "denoise_share25": {"denoise_target_share": 0.25},
}
# Arms that change the training run rather than the model: the run knobs (`RUN_KNOBS`) they set.
LONG = {"epochs": 5, "max_steps": None}
B540 = {"epochs": 7, "max_steps": None, "time_budget_s": 540}  # the 7-epoch run cut at cpu-small's budget
# The same run cut at a fixed step instead of a time: arms whose steps cost the same (a learning rate, a
# loss weight) compare at equal steps whatever the machine's speed that hour (the budget's step count moved
# 459 and 473 in two unloaded runs of one hour). 440 is about what cpu-small's budget reaches at night on 2 cores.
S440 = {"epochs": 7, "max_steps": 440, "time_budget_s": 0}
ARM_TRAIN: dict[str, dict[str, Any]] = {
    "v2_long": LONG, "L1_long": LONG, "preset": LONG, "no_header": LONG, "all_crop_labels": LONG,
    "preset_7ep": {"epochs": 7, "max_steps": None},
    "preset_9ep": {"epochs": 9, "max_steps": None},
    "select_all_heads": {"epochs": 7, "max_steps": None},
    "context_evidence": {"epochs": 7, "max_steps": None},
    "obf_weight3": {"epochs": 7, "max_steps": None},
    "leet_candidates": {"epochs": 7, "max_steps": None},
    "name_candidates": {"epochs": 7, "max_steps": None},
    "tie_break": {"epochs": 7, "max_steps": None},
    "budget600": {"epochs": 7, "max_steps": None, "time_budget_s": 600},
    "budget540": B540,
    "train_seg1": B540,
    "denoise_seg0": B540,
    "budget540_bs8": {**B540, "batch_size": 8},
    "budget500": {"epochs": 7, "max_steps": None, "time_budget_s": 500},
    "partial_o_03": B540,
    "lr_2e3": {**B540, "lr": 2e-3},
    "ctx_weight2": B540,
    "lr_2e3_doc1e3": {**B540, "lr": 2e-3},
    "steps440": S440,
    "steps440_lr_2e3_doc1e3": {**S440, "lr": 2e-3},
    "denoise_share25": B540,
    "budget540_bf16": B540,
    **dict.fromkeys(STEPS440_KNOB_OFF, S440),
}  # fmt: skip
# Arms that change a `TrainConfig` field that is no run knob.
V1_WINDOWS = (
    "v2",
    "readout_pool",
    "init_legacy",
    "no_candidates",
    "no_slow",
    "train_L1",
    "v2_long",
    "L1_long",
)
# The tie-break with today's margin, or with the exact ties the first tie-break arms ran with; every epoch kept.
TIE = {"tie_break": True, "keep_epoch_checkpoints": True}
TIE_EXACT = {**TIE, "tie_margin": 0.0}
ARM_TCFG: dict[str, dict[str, Any]] = {
    "all_crop_labels": {"unseen_labels": False},
    "select_all_heads": {"select_on": "all_heads"},
    "tie_break": TIE_EXACT,
    "budget600": TIE_EXACT,
    "budget540": TIE_EXACT,
    "train_seg1": TIE_EXACT,
    "denoise_seg0": TIE_EXACT,
    "budget540_bs8": TIE,
    "budget500": TIE,
    "partial_o_03": TIE,
    "lr_2e3": TIE_EXACT,
    "ctx_weight2": TIE_EXACT,
    "lr_2e3_doc1e3": {**TIE_EXACT, "doc_lr": 1e-3},  # the doc heads at the preset's rate, the rest at 2e-3
    "steps440": TIE,
    "steps440_lr_2e3_doc1e3": {**TIE, "doc_lr": 1e-3},
    "denoise_share25": TIE_EXACT,
    "budget540_bf16": {**TIE_EXACT, "cpu_bf16": "auto"},
    **dict.fromkeys(STEPS440_KNOB_OFF, TIE),
    **{arm: {"unseen_labels": False} for arm in V1_WINDOWS},
}
DEV_N = {"presidio_research": 300, "noseyparker": 200, "contractnli": 20}
TYPES = ("EMAIL", "PHONE", "PAN", "SSN", "NAME")


def _f1(block: dict, match: str, t: str | None = None) -> float | None:
    b = block.get("spans", {}).get(match)
    if not b:
        return None
    return round(b["micro"]["f1"] if t is None else b["per_type"].get(t, {}).get("f1", float("nan")), 4)


def score_scanner(scanner: Scanner, test: list[Example], dev: dict[str, list[Example]]) -> dict[str, Any]:
    """Test split and dev-set figures of one scanner, with the regex baseline's beside them."""
    out: dict[str, Any] = {}
    for name, examples in {"test": test, **dev}.items():
        rep = evaluate(scanner, examples, dataset_name=name, stability_n=0)
        row: dict[str, Any] = {}
        for side, block in (("model", rep["model"]), ("regex", rep["baseline_regex"])):
            sens = block["doc"].get("sensitivity", {})
            row[side] = {
                "exact": _f1(block, "exact"),
                "overlap": _f1(block, "overlap"),
                "overlap_per_type": {t: _f1(block, "overlap", t) for t in TYPES} if name != "test" else None,
                "sens_fp95": sens.get("fp_at_95_recall"),
            }
        if name == "contractnli":  # 20 messages scanned again: the report keeps no per-message scores
            results = scanner.scan_batch(examples)
            row["model"]["recall_p50"] = round(
                float(np.mean([r["scores"]["sensitivity"] > 0.5 for r in results])), 4
            )
        out[name] = row
    out["span_floor"] = scanner.span_min_score
    return out


def build_scanner(
    ckpt: Path, tok: DlpTokenizer, val: list[Example], served_at: tuple[int, int, int] | None = None
) -> Scanner:
    """The checkpoint served as a bundle of it would be: its span floor fitted on validation by the
    calibration asset's rule (`fit_served_span_floor`), so test and dev figures are the served ones.
    ``served_at`` (segments, H, L) serves it with that compute instead (`ModelConfig.served_at`)."""
    model = model_from_checkpoint(load_checkpoint(ckpt))
    if served_at is not None:
        model.cfg = model.cfg.served_at(*served_at)
    scanner = Scanner.over_model(model, tok, load_policy())
    scanner.span_min_score = fit_served_span_floor(scanner, val)[0]
    return scanner


def _val_row(val: dict[str, Any]) -> dict[str, float]:
    return {
        **{f"auprc_{h}": round(val["doc"][h]["auprc"], 4) for h in DOC_HEADS if h in val["doc"]},
        "span_exact": round(val["spans"]["exact"]["micro"]["f1"], 4),
        "span_overlap": round(val["spans"]["overlap"]["micro"]["f1"], 4),
    }


def arm_train_config(arm: str, seed: int, args: argparse.Namespace) -> TrainConfig:
    """The `TrainConfig` an arm trains with. Arms train without the preset's time budget and tie-break
    unless they set them, as every arm did before those existed, so old and new arms stay comparable."""
    run_knobs = {
        "epochs": args.epochs,
        "max_steps": args.max_steps or None,
        "time_budget_s": 0,
        **ARM_TRAIN.get(arm, {}),
    }
    return replace(
        train_config("cpu-small", seed=seed, progress=False, **run_knobs),
        **{"tie_break": False, **ARM_TCFG.get(arm, {})},
    )


def run_arm(arm: str, seed: int, args: argparse.Namespace, tok: DlpTokenizer, sets) -> list[dict[str, Any]]:
    """The arm's row, and the rows of the `SAME_RUN` arms scored on other epochs of its run."""
    mcfg = model_config(
        "cpu-small", vocab_size=tok.vocab_size, pad_id=tok.pad_id, mask_id=tok.mask_id,
        **{"body_tag_id": tok.body_tag_id, **ARMS[arm]},
    ).with_(**ARM_MODEL.get(arm, {}))  # fmt: skip
    tcfg = arm_train_config(arm, seed, args)
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    result = train(args.data, args.runs / f"{arm}-s{seed}", mcfg, tcfg)
    wall = time.perf_counter() - t0
    row: dict[str, Any] = {
        "arm": arm, "seed": seed, "steps": result.steps, "params": result.param_count,
        "train_s": round(wall, 1), "tokens_per_s": round(result.tokens_per_s),
        "best_epoch": result.best_epoch, "val": _val_row(result.best_val_metrics), "budget": result.budget,
    }  # fmt: skip
    rows = [score_row(row, args, tok, sets)]
    for other in (a for a, (of, _) in SAME_RUN.items() if of == arm):
        rows.append(same_run_row(other, rows[0], result.history, tcfg.select_on, args, tok, sets))
    return rows


def same_run_row(
    other: str, run_row: dict[str, Any], history: list[dict[str, Any]], select_on: str, args, tok, sets
) -> dict[str, Any]:
    """The `SAME_RUN` arm ``other``'s row: the epoch of ``run_row``'s run its rule keeps, from the run's
    validation ``history``; best.pt's figures when that is best.pt's epoch, else that epoch scored."""
    margin = SAME_RUN[other][1]
    epoch = best_epoch(history, select_on, tie_break=margin is not None, margin=margin or 0.0)
    assert epoch is not None  # the run validated at least once
    kept = ("seed", "steps", "params", "train_s", "tokens_per_s", "budget")  # rows before budgets have none
    row = {**{k: run_row[k] for k in kept if k in run_row},
           "arm": other, "run": f"{run_row['arm']}-s{run_row['seed']}", "checkpoint": f"epoch_{epoch}.pt",
           "best_epoch": epoch, "val": _val_row(history[epoch]["val"])}  # fmt: skip
    same_infer = (other in args.infer_arms.split(",")) == ("infer" in run_row)
    if epoch == run_row["best_epoch"] and same_infer:  # best.pt's weights: its figures, not a second scoring
        return {**row, **{k: run_row[k] for k in ("eval", "served", "infer") if k in run_row}}
    return score_row(row, args, tok, sets)


def epoch_history(run: Path) -> list[dict[str, Any]]:
    """A finished run's validation history from its epoch checkpoints (`keep_epoch_checkpoints`)."""
    ckpts = sorted(run.glob("epoch_*.pt"), key=lambda p: int(p.stem.split("_")[1]))
    history = [{"epoch": c["epoch"], "val": c["val_metrics"]} for c in map(load_checkpoint, ckpts)]
    if [h["epoch"] for h in history] != list(range(len(history))):
        raise ValueError(f"{run} lacks epoch checkpoints: it has {[h['epoch'] for h in history]}")
    return history


def score_row(row: dict[str, Any], args: argparse.Namespace, tok: DlpTokenizer, sets) -> dict:
    """`row` with the served figures of its checkpoint (test split, dev sets, --infer block): best.pt of
    its run, or the epoch checkpoint it names."""
    ckpt = args.runs / row.get("run", f"{row['arm']}-s{row['seed']}") / row.get("checkpoint", "best.pt")
    val, test, dev = sets
    scanner = build_scanner(ckpt, tok, val)
    row["eval"] = score_scanner(scanner, test, dev)
    row["served"] = {"val": served_auprc(scanner, val), "test": served_auprc(scanner, test)}
    if row["arm"] in args.infer_arms.split(","):
        row["infer"] = infer_block(ckpt, args, tok, sets)
    return row


def infer_block(ckpt: Path, args: argparse.Namespace, tok: DlpTokenizer, sets) -> dict[str, Any]:
    """Test split and dev-set figures of one checkpoint with less compute at inference (``--infer``)."""
    val, test, dev = sets
    out = {}
    for spec in args.infer.split(","):
        seg, H, L = (int(x) for x in spec.split("x"))
        s = build_scanner(ckpt, tok, val, served_at=(seg, H, L))
        out[spec] = score_scanner(s, test, {k: v for k, v in dev.items() if k != "contractnli"})
    return out


def retokenized(split: list[tuple[Example, str]], tok: DlpTokenizer, version: int, path: Path) -> Path:
    """The lake's examples tokenized as `tokenized_examples` does (its default shuffle rate and seed) in DSL
    ``version``, written once to ``path``; an ablation on another serialization trains on it."""
    if not path.exists():
        splits = {ex.id: s for ex, s in split}
        table, _ = build_tokenized_table([ex for ex, _ in split], tok, splits=splits, dsl_version=version)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        pq.write_table(table, tmp)
        tmp.replace(path)
    return path


def _mean_sd(xs: list[float]) -> str:
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    return f"{statistics.mean(xs):.3f} ± {statistics.stdev(xs):.3f}" if len(xs) > 1 else f"{xs[0]:.3f}"


def markdown(rows: list[dict]) -> str:
    cols = [
        ("steps", lambda r: r.get("steps")),
        ("train s", lambda r: r.get("train_s")),
        ("best epoch", lambda r: r.get("best_epoch")),
        ("val AUPRC sens", lambda r: r["val"].get("auprc_sensitivity")),
        ("val AUPRC exp", lambda r: r["val"].get("auprc_exposure")),
        ("val AUPRC ctx", lambda r: r["val"].get("auprc_context")),
        ("val AUPRC obf", lambda r: r["val"].get("auprc_obfuscation")),
        ("served val ctx", lambda r: r.get("served", {}).get("val", {}).get("context")),
        ("served test ctx", lambda r: r.get("served", {}).get("test", {}).get("context")),
        ("val span exact", lambda r: r["val"]["span_exact"]),
        ("val span overlap", lambda r: r["val"]["span_overlap"]),
        ("served span floor", lambda r: r["eval"].get("span_floor")),
        ("test span exact", lambda r: r["eval"]["test"]["model"]["exact"]),
        ("presidio overlap", lambda r: r["eval"]["presidio_research"]["model"]["overlap"]),
        ("presidio exact", lambda r: r["eval"]["presidio_research"]["model"]["exact"]),
        ("noseyparker FP@95R", lambda r: r["eval"]["noseyparker"]["model"]["sens_fp95"]),
    ]
    arms = list(dict.fromkeys(r["arm"] for r in rows))
    lines = ["| arm | seeds | " + " | ".join(c for c, _ in cols) + " |", "|" + "---|" * (len(cols) + 2)]
    for arm in arms:
        rs = [r for r in rows if r["arm"] == arm]
        lines.append(
            f"| {arm} | {len(rs)} | " + " | ".join(_mean_sd([f(r) for r in rs]) for _, f in cols) + " |"
        )
    ref = rows[0]["eval"]
    lines.append(
        f"| regex baseline | - | | | | | | | | | | | | | {ref['test']['regex']['exact']:.3f} | "
        f"{ref['presidio_research']['regex']['overlap']:.3f} | {ref['presidio_research']['regex']['exact']:.3f} | "
        f"{ref['noseyparker']['regex']['sens_fp95']:.3f} |"
    )
    infer = [r for r in rows if r.get("infer")]
    if infer:
        lines += ["", "Less compute at inference (segments x H x L), same weights:", ""]
        lines += [
            "| arm | inference | seeds | test span exact | presidio overlap | presidio exact | noseyparker FP@95R |"
        ]
        lines += ["|---|---|---|---|---|---|---|"]
        for arm, spec in dict.fromkeys((r["arm"], spec) for r in infer for spec in r["infer"]):
            rs = [r["infer"][spec] for r in infer if r["arm"] == arm and spec in r["infer"]]
            vals = [
                _mean_sd([x["test"]["model"]["exact"] for x in rs]),
                _mean_sd([x["presidio_research"]["model"]["overlap"] for x in rs]),
                _mean_sd([x["presidio_research"]["model"]["exact"] for x in rs]),
                _mean_sd([x["noseyparker"]["model"]["sens_fp95"] for x in rs]),
            ]
            lines.append(f"| {arm} | {spec} | {len(rs)} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lake", type=Path, default=Path("data_lake"))
    ap.add_argument("--eval-dir", type=Path, default=Path("../shared/eval"))
    ap.add_argument("--out", type=Path, default=Path("data_lake/reports/ablation.json"))
    ap.add_argument("--arms", default=",".join(ARMS))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--max-steps", type=int, default=0, help="cap on optimizer steps (0: the epochs)")
    ap.add_argument(
        "--dev-n", default="", help="examples per dev set, e.g. presidio_research=1500 (0: the whole set); "
        f"unset sets keep {DEV_N}",
    )  # fmt: skip
    ap.add_argument("--infer", default="1x2x2,2x2x1", help="segments x H x L at inference")
    ap.add_argument("--infer-arms", default="v2", help="arms that also get the --infer block")
    ap.add_argument(
        "--dsl-version", type=int, default=0,
        help="train on the lake's examples serialized in this DSL version (`hrm_core.data.dsl`), tokenized "
        "once into ablation_runs_dsl<N>/ with the lake's tokenizer (0: the lake's tokenized table as it is)",
    )  # fmt: skip
    ap.add_argument(
        "--rescore", action="store_true",
        help="score the kept checkpoints of arms already in --out again with the current code (decoding, "
        "windows, span floor), keeping their training figures; trains nothing",
    )  # fmt: skip
    args = ap.parse_args()
    lake = args.lake
    args.data = lake / "parquet/tokenized/tokenized.parquet"
    args.runs = lake / "ablation_runs"
    tok = DlpTokenizer.load(lake / "models/tokenizer/tokenizer.model")
    examples = pq.read_table(lake / "parquet/examples/examples.parquet")
    split = list(zip(table_to_examples(examples), examples["split"].to_pylist(), strict=True))
    if args.dsl_version:
        args.runs = lake / f"ablation_runs_dsl{args.dsl_version}"  # checkpoints apart from the lake's table's
        args.data = retokenized(split, tok, args.dsl_version, args.runs / "tokenized.parquet")
    val, test = ([ex for ex, s in split if s == name] for name in ("val", "test"))
    pairs = [kv.split("=", 1) for kv in filter(None, args.dev_n.split(","))]
    asked = {kv[0]: kv[-1] for kv in pairs}
    if (
        any(len(kv) != 2 for kv in pairs)
        or set(asked) - set(DEV_N)
        or not all(v.isdigit() for v in asked.values())
    ):
        ap.error(f"--dev-n takes name=count for names in {sorted(DEV_N)}, got {args.dev_n!r}")
    dev_n = {**DEV_N, **{k: int(v) for k, v in asked.items()}}
    dev = {
        d.name: dev_sample(d, args.eval_dir, dev_n[d.name] or 10**9)
        for d in DEV_SETS
        if (args.eval_dir / d.file).is_file()
    }
    sets = (val, test, dev)
    rows = json.loads(args.out.read_text()) if args.out.exists() else []
    done = {(r["arm"], r["seed"]) for r in rows}

    def keep(new: list[dict[str, Any]]) -> None:  # after each arm: partial results survive
        rows.extend(new)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1))
        for r in new:
            print(json.dumps(r), flush=True)

    for seed in (int(s) for s in args.seeds.split(",")):
        for arm in args.arms.split(","):
            if (arm, seed) in done:
                for r in rows:  # rescored, or an arm added to --infer-arms later: its kept checkpoint
                    if (r["arm"], r["seed"]) != (arm, seed):
                        continue
                    if args.rescore:
                        score_row(r, args, tok, sets)
                    elif arm in args.infer_arms.split(",") and not r.get("infer"):
                        ckpt = args.runs / r.get("run", f"{arm}-s{seed}") / r.get("checkpoint", "best.pt")
                        r["infer"] = infer_block(ckpt, args, tok, sets)
                    else:
                        continue
                    args.out.write_text(json.dumps(rows, indent=1))
                    print(json.dumps(r), flush=True)
                continue
            if arm in SAME_RUN:  # scored with its run's arm, or from a run already in --out
                of = next((r for r in rows if (r["arm"], r["seed"]) == (SAME_RUN[arm][0], seed)), None)
                if of is not None:
                    history = epoch_history(args.runs / f"{of['arm']}-s{seed}")
                    select_on = arm_train_config(of["arm"], seed, args).select_on
                    keep([same_run_row(arm, of, history, select_on, args, tok, sets)])
                continue
            keep(run_arm(arm, seed, args, tok, sets))
    print(markdown(rows))


if __name__ == "__main__":
    main()
