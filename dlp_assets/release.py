"""Release path: calibration, ONNX export + int8 bundle, evaluation report with the champion gate's
decision, and promotion.

Each asset reads the artifacts of its own run through its inputs (records of paths, see
resources/artifacts.py) and writes into its own run's folder, so two retrains running side by side never
mix a tokenizer, checkpoint, calibration or bundle. The gate's decision is made by `evaluation_report`
about exactly the bundle it evaluated; `champion_model` promotes that bundle only when that decision
says yes (`promote` refuses anything else), whatever starts it: a job, a lone materialization, automation.
"""

import json
from pathlib import Path

import dagster as dg
import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from dlp_assets.artifacts import png_markdown
from dlp_assets.data import OWNERS
from dlp_assets.dev_sets import dev_sample, dev_sets_markdown, present_dev_sets
from dlp_assets.metadata import md_table
from hrm_core.data.contract import Example
from hrm_core.data.eval_formats import load_eval_dataset
from hrm_core.data.records import table_to_examples
from hrm_core.model.train_data import collate, load_tokenized
from hrm_core.model.trainer import load_checkpoint, model_from_checkpoint, predict_rows
from hrm_core.release.bundle import write_bundle
from hrm_core.release.calibration import TemperatureCalibrator, plot_reliability
from hrm_core.release.champion import (
    GateDecision,
    GateRefused,
    champion_dir,
    current_champion,
    gate_decision,
    promote,
)
from hrm_core.release.evaluation import (
    baseline_thresholds_on,
    evaluate,
    fit_served_span_floor,
    headline,
    served_auprc,
)
from hrm_core.release.export import check_parity, export_onnx, int8_delta_auprc, make_session, quantize_int8
from hrm_core.release.model_card import checkpoint_metrics
from hrm_core.release.policy import load_policy
from hrm_core.release.report_render import write_report
from hrm_core.serve.scanner import Scanner
from hrm_core.tokens.tokenizer import DlpTokenizer
from resources.lake import LakeResource
from resources.release import ReleasePolicy

# Refresh when an upstream asset updates, and only once its blocking checks passed: after a refused
# gate, automation does not even ask for champion_model (which would refuse anyway).
EAGER = dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()


@dg.asset(
    group_name="model", kinds={"pytorch", "python"}, owners=OWNERS, automation_condition=EAGER,
    description="Per-head temperature scaling fitted on the validation split, with 95%-recall thresholds; "
    "ECE (15 bins) before and after and a reliability diagram; and the span score floor: the lowest whose "
    "validation exact span F1 is within one standard error of the best, with the spans decoded as the "
    "scanner serves them.",
)  # fmt: skip
def calibration(context: dg.AssetExecutionContext, trained_model: dict, tokenized_examples: dict,
                examples: dict, tokenizer: dict, lake: LakeResource) -> dg.MaterializeResult:  # fmt: skip
    model = model_from_checkpoint(Path(trained_model["checkpoint"]))
    data = load_tokenized(Path(tokenized_examples["path"]))
    rows = data.rows("val")
    # The scanner's window overlap (max_len // 4), so the fitted temperatures match what is served.
    logits, _ = predict_rows(model, data, rows, torch.device("cpu"))  # the served windows (default_overlap)
    labels = data.doc_labels[rows].astype(np.float64)
    cal = TemperatureCalibrator().fit(logits, labels)
    (val,) = _splits(examples, "val")
    scanner = Scanner.over_model(
        model, DlpTokenizer.load(tokenizer["path"]), load_policy(), calibrate=cal.apply
    )
    cal.with_span_floor(*fit_served_span_floor(scanner, val))
    scanner.span_min_score = cal.span_min_score
    cal.with_served_auprc(served_auprc(scanner, val))  # what the bundle will serve, on validation
    out = lake.run_dir(context.run.run_id, "calibration")
    path = cal.save(out / "calibration.json")
    png = plot_reliability(logits, labels, cal, out / "reliability.png")
    rep = cal.report()
    return dg.MaterializeResult(
        value={"path": str(path)},
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
            "span_min_score": cal.span_min_score,
            "served_auprc": dg.MetadataValue.md(
                md_table(["head", "served validation AUPRC"], [[k, v] for k, v in cal.served_auprc.items()])
            ),
            "span_floor": dg.MetadataValue.md(
                md_table(
                    ["span score floor", "validation exact span F1"],
                    [[k, v] for k, v in cal.span_exact_f1.items()],
                )
            ),
        },
    )


@dg.asset(
    group_name="model", kinds={"onnx"}, owners=OWNERS, automation_condition=EAGER,
    description="The model unrolled for its fixed compute budget as ONNX (opset 17, dynamic batch and "
    "sequence), torch parity on 200 validation examples, int8 dynamic quantization and its AUPRC change, "
    "written with tokenizer, calibration, policy and model card as an atomic model bundle.",
)  # fmt: skip
def onnx_model(context: dg.AssetExecutionContext, trained_model: dict, calibration: dict, tokenizer: dict,
               tokenized_examples: dict, lake: LakeResource) -> dg.MaterializeResult:  # fmt: skip
    checkpoint = load_checkpoint(Path(trained_model["checkpoint"]))
    model = model_from_checkpoint(checkpoint)
    data = load_tokenized(Path(tokenized_examples["path"]))
    rows = data.rows("val")
    batches = [
        collate(data, rows[i : i + 16].tolist(), model.cfg.max_len, None, None, model.cfg.memory_dim, model.cfg.pad_id,
                model.cfg.body_tag_id)
        for i in range(0, len(rows), 16)
    ]  # fmt: skip
    export_dir = lake.run_dir(context.run.run_id, "onnx_model")
    fp32 = export_onnx(model, export_dir / "model.onnx")
    # The torch backend of the bundle must serve the same (EMA) weights as the ONNX graphs.
    weights = export_dir / "model.pt"
    torch.save({"model": model.state_dict()}, weights)
    int8 = quantize_int8(fp32, export_dir / "model.int8.onnx")
    s32, s8 = make_session(fp32), make_session(int8)
    parity = check_parity(model, s32, batches, max_examples=200)
    delta = int8_delta_auprc(s32, s8, batches, model.cfg.memory_dim)
    cal = TemperatureCalibrator.load(Path(calibration["path"]))
    metrics = {
        "training_data": {"rows": len(data), "val_rows": len(rows)},
        # Validation figures of the exported weights (best.pt, EMA), with their provenance.
        **checkpoint_metrics(checkpoint, name=Path(trained_model["checkpoint"]).name),
        "parity": parity.to_dict(),
        "int8": delta,
        "provenance": provenance(
            tokenizer=tokenizer,
            tokenized_examples=tokenized_examples,
            trained_model=trained_model,
            calibration=calibration,
        ),
    }
    bundle = write_bundle(
        lake.lake().models / "bundles" / context.run.run_id,
        onnx_fp32=fp32, onnx_int8=int8, tokenizer_model=Path(tokenizer["path"]),
        calibration=cal, model_config=model.cfg, policy_yaml_text=None, metrics=metrics,
        torch_checkpoint=weights,
    )  # fmt: skip
    version = json.loads((bundle / "config.json").read_text()).get("model_version", bundle.name)
    return dg.MaterializeResult(
        value={"bundle": str(bundle), "model_version": version},
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
            "checkpoint_step": int(checkpoint.get("step", 0)),
            "checkpoint_epoch": int(checkpoint.get("epoch", -1)),
        },
    )


def provenance(**records: dict) -> dict[str, dict]:
    """Where every part of a bundle came from: the run and file of each input record."""
    return {
        name: {"run_id": rec.get("run_id"), "path": rec.get("path") or rec.get("checkpoint")}
        for name, rec in records.items()
    }


class EvaluationConfig(dg.Config):
    # Extra labeled sets, each "PATH::FORMAT" (native | presidio | contractnli | noseyparker); reported
    # beside the test split, never trained on, not weighed by the gate (the outside dev sets are).
    extra_datasets: list[str] = []  # noqa: RUF012 (pydantic copies defaults)
    stability_n: int = 200


def _splits(examples: dict, *names: str) -> list[list[Example]]:
    """Examples of each named split, from one read of this run's examples table."""
    table = pq.read_table(examples["path"])
    return [
        table_to_examples(table.filter(pc.equal(table.column("split"), n)).drop_columns(["split"]))
        for n in names
    ]


def served(bundle: Path) -> tuple[Scanner, dict[str, float]]:
    """The bundle as production serves it (int8 Scanner) and its validation thresholds."""
    return Scanner.from_bundle(bundle, backend="int8"), TemperatureCalibrator.load(
        bundle / "calibration.json"
    ).thresholds()


def evaluate_on(bundle: Path, datasets: dict[str, list[Example]], baseline_thresholds: dict[str, float],
                stability_n: int = 0) -> dict[str, dict]:  # fmt: skip
    """The report of `bundle` (int8, as served) and the regex baseline on each named dataset; the first
    one (the test split) also gets the stability check."""
    scanner, thresholds = served(bundle)
    reports = {}
    for i, (name, exs) in enumerate(datasets.items()):
        reports[name] = evaluate(
            scanner, exs, dataset_name=name, thresholds=thresholds, baseline_thresholds=baseline_thresholds,
            stability_n=stability_n if i == 0 else 0,
        )  # fmt: skip
    return reports


TEST = "synthetic-test"


@dg.asset(
    group_name="release", kinds={"onnx", "python"}, owners=OWNERS, automation_condition=EAGER,
    description="The int8 bundle, served through the Scanner, next to the regex baseline on the test split "
    "and the outside dev sets when present (and any extra labeled sets): AUPRC, FP@95R, P/R/F1 at the "
    "calibrated threshold, ECE, span P/R/F1 exact and overlap, decision stability; JSON + Markdown + plots. "
    "Also the champion gate's decision about this bundle (the champion re-evaluated on the same data).",
)  # fmt: skip
def evaluation_report(context: dg.AssetExecutionContext, config: EvaluationConfig, onnx_model: dict,
                      examples: dict, lake: LakeResource, release: ReleasePolicy) -> dg.MaterializeResult:  # fmt: skip
    bundle = Path(onnx_model["bundle"])
    test, val = _splits(examples, "test", "val")
    baseline_thr = baseline_thresholds_on(val)
    eval_root = release.eval_root()
    devs = present_dev_sets(eval_root)
    datasets = {TEST: test}
    datasets |= {d.name: dev_sample(d, eval_root, release.dev_max_examples.get(d.name, 20)) for d in devs}
    dev_note = (
        f"Dev sets from `{eval_root}`: {', '.join(d.name for d in devs)} (a fixed seeded sample of each)."
        if devs
        else f"No outside dev set found in `{eval_root}`: the gate weighed the test split alone."
    )
    context.log.info(dev_note)
    reports = evaluate_on(bundle, datasets, baseline_thr, stability_n=config.stability_n)
    champ = current_champion(lake.lake().models)
    champion_reports = evaluate_on(champ, datasets, baseline_thr) if champ else {}
    report, dev_reports = reports.pop(TEST), reports
    decision = gate_decision(
        report, champion_reports.pop(TEST, None), release.fp_tolerance, release.f1_tolerance,
        dev_reports=dev_reports, champion_dev_reports=champion_reports, dev_tolerance=release.dev_tolerance,
    ).for_bundle(bundle, champ)  # fmt: skip

    out_dir = lake.lake().reports / context.run.run_id
    dev_paths = {
        name: str(write_report(r, out_dir / "dev_sets" / name / "evaluation.json")["json"])
        for name, r in dev_reports.items()
    }
    report["dev_sets"] = {"note": dev_note, "reports": dev_paths, "gate": decision.dev_sets}
    written = write_report(report, out_dir / "evaluation.json")
    dev_md = dev_sets_markdown(decision.as_dict(), dev_paths, dev_note)
    (out_dir / "dev_sets.md").write_text(dev_md, encoding="utf-8")
    (out_dir / "gate_decision.json").write_text(json.dumps(decision.as_dict(), indent=1))
    extra_md = _extra_reports(config.extra_datasets, bundle, out_dir)
    plots = {k: png_markdown(v, k) for k, v in written.items() if v.suffix == ".png"}
    record = {"report": str(written["json"]), "bundle": str(bundle), "model_version": decision.model_version,
              "decision": decision.as_dict(), "dev_reports": dev_paths}  # fmt: skip
    return dg.MaterializeResult(
        value=record,
        metadata={
            "report": dg.MetadataValue.path(str(written["json"])),
            "markdown": dg.MetadataValue.md(written["markdown"].read_text(encoding="utf-8") + "\n" + dev_md),
            "headline": dg.MetadataValue.json(headline(report)),
            "fp_at_95_recall_reduction_sensitivity": report.get("fp_at_95_recall_reduction", {}).get(
                "sensitivity"
            ),
            "gate": decision.summary(),
            "gate_decision": dg.MetadataValue.md(decision.markdown()),
            "champion_compared": str(champ) if champ else "none",
            "dev_sets": dg.MetadataValue.json(decision.dev_sets),
            "extra_reports": dg.MetadataValue.md("\n".join(extra_md) or "none"),
            **{f"plot_{k}": v for k, v in plots.items()},
        },
    )


def _extra_reports(specs: list[str], bundle: Path, out_dir: Path) -> list[str]:
    """Reports on the extra labeled sets of the run config (reported only); Markdown list lines."""
    if not specs:
        return []
    scanner, thresholds = served(bundle)
    lines = []
    for spec in specs:
        path, _, fmt = spec.partition("::")
        extra = evaluate(
            scanner, load_eval_dataset(Path(path), fmt or "native"),  # type: ignore[arg-type]
            dataset_name=Path(path).name, stability_n=0, thresholds=thresholds,
        )  # fmt: skip
        extra_written = write_report(extra, out_dir / "extra" / Path(path).stem / "evaluation.json")
        lines.append(f"- {Path(path).name}: {extra_written['markdown']}")
    return lines


@dg.asset_check(
    asset=evaluation_report, blocking=True,
    description="The champion gate: the challenger must be no worse than the champion (re-evaluated on "
    "the same data) on the test split (sensitivity FP@95R, span micro-F1) and on each outside dev set "
    "present, within tolerance; with no champion it must beat the regex baseline on the test split and "
    "be no worse than it on the dev sets. Blocks champion_model in the same run; champion_model enforces "
    "the same decision on its own.",
)  # fmt: skip
def challenger_beats_champion(evaluation_report: dict) -> dg.AssetCheckResult:
    decision = GateDecision.from_dict(evaluation_report["decision"])
    return dg.AssetCheckResult(
        passed=decision.promote,
        description=decision.summary(),
        metadata={
            "decision": dg.MetadataValue.md(decision.markdown()),
            "against": decision.against,
            "bundle": decision.bundle,
            "champion": decision.champion or "none",
        },
    )


@dg.asset(
    group_name="release", kinds={"onnx"}, owners=OWNERS, automation_condition=EAGER,
    description="The promoted bundle at data_lake/models/champion (an atomic link switch; the previous "
    "champion stays as champion_previous for rollback). Promotes exactly the bundle evaluation_report "
    "decided on, and only when that decision says yes; otherwise fails with the gate's reason.",
)  # fmt: skip
def champion_model(evaluation_report: dict, lake: LakeResource) -> dg.MaterializeResult:
    decision = GateDecision.from_dict(evaluation_report["decision"])
    bundle = Path(evaluation_report["bundle"])
    try:
        entry = promote(lake.lake().models, bundle, decision)
    except GateRefused as refused:
        raise dg.Failure(
            description=str(refused), metadata={"gate_refused": True}, allow_retries=False
        ) from None
    return dg.MaterializeResult(
        metadata={
            "champion": dg.MetadataValue.path(str(champion_dir(lake.lake().models))),
            "bundle": dg.MetadataValue.path(str(bundle)),
            "model_version": decision.model_version,
            "previous": entry["previous"] or "none",
            "decision": dg.MetadataValue.md(decision.markdown()),
        }
    )
