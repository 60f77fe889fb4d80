"""Model group: train HRM-DLP on the pre-tokenized table of this run. Checkpoints are files in the run's
own folder; their paths travel in the asset's record."""

import json
from typing import Literal

import dagster as dg

from dlp_assets.artifacts import png_markdown
from dlp_assets.data import OWNERS
from dlp_assets.metadata import md_table
from hrm_core.data.contract import DOC_HEADS, SPAN_TYPES
from hrm_core.model.hrm import ModelConfig
from hrm_core.model.presets import MODEL_KNOBS, RUN_KNOBS, model_config, train_config
from hrm_core.model.trainer import TrainConfig, plot_loss_curves, train
from hrm_core.tokens.tokenizer import DlpTokenizer
from resources.device import ComputeDevice
from resources.lake import LakeResource


class TrainRunConfig(dg.Config):
    """Run config of `trained_model`. Every knob left None takes the preset's value from
    `hrm_core.model.presets` (the same resolver `python -m hrm_core.cli.train` uses)."""

    preset: Literal["cpu-small", "seed-27m"] = "cpu-small"
    epochs: int | None = None
    lr: float | None = None  # cpu-small: 1e-3, seed-27m: 3e-4
    batch_size: int | None = None
    grad_accum: int | None = None
    seed: int | None = None
    max_steps: int | None = None  # a cap for smoke runs; None: the epochs decide
    # Plan the run to fit this many seconds of wall clock, validation included (TrainConfig.time_budget_s);
    # 0: no budget.
    time_budget_s: float | None = None
    # bf16 autocast on a CPU (TrainConfig.cpu_bf16): "off", "on", or "auto" (where the CPU has bf16 instructions).
    cpu_bf16: str | None = None  # TrainConfig checks it
    # Ablation switches (see the README's ablation table) and size overrides for tiny test runs.
    grad_mode: str | None = None  # "one_step" | "last_cycle" (ModelConfig checks it)
    use_fusion_gate: bool | None = None
    use_slow: bool | None = None
    use_thread_memory: bool | None = None
    doc_readout: str | None = None  # "attn_max" (v2) | "pool" (v1)
    init_scheme: str | None = None  # "hrm" (v2) | "legacy" (v1)
    use_candidates: bool | None = None  # recognizer candidates as an input channel (v2)
    context_evidence: bool | None = None  # context read through a min over per-value evidence
    infer_segments: int | None = None  # compute at inference (0: the training segments)
    infer_L_cycles: int | None = None
    d_model: int | None = None
    n_heads: int | None = None
    n_fast_layers: int | None = None
    max_len: int | None = None
    H_cycles: int | None = None
    L_cycles: int | None = None


def model_config_for(run: TrainRunConfig, tok: DlpTokenizer) -> ModelConfig:
    knobs = {k: getattr(run, k) for k in MODEL_KNOBS}
    return model_config(run.preset, tok.vocab_size, tok.pad_id, tok.mask_id, tok.body_tag_id, **knobs)


def train_config_for(run: TrainRunConfig, device: str | None = None) -> TrainConfig:
    knobs = {k: getattr(run, k) for k in RUN_KNOBS}
    return train_config(run.preset, **knobs, device=device, progress=False)


def val_tables(val: dict) -> tuple[str, str]:
    doc = md_table(
        ["head", "AUPRC", "FP@95R", "accuracy"],
        [[h, m["auprc"], m["fp_at_95_recall"], m["accuracy"]] for h, m in val.get("doc", {}).items()],
    )
    token, whole = val.get("spans_token", {}), val.get("spans", {})
    prf = ("precision", "recall", "f1")

    def row(name: str, block: dict, key: str | None = None) -> list:
        m = block.get("micro", {}) if key is None else block.get("per_type", {}).get(key, {})
        return [name, *(m.get(k, 0.0) for k in prf)]

    rows = [row("token micro", token)]
    rows += [row(f"{match} micro", whole[match]) for match in ("exact", "overlap") if match in whole]
    rows += [row(f"token {t}", token, t) for t in SPAN_TYPES if t in token.get("per_type", {})]
    return doc, md_table(["span type", "precision", "recall", "F1"], rows)


@dg.asset(
    group_name="model", kinds={"pytorch"}, owners=OWNERS, pool="gpu",
    description="HRM-DLP trained on tokenized_examples (multi-task: doc heads, BIO spans, memory probe, "
    "mask-denoise, section-shuffle). EMA checkpoint, loss curves and validation metrics.",
)  # fmt: skip
def trained_model(context: dg.AssetExecutionContext, config: TrainRunConfig, tokenizer: dict,
                  tokenized_examples: dict, lake: LakeResource, device: ComputeDevice) -> dg.MaterializeResult:  # fmt: skip
    tok = DlpTokenizer.load(tokenizer["path"])
    data_path = tokenized_examples["path"]
    run_dir = lake.run_dir(context.run.run_id, "trained_model")
    mcfg = model_config_for(config, tok)
    tcfg = train_config_for(config, device=device.resolve())

    def log_epoch(m: dict) -> None:
        context.log.info(f"epoch {m.get('epoch')}: " + json.dumps(m, default=float)[:2000])

    result = train(data_path, run_dir, mcfg, tcfg, on_epoch_end=log_epoch)
    curves = plot_loss_curves(result.history, run_dir / "loss_curves.png")
    (run_dir / "train_result.json").write_text(json.dumps(result.__dict__, default=str, indent=1))
    # The figures of the checkpoint the release path exports (best.pt), not of the last epoch.
    doc_md, span_md = val_tables(result.best_val_metrics)
    sens = result.best_val_metrics.get("doc", {}).get("sensitivity", {})
    record = {"checkpoint": str(result.best_checkpoint_path), "run_dir": str(run_dir),
              "wall_time_s": round(result.wall_time_s, 1), "tokens_per_s": round(result.tokens_per_s, 1)}  # fmt: skip
    return dg.MaterializeResult(
        value=record,
        metadata={
            "checkpoint": dg.MetadataValue.path(result.best_checkpoint_path),
            "run_dir": dg.MetadataValue.path(str(run_dir)),
            "preset": config.preset,
            "param_count": result.param_count,
            "tokens_per_s": round(result.tokens_per_s, 1),
            "wall_time_s": round(result.wall_time_s, 1),
            "device": result.device,
            "precision": result.precision,  # "bf16": the steps ran under bf16 autocast
            "steps": result.steps,
            "best_epoch": result.best_epoch,
            "best_step": result.best_step,
            # With a time budget: the budget and the steps the epochs planned (`steps` is where it stopped);
            # without one, budget_s 0 and planned_steps = steps.
            "budget_s": float(result.budget["time_budget_s"]) if result.budget else 0.0,
            "planned_steps": int(result.budget["planned_steps"]) if result.budget else result.steps,
            "val_sensitivity_fp_at_95_recall": sens.get("fp_at_95_recall", float("nan")),
            "val_doc_metrics": dg.MetadataValue.md(doc_md),
            "val_span_metrics": dg.MetadataValue.md(span_md),
            "loss_curves": png_markdown(curves, "loss curves"),
            "heads": list(DOC_HEADS),
        },
    )
