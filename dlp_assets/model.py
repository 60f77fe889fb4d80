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
from hrm_core.model.trainer import TrainConfig, plot_loss_curves, train
from hrm_core.tokens.tokenizer import DlpTokenizer
from resources.device import ComputeDevice
from resources.lake import LakeResource

PRESET_LR = {"cpu-small": 1e-3, "seed-27m": 3e-4}


class TrainRunConfig(dg.Config):
    preset: Literal["cpu-small", "seed-27m"] = "cpu-small"
    epochs: int = 3
    # 0: the preset's rate. cpu-small learns faster at 1e-3 in the same budget (2 epochs on the demo data:
    # token span F1 0.543 vs 0.415 at 3e-4); seed-27m keeps the spec's 3e-4.
    lr: float = 0.0
    batch_size: int = 16
    grad_accum: int = 1
    seed: int = 0
    max_steps: int = 0  # 0: no cap
    # Ablation switches (see the README's ablation table); None keeps the preset's value.
    grad_mode: str | None = None  # "one_step" | "last_cycle"
    use_fusion_gate: bool | None = None
    use_slow: bool | None = None
    use_thread_memory: bool | None = None
    # Size overrides for tiny test and smoke runs; 0 keeps the preset's value.
    d_model: int = 0
    n_heads: int = 0
    n_fast_layers: int = 0
    max_len: int = 0
    H_cycles: int = 0
    L_cycles: int = 0


SIZE_OVERRIDES = ("d_model", "n_heads", "n_fast_layers", "max_len", "H_cycles", "L_cycles")


def model_config_for(run: TrainRunConfig, tok: DlpTokenizer) -> ModelConfig:
    overrides = {
        k: getattr(run, k)
        for k in ("grad_mode", "use_fusion_gate", "use_slow", "use_thread_memory")
        if getattr(run, k) is not None
    }
    overrides.update({k: getattr(run, k) for k in SIZE_OVERRIDES if getattr(run, k) > 0})
    return ModelConfig.preset(
        run.preset, vocab_size=tok.vocab_size, pad_id=tok.pad_id, mask_id=tok.mask_id, **overrides
    )


def val_tables(val: dict) -> tuple[str, str]:
    doc = md_table(
        ["head", "AUPRC", "FP@95R", "accuracy"],
        [[h, m["auprc"], m["fp_at_95_recall"], m["accuracy"]] for h, m in val.get("doc", {}).items()],
    )
    spans = val.get("spans_token", {})
    per_type = spans.get("per_type", {})
    rows = [["micro", *(spans.get("micro", {}).get(k, 0.0) for k in ("precision", "recall", "f1"))]]
    rows += [
        [t, *(per_type[t].get(k, 0.0) for k in ("precision", "recall", "f1"))]
        for t in SPAN_TYPES
        if t in per_type
    ]
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
    tcfg = TrainConfig(
        epochs=config.epochs, lr=config.lr or PRESET_LR[config.preset], batch_size=config.batch_size, grad_accum=config.grad_accum,
        seed=config.seed, max_steps=config.max_steps or None, device=device.resolve(), progress=False,
    )  # fmt: skip

    def log_epoch(m: dict) -> None:
        context.log.info(f"epoch {m.get('epoch')}: " + json.dumps(m, default=float)[:2000])

    result = train(data_path, run_dir, mcfg, tcfg, on_epoch_end=log_epoch)
    curves = plot_loss_curves(result.history, run_dir / "loss_curves.png")
    (run_dir / "train_result.json").write_text(json.dumps(result.__dict__, default=str, indent=1))
    doc_md, span_md = val_tables(result.val_metrics)
    sens = result.val_metrics.get("doc", {}).get("sensitivity", {})
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
            "steps": result.steps,
            "val_sensitivity_fp_at_95_recall": sens.get("fp_at_95_recall", float("nan")),
            "val_doc_metrics": dg.MetadataValue.md(doc_md),
            "val_span_metrics": dg.MetadataValue.md(span_md),
            "loss_curves": png_markdown(curves, "loss curves"),
            "heads": list(DOC_HEADS),
        },
    )
