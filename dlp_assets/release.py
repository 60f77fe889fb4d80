"""Release path: calibration, ONNX export + int8 bundle, evaluation report, champion gate and promotion."""

import json
from pathlib import Path

import dagster as dg
import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from dlp_assets.artifacts import png_markdown, upstream_path
from dlp_assets.data import OWNERS, examples
from dlp_assets.features import tokenized_examples, tokenizer
from dlp_assets.metadata import md_table
from dlp_assets.model import trained_model
from hrm_core.data.eval_formats import load_eval_dataset
from hrm_core.data.records import table_to_examples
from hrm_core.model.train_data import collate, load_tokenized
from hrm_core.model.trainer import model_from_checkpoint, predict_rows
from hrm_core.release.bundle import write_bundle
from hrm_core.release.calibration import TemperatureCalibrator, plot_reliability
from hrm_core.release.champion import GateDecision, champion_dir, current_champion, gate_decision, promote
from hrm_core.release.evaluation import baseline_thresholds_on, evaluate, headline
from hrm_core.release.export import check_parity, export_onnx, int8_delta_auprc, make_session, quantize_int8
from hrm_core.release.report_render import write_report
from hrm_core.serve.scanner import Scanner
from resources.lake import LakeResource
from resources.quality import ReleasePolicy

# Refresh when an upstream asset updates and its blocking checks passed (eager waits for both).
EAGER = dg.AutomationCondition.eager()


@dg.asset(
    group_name="model", kinds={"pytorch", "python"}, owners=OWNERS, automation_condition=EAGER, deps=[trained_model, tokenized_examples],
    description="Per-head temperature scaling fitted on the validation split, with 95%-recall thresholds; "
    "ECE (15 bins) before and after and a reliability diagram.",
)  # fmt: skip
def calibration(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    model = model_from_checkpoint(upstream_path(context, trained_model.key, "checkpoint"))
    data = load_tokenized(upstream_path(context, tokenized_examples.key, "tokenized_path"))
    rows = data.rows("val")
    # The scanner's window overlap (max_len // 4), so the fitted temperatures match what is served.
    logits, _ = predict_rows(model, data, rows, torch.device("cpu"), overlap=model.cfg.max_len // 4)
    labels = data.doc_labels[rows].astype(np.float64)
    cal = TemperatureCalibrator().fit(logits, labels)
    run_dir = upstream_path(context, trained_model.key, "run_dir")
    path = cal.save(run_dir / "calibration.json")
    png = plot_reliability(logits, labels, cal, run_dir / "reliability.png")
    rep = cal.report()
    return dg.MaterializeResult(
        metadata={
            "calibration_path": dg.MetadataValue.path(str(path)),
            "val_rows": len(rows),
            "ece": dg.MetadataValue.md(
                md_table(
                    ["head", "temperature", "ECE before", "ECE after", "threshold @95R"],
                    [
                        [h, r["temperature"], r["ece_before"], r["ece_after"], r["threshold"]]
                        for h, r in rep.items()
                    ],
                )
            ),
            "reliability": png_markdown(png, "reliability diagram"),
        }
    )


@dg.asset(
    group_name="model", kinds={"onnx"}, owners=OWNERS, automation_condition=EAGER, deps=[trained_model, calibration, tokenizer],
    description="The model unrolled for its fixed compute budget as ONNX (opset 17, dynamic batch and "
    "sequence), torch parity on 200 validation examples, int8 dynamic quantization and its AUPRC change, "
    "written with tokenizer, calibration, policy and model card as an atomic model bundle.",
)  # fmt: skip
def onnx_model(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    ckpt_path = upstream_path(context, trained_model.key, "checkpoint")
    run_dir = upstream_path(context, trained_model.key, "run_dir")
    model = model_from_checkpoint(ckpt_path)
    data = load_tokenized(upstream_path(context, tokenized_examples.key, "tokenized_path"))
    rows = data.rows("val")
    batches = [
        collate(data, rows[i : i + 16].tolist(), model.cfg.max_len, None, None, model.cfg.memory_dim, model.cfg.pad_id)
        for i in range(0, len(rows), 16)
    ]  # fmt: skip
    export_dir = run_dir / "export"
    fp32 = export_onnx(model, export_dir / "model.onnx")
    # The torch backend of the bundle must serve the same (EMA) weights as the ONNX graphs.
    weights = export_dir / "model.pt"
    torch.save({"model": model.state_dict()}, weights)
    int8 = quantize_int8(fp32, export_dir / "model.int8.onnx")
    s32, s8 = make_session(fp32), make_session(int8)
    parity = check_parity(model, s32, batches, max_examples=200)
    delta = int8_delta_auprc(s32, s8, batches, model.cfg.memory_dim)
    cal = TemperatureCalibrator.load(upstream_path(context, calibration.key, "calibration_path"))
    train_result = json.loads((run_dir / "train_result.json").read_text())
    metrics = {
        "training_data": {"rows": len(data), "val_rows": len(rows)},
        "doc": train_result.get("val_metrics", {}).get("doc", {}),
        "spans": train_result.get("val_metrics", {}).get("spans_token", {}),
        "parity": parity.to_dict(),
        "int8": delta,
    }
    bundle = write_bundle(
        run_dir.parent.parent / "bundles" / run_dir.name,
        onnx_fp32=fp32, onnx_int8=int8,
        tokenizer_model=upstream_path(context, tokenizer.key, "tokenizer_path"),
        calibration=cal, model_config=model.cfg, policy_yaml_text=None, metrics=metrics,
        torch_checkpoint=weights,
    )  # fmt: skip
    version = json.loads((bundle / "config.json").read_text()).get("model_version", bundle.name)
    return dg.MaterializeResult(
        metadata={
            "bundle": dg.MetadataValue.path(str(bundle)),
            "model_version": version,
            "parity_max_abs_logit_diff": parity.max_abs_logit_diff,
            "parity_examples": parity.n_examples,
            "parity_passed": parity.passed,
            "int8_delta_auprc": dg.MetadataValue.md(
                md_table(
                    ["head", "AUPRC fp32", "AUPRC int8", "delta"],
                    [[h, d["auprc_fp32"], d["auprc_int8"], d["delta"]] for h, d in delta["heads"].items()],
                )
            ),
            "int8_max_abs_delta_auprc": delta["max_abs_delta"],
            "onnx_fp32_mb": round(fp32.stat().st_size / 2**20, 2),
            "onnx_int8_mb": round(int8.stat().st_size / 2**20, 2),
            "checkpoint_step": int(train_result.get("steps", 0)),
        }
    )


def bundle_of(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> Path:
    return upstream_path(context, onnx_model.key, "bundle")


class EvaluationConfig(dg.Config):
    # Extra labeled sets, each "PATH::FORMAT" (native | presidio | contractnli | noseyparker); reported
    # beside the test split, never trained on.
    extra_datasets: list[str] = []  # noqa: RUF012 (pydantic copies defaults)
    stability_n: int = 200


def _splits(lake: LakeResource, *names: str) -> list:
    """Examples of each named split, from one read of the examples table."""
    table = pq.read_table(lake.lake().table_dir("examples") / "examples.parquet")
    return [
        table_to_examples(table.filter(pc.equal(table.column("split"), n)).drop_columns(["split"]))
        for n in names
    ]


def served(bundle: Path) -> tuple[Scanner, dict[str, float]]:
    """The bundle as production serves it (int8 Scanner) and its validation thresholds."""
    return Scanner.from_bundle(bundle, backend="int8"), TemperatureCalibrator.load(
        bundle / "calibration.json"
    ).thresholds()


def evaluate_bundle(
    bundle: Path, lake: LakeResource, name: str = "synthetic-test", stability_n: int = 200
) -> dict:
    """The evaluation report of `bundle` (int8, as served) and the regex baseline on the test split."""
    scanner, thresholds = served(bundle)
    test, val = _splits(lake, "test", "val")
    return evaluate(
        scanner, test, dataset_name=name, thresholds=thresholds,
        baseline_thresholds=baseline_thresholds_on(val), stability_n=stability_n,
    )  # fmt: skip


@dg.asset(
    group_name="release", kinds={"onnx", "python"}, owners=OWNERS, automation_condition=EAGER, deps=[onnx_model, examples],
    description="The int8 bundle, served through the Scanner, next to the regex baseline on the test split "
    "(and any extra labeled sets): AUPRC, FP@95R, P/R/F1 at the calibrated threshold, ECE, span P/R/F1 exact "
    "and overlap, decision stability; JSON + Markdown + plots.",
)  # fmt: skip
def evaluation_report(context: dg.AssetExecutionContext, config: EvaluationConfig,
                      lake: LakeResource) -> dg.MaterializeResult:  # fmt: skip
    bundle = bundle_of(context)
    report = evaluate_bundle(bundle, lake, stability_n=config.stability_n)
    out_dir = lake.lake().reports / bundle.name
    written = write_report(report, out_dir / "evaluation.json")
    extra_md = []
    scanner, thresholds = served(bundle) if config.extra_datasets else (None, {})
    for spec in config.extra_datasets:
        path, _, fmt = spec.partition("::")
        extra = evaluate(
            scanner, load_eval_dataset(Path(path), fmt or "native"),  # type: ignore[arg-type]
            dataset_name=Path(path).name, stability_n=0, thresholds=thresholds,
        )  # fmt: skip
        extra_written = write_report(extra, out_dir / Path(path).stem / "evaluation.json")
        extra_md.append(f"- {Path(path).name}: {extra_written['markdown']}")
    head = headline(report)
    plots = {k: png_markdown(v, k) for k, v in written.items() if v.suffix == ".png"}
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.path(str(written["json"])),
            "markdown": dg.MetadataValue.md(written["markdown"].read_text(encoding="utf-8")),
            "headline": dg.MetadataValue.json(head),
            "fp_at_95_recall_reduction_sensitivity": report.get("fp_at_95_recall_reduction", {}).get(
                "sensitivity"
            ),
            "extra_reports": dg.MetadataValue.md("\n".join(extra_md) or "none"),
            **{f"plot_{k}": v for k, v in plots.items()},
        }
    )


@dg.asset_check(
    asset=evaluation_report, blocking=True,
    description="The champion gate: the challenger must be no worse than the champion (re-evaluated on "
    "the same test split) on sensitivity FP@95R and span micro-F1 within tolerance; with no champion it "
    "must beat the regex baseline. Blocks champion_model otherwise.",
)  # fmt: skip
def challenger_beats_champion(context: dg.AssetCheckExecutionContext, lake: LakeResource,
                              release: ReleasePolicy) -> dg.AssetCheckResult:  # fmt: skip
    report_path = upstream_path(context, evaluation_report.key, "report")
    challenger = json.loads(report_path.read_text())
    champ = current_champion(lake.lake().models)
    champion_report = evaluate_bundle(champ, lake, "champion", stability_n=0) if champ else None
    decision = gate_decision(challenger, champion_report, release.fp_tolerance, release.f1_tolerance)
    (report_path.parent / "gate_decision.json").write_text(json.dumps(decision.as_dict(), indent=1))
    return dg.AssetCheckResult(
        passed=decision.promote,
        metadata={
            "decision": dg.MetadataValue.md(decision.markdown()),
            "against": decision.against,
            "champion": str(champ) if champ else "none",
        },
    )


@dg.asset(
    group_name="release", kinds={"onnx"}, owners=OWNERS, automation_condition=EAGER, deps=[evaluation_report],
    description="The promoted bundle at data_lake/models/champion (an atomic link switch; the previous "
    "champion stays as champion_previous for rollback). Runs only when the champion gate passed.",
)  # fmt: skip
def champion_model(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
    bundle = bundle_of(context)
    report_path = upstream_path(context, evaluation_report.key, "report")
    decision = GateDecision(**json.loads((report_path.parent / "gate_decision.json").read_text()))
    entry = promote(lake.lake().models, bundle, decision)
    return dg.MaterializeResult(
        metadata={
            "champion": dg.MetadataValue.path(str(champion_dir(lake.lake().models))),
            "bundle": dg.MetadataValue.path(str(bundle)),
            "previous": entry["previous"] or "none",
            "decision": dg.MetadataValue.md(decision.markdown()),
        }
    )
