"""Training presets: the one home of the defaults a training run starts from.

A run is a preset name plus the knobs a user changed. The model's defaults live in
`ModelConfig.preset`, the optimisation defaults in `TrainConfig`'s fields, and what a preset does
differently in `TRAIN_PRESETS`. The Dagster run config (`dlp_assets.model.TrainRunConfig`) and the
`python -m hrm_core.cli.train` flags declare the knobs with ``None`` meaning "the preset's value" and
both resolve them here, so the two entry points cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from hrm_core.model.hrm import ModelConfig
from hrm_core.model.trainer import TrainConfig

# cpu-small has a time budget (`TrainConfig.time_budget_s`; 600 s first, 540 s now): on a 2-core AVX2
# machine (no AVX-512) its 7 epochs took 961 s and `make demo` 19m50s, the rest of the demo about 230 s.
# The budget first ended the learning-rate schedule at its last step (a shorter, complete cosine; ablation arm
# budget600, 2 seeds on that machine, 623 and 600 steps): validation context AUPRC 0.954 and 0.906,
# obfuscation 0.957 and 0.939, test exact span F1 0.955 and 0.950 (regex 0.948). The 7-epoch runs of
# the same seeds had at step 583, mid-schedule, context 0.958 and 0.944, obfuscation 0.978 and 0.977
# (arm tie_break's epoch checkpoints): annealing early trained worse than not annealing, with the EMA
# weights evaluated. So the budget stops the 7-epoch run where it ends, on that run's own schedule.
# 540 s, not 600: once the plan was made again at each epoch end (`trainer.replan_budget`) the run used
# its whole budget, and a fresh-clone `make demo` on that machine took 14m24s (training 575.5 s of 600,
# 571 steps; install and corpora 147 s, the other assets 130 s): too close to 15 minutes. At 540 s (arm
# budget540, 3 seeds, 570-596 steps) validation AUPRC context 0.947 +/- 0.013 (7 epochs: 0.963, 2 seeds),
# obfuscation 0.972, test exact span F1 0.959 +/- 0.005 (0.966), presidio overlap 0.654 +/- 0.027 (0.646),
# noseyparker FP@95R 0.762 (0.795): the budget costs the synthetic heads a little, real text nothing.
# Batches of 8 in the same 540 s (arm budget540_bs8, 3 seeds, 1,014-1,069 steps): validation context
# 0.958 +/- 0.005, test exact 0.968 +/- 0.003, but presidio overlap 0.616 +/- 0.005 (lower on every seed,
# PHONE under regex's on the sample): not adopted. Over every epoch checkpoint of 11 runs, presidio overlap
# peaks between 429 and 849 steps and 5 of the 8 runs past 700 steps end 0.013-0.032 under that peak while
# validation still rises, so the budget's ~580 steps sit near the real-text peak: more steps on synthetic
# data trade real text for validation. 500 s instead (arm budget500, 3 seeds, 514 +/- 9 steps): context
# 0.936 +/- 0.009, test exact 0.953 +/- 0.004 (one seed 0.9487 against regex's 0.9484), presidio 0.644:
# the gate's margin on the test split would be gone on a slow day, so 540 s stays.
# What each preset changes in `TrainConfig`. cpu-small learns faster at 1e-3 in the same budget
# (2 epochs on the demo data: token span F1 0.543 vs 0.415 at 3e-4); seed-27m keeps the spec's 3e-4.
# cpu-small trains 7 epochs (about 1,000 steps on the demo data, ~9 min on 2 cores; early stopping may
# end it sooner). At 250 steps the context and obfuscation heads were still learning (arms train_L1 vs
# L1_long); 7 epochs against 5, 3 seeds each (`benchmarks/ablation.py`, arms preset_7ep vs preset):
# validation AUPRC context 0.928 vs 0.925, obfuscation 0.910 vs 0.887, test exact span F1 0.938 vs
# 0.931, presidio overlap 0.585 vs 0.562, noseyparker FP@95R 0.726 vs 0.774: better on every column,
# each inside about one standard deviation (one seed stopped early at 5 epochs and tied). 9 epochs
# against 7 (arms preset_9ep vs preset_7ep, 3 seeds, served span floor): context 0.944 vs 0.935,
# obfuscation 0.920 vs 0.925, test exact span F1 0.957 vs 0.956, presidio overlap 0.569 vs 0.568, all
# inside the noise; early stopping (sensitivity FP@95R, saturated) ended 2 of the 3 nine-epoch runs at
# the step the 7-epoch runs reach, so a longer budget is mostly not used. 7 stays. The context head read
# through a min over dense per-token evidence (`ModelConfig.context_evidence`, arm context_evidence vs
# preset_7ep, 3 seeds): validation context AUPRC 0.939 +/- 0.002 vs 0.935 +/- 0.007, obfuscation 0.930
# vs 0.925, test exact span F1 0.952 vs 0.956, presidio overlap 0.578 vs 0.568: inside the noise, not
# adopted. Its token evidence finds why: on validation, whether a value is allowed for the sender is
# right on 0.79 of value tokens, 0.66 for internal destinations, where only role x element decides.
# Showing the sender's allowances in the DSL (`dsl.serialize_example(version=2)`, the same lake
# re-tokenized): alone, context 0.943 +/- 0.018, obfuscation 0.921, test 0.954, presidio 0.588; with
# context_evidence, context 0.947 +/- 0.033 (0.908, 0.969, 0.963), obfuscation 0.956 +/- 0.015, test
# 0.951 +/- 0.007 (one seed 0.944, under regex's 0.948), presidio 0.597. Token accuracy on internal
# destinations rose only to 0.69: the model does not learn to look the value up in the header line.
# The scanner's workflow veto on context (`release.policy.workflow_context`) does what the head does not:
# served validation context 0.968 +/- 0.003 against the head's 0.935 (same checkpoints, 3 seeds).
# Weighting the obfuscation head's doc loss 3x (arm obf_weight3) did not help: 0.947 and 0.833 on two
# seeds (the second stopped early at 737 steps); stopped there. The leetspeak mark in the candidate
# channel (`ModelConfig.leet_candidates`, arm leet_candidates vs preset_7ep, 3 seeds, same examples):
# validation obfuscation AUPRC 0.970 +/- 0.005 vs 0.925 +/- 0.020, served context 0.981 vs 0.968, test
# exact span F1 0.962 +/- 0.004 vs 0.956 +/- 0.003, presidio overlap 0.583 +/- 0.048 vs 0.568 +/- 0.035,
# noseyparker FP@95R 0.750 vs 0.744: obfuscation outside the noise, the rest inside it. Adopted.
# The census-name mark (`ModelConfig.name_candidates`, `rules.name_list`; arm name_candidates vs
# leet_candidates, 3 seeds, same examples, full dev sets): presidio overlap 0.646 +/- 0.020 vs 0.595 +/-
# 0.013 (higher on every seed: +0.060 / +0.077 / +0.018), NAME 0.572 vs 0.450; test exact span F1 0.960
# vs 0.963 and validation AUPRCs inside the noise; noseyparker FP@95R 0.853 vs 0.809 (one seed 0.916),
# with the same scores when the mark is withheld at inference (0.03 census words per noseyparker
# negative, 0.05 per positive): a training-seed difference, not the mark firing on code. Adopted.
# Two knobs for the context head, 3 seeds each at 540 s against budget540 on the same lake, the same night
# (arms lr_2e3, ctx_weight2; the dev-set figures on benchmarks/ablation.py's samples): lr 2e-3 gave
# validation context AUPRC 0.939 +/- 0.018 vs 0.947 +/- 0.004 and obfuscation 0.943 +/- 0.040 vs 0.965 +/-
# 0.022, though span F1 rose (validation exact 0.943 vs 0.933, whole presidio overlap 0.682 vs 0.660); the
# context head's doc loss weighted 2x (`ModelConfig.doc_head_weights`) gave context 0.947 +/- 0.003 (no
# change) and presidio overlap 0.625 vs 0.659. Neither adopted. The doc heads kept at 1e-3 while the rest
# trains at 2e-3 (`TrainConfig.doc_lr`, arm lr_2e3_doc1e3, 3 seeds, the same lake, later the same night at
# 499 +/- 14 steps against the control's 471 +/- 7): context 0.952 +/- 0.012 (0.939, 0.956, 0.962),
# obfuscation 0.958 +/- 0.004, validation exact / overlap span F1 0.943 / 0.973 vs 0.933 / 0.966, test exact
# 0.971 vs 0.970, whole presidio overlap 0.663 vs 0.661, exact 0.449 vs 0.457, noseyparker FP@95R 0.774 vs
# 0.798: every difference inside the seed noise and the runs had more steps; not adopted on this evidence.
# Again at equal steps, so the machine's speed that hour cannot favour either (arms steps440 and
# steps440_lr_2e3_doc1e3: the 7-epoch run stopped at step 440, 3 seeds each, interleaved, the same lake):
# context 0.947 +/- 0.024 (0.920, 0.956, 0.965) vs 0.946 +/- 0.004 (0.946, 0.950, 0.941), obfuscation 0.941
# +/- 0.041 (0.894 on seed 0) vs 0.949 +/- 0.028, validation exact span F1 0.949 +/- 0.006 vs 0.934 +/- 0.013
# (higher on every seed), test exact 0.967 vs 0.971, presidio overlap (sample) 0.674 vs 0.648 (seed 2 level),
# noseyparker FP@95R 0.786 vs 0.768. The context head does not move and the heads get noisier: not adopted.
# More steps in the same 540 s by telling glibc's malloc to keep what a step frees (mallopt: mmap threshold
# 32 MB, trim 1 GB, top pad 256 MB, set by the trainer on the CPU): in a fresh process it halved the page
# faults (0.69 M -> 0.34 M over 30 steps) and ran the first 30-60 steps about 10% faster, but over a whole
# budgeted run it bought no step: a fresh-clone demo 487 steps (481 in the same morning's), arm budget540 on the demo
# lake 462 / 469 / 465 (478 / 475 / 477 before) with context 0.947 +/- 0.005, obfuscation 0.961 +/- 0.027.
# Not adopted.
# torch.compile (inductor, dynamic shapes: a batch is padded to its longest row, so its length varies) buys
# no step either: 40 steps of 512-token windows on the demo lake, the steps after the 10th, took 22.9 s with
# every Block compiled (35 s of compiling on the first step) and 22.2 s with the whole forward compiled (234 s
# of compiling) against 22.2 s eager just before (eager runs later that hour: 29.7 and 30.5 s, so the
# machine's drift is larger than any difference). A step is matrix products (41% of its CPU time) and
# attention (20%), which inductor hands to the same kernels; what it fuses (norms, SiLU, rotary) is little.
# The budget's step count is the machine's: on another 2-core machine of the same kind (a fresh one, the
# afternoon of 2026-12-02) arm budget540 trained 769 / 735 / 814 steps in the same 540 s (448-487 that
# morning), with validation context AUPRC 0.956 +/- 0.005 (0.958, 0.959, 0.950) and obfuscation 0.982.
# bf16 autocast on a CPU with bf16 instructions (`TrainConfig.cpu_bf16`; arm budget540_bf16 with "auto" vs
# budget540, 3 seeds each, interleaved, the demo lake, a 2-core AMD EPYC with AVX512_BF16, 2026-12-02): 9,257 /
# 10,617 / 9,892 tokens/s against 7,976 / 8,178 / 7,468, 993 / 1,045 (every planned step, in 498 s) / 891 (early
# stopping) steps against 868 / 891 / 808; validation context AUPRC 0.954 +/- 0.002 vs 0.955 +/- 0.006,
# obfuscation 0.984 vs 0.983, exact / overlap span F1 0.948 / 0.977 vs 0.945 / 0.973, test exact 0.974 +/- 0.004
# vs 0.978 +/- 0.002, presidio overlap (sample) 0.659 vs 0.671, noseyparker FP@95R 0.786 vs 0.816: a quarter
# more tokens a second and every figure inside the seed noise. On this machine the preset no longer gains from
# steps, and the slower machines that would (step-bound) were AVX2 without bf16. Then on a slower 2-core EPYC
# that has AVX512_BF16 and is step-bound (the same arms, 3 seeds each, the demo lake, the evening of
# 2026-12-02): 6,387 +/- 316 tokens/s against 5,362 +/- 102, 670 / 673 / 737 steps against 583 / 567 / 598;
# validation context AUPRC 0.949 +/- 0.005 vs 0.947 +/- 0.007, obfuscation 0.974 +/- 0.013 vs 0.956 +/- 0.031,
# exact / overlap span F1 0.940 / 0.972 vs 0.936 / 0.966, test exact 0.976 +/- 0.003 vs 0.971 +/- 0.004,
# presidio overlap (sample) 0.650 vs 0.648, noseyparker FP@95R 0.798 vs 0.774: a fifth more steps, and again
# every figure inside the seed noise. Not adopted: cpu_bf16 stays "off" (one numeric path for every CPU the
# demo runs on), a knob for machines where time matters more.
TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    "cpu-small": {"lr": 1e-3, "epochs": 7, "time_budget_s": 540},
    "seed-27m": {},
}
PRESET_NAMES = tuple(TRAIN_PRESETS)

# Knobs a user sets per run, by the config they belong to.
RUN_KNOBS = ("epochs", "batch_size", "grad_accum", "lr", "seed", "max_steps", "time_budget_s", "cpu_bf16")
MODEL_KNOBS = (
    "grad_mode", "use_fusion_gate", "use_slow", "use_thread_memory",
    "doc_readout", "init_scheme", "use_candidates", "context_evidence", "infer_segments", "infer_L_cycles",
    "d_model", "n_heads", "n_fast_layers", "max_len", "H_cycles", "L_cycles",
)  # fmt: skip


def _set(overrides: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise ValueError(f"unknown knobs {unknown}; choose from {list(allowed)}")
    return {k: v for k, v in overrides.items() if v is not None}


def train_config(preset: str = "cpu-small", **overrides: Any) -> TrainConfig:
    """The preset's `TrainConfig` with the given knobs changed (``None``: keep the preset's value).

    Besides `RUN_KNOBS`, callers may pass run plumbing (``device``, ``progress``, ``resume``).
    """
    if preset not in TRAIN_PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {list(PRESET_NAMES)}")
    knobs = _set(overrides, (*RUN_KNOBS, "device", "progress", "resume"))
    return TrainConfig(**{**TRAIN_PRESETS[preset], **knobs})


def model_config(
    preset: str, vocab_size: int, pad_id: int, mask_id: int, body_tag_id: int = -1, **overrides: Any
) -> ModelConfig:
    """The preset's `ModelConfig` for a tokenizer, with `MODEL_KNOBS` changed (``None``: keep).

    ``body_tag_id`` is the tokenizer's ``<BODY>`` id (`DlpTokenizer.body_tag_id`): long messages repeat
    their header in every window; -1 does not (the ``no_header`` ablation arm)."""
    knobs = _set(overrides, MODEL_KNOBS)
    return ModelConfig.preset(
        preset, vocab_size=vocab_size, pad_id=pad_id, mask_id=mask_id, body_tag_id=body_tag_id, **knobs
    )
