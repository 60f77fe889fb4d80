"""`make demo`: run the `demo` job in this process against $DAGSTER_HOME and print what it built.

In-process execution skips the per-step process start (~10 s each on 2 cores) and the run still lands
in the instance, so `make dev` shows it with every log line and stack trace. Here Dagster's console
logger gives way to one line per finished step, and the run ends with a short summary: run, training,
bundle, test split and dev sets (model vs regex), the gate's decision in one line, and the champion.

The champion gate refusing a challenger is an outcome, not an error: the gate's check fails, no
champion is promoted, the summary says why, and this exits 0. Any other failure exits 1, naming the
failing step.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

import dagster as dg

from hrm_core.data.lake import Lake
from hrm_core.release.champion import METRIC_NAMES, current_champion

GATE_CHECK = "challenger_beats_champion"
GATE_STEP = f"evaluation_report_{GATE_CHECK}"
CHAMPION_STEP = "champion_model"


class StepLines(logging.Handler):
    """One line per finished step (and per warning), elapsed seconds first; never a stack trace."""

    def __init__(self, stream: Any) -> None:
        super().__init__(logging.DEBUG)  # step events are logged at DEBUG
        self.stream, self.t0 = stream, time.time()

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "dagster_event", None)
        meta = getattr(record, "dagster_meta", {}) or {}
        step = meta.get("step_key") or ""
        if event is None:
            if record.levelno < logging.WARNING:
                return
            line = f"note     {step}: {str(meta.get('orig_message', record.getMessage())).splitlines()[0]}"
        elif event.event_type_value == "STEP_SUCCESS":
            line = f"ok       {event.step_key}"
        elif event.event_type_value == "STEP_FAILURE":
            line = f"failed   {event.step_key}: {_error_line(event)}"
            if event.step_key == GATE_STEP and _is_check_failure(event):
                line = f"gate     {event.step_key}: the challenger was not promoted (see the summary)"
        else:
            return
        self.stream.write(f"[{record.created - self.t0:7.1f} s] {line}\n")
        self.stream.flush()


@dg.logger(
    None, description="One line per finished step on stderr; the run in the instance keeps everything."
)
def step_lines(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("hrm-dlp-demo", level=logging.DEBUG)
    logger.addHandler(StepLines(sys.stderr))
    return logger


def _error_line(event: dg.DagsterEvent) -> str:
    data = event.step_failure_data
    if data.user_failure_data is not None and data.user_failure_data.description:
        return data.user_failure_data.description.splitlines()[0]
    error = data.error
    while (
        error is not None
        and error.cause is not None
        and (error.cls_name or "").startswith("DagsterExecution")
    ):
        error = error.cause  # the user code's own error, not Dagster's wrapper
    return error.message.strip().splitlines()[-1] if error else "unknown error"  # "ValueError: ..."


def _is_check_failure(event: dg.DagsterEvent) -> bool:
    error = event.step_failure_data.error
    return error is not None and error.cls_name == "DagsterAssetCheckFailedError"


def _is_gate_refusal(event: dg.DagsterEvent) -> bool:
    """A failure that is the champion gate saying no: its blocking check, or champion_model refusing."""
    data = event.step_failure_data
    if event.step_key == GATE_STEP:
        return _is_check_failure(event)
    user = data.user_failure_data
    return event.step_key == CHAMPION_STEP and user is not None and "gate_refused" in (user.metadata or {})


def _metadata(result: dg.ExecuteInProcessResult, node: str) -> dict[str, Any]:
    mats = result.asset_materializations_for_node(node)
    return {k: v.value for k, v in mats[-1].metadata.items()} if mats else {}


def _fmt(x: Any) -> str:
    return "—" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)


def _test_split_line(headline: Mapping[str, Any]) -> str:
    def side(name: str) -> tuple[Any, Any]:
        h = headline.get(name, {})
        return h.get("doc", {}).get("sensitivity", {}).get("fp_at_95_recall"), h.get("span_micro_f1", {}).get(
            "exact"
        )

    (m_fp, m_f1), (r_fp, r_f1) = side("model"), side("baseline_regex")
    return (
        f"sensitivity FP@95R model {_fmt(m_fp)} vs regex {_fmt(r_fp)}; span F1 (exact) model {_fmt(m_f1)} "
        f"vs regex {_fmt(r_f1)}  (n={headline.get('dataset', {}).get('n')})"
    )


def _dev_set_line(name: str, dev: Mapping[str, Any]) -> str:
    against = "regex" if dev["against"] == "regex_baseline" else dev["against"]
    parts = [
        f"{METRIC_NAMES.get(k, k)} {_fmt(m['challenger'])} vs {against} {_fmt(m['reference'])}"
        f"{'' if m['ok'] else ' (worse)'}"
        for k, m in dev["metrics"].items()
    ]
    return f"{name} (n={dev.get('n')}): " + "; ".join(parts)


def warned_checks(result: dg.ExecuteInProcessResult) -> list[str]:
    """One line per check of the run that failed at WARN severity (it did not stop the run, so only the
    summary tells a user that, e.g., the lake was built without the corpora): its name and description."""
    return [
        f"{e.check_name}: {e.description or 'failed'}"
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.severity == dg.AssetCheckSeverity.WARN
    ]


def summarize(result: dg.ExecuteInProcessResult, lake: Lake, wall_s: float) -> tuple[list[str], int]:
    """The summary lines of a demo run and the exit code (0: success, or only the gate said no)."""
    failures = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    real = [e for e in failures if not _is_gate_refusal(e)]
    rows: list[tuple[str, str]] = [("run", f"{result.run_id}  ({wall_s:.1f} s wall)")]
    train = _metadata(result, "trained_model")
    if train:
        where = ", ".join(
            str(train[k]) for k in ("preset", "device", "precision") if train.get(k) is not None
        )
        rows.append(("training", f"{train.get('wall_time_s', 0):.1f} s, {train.get('tokens_per_s', 0):,.0f} tokens/s "
                                 f"({where})"))  # fmt: skip
        if train.get("budget_s"):  # the run was planned to fit a time budget
            rows.append(("budget", f"{train['budget_s']:.0f} s: {train.get('steps')} of "
                                   f"{train.get('planned_steps')} planned steps, best at step {train.get('best_step')}"))  # fmt: skip
    onnx = _metadata(result, "onnx_model")
    if onnx:
        rows.append(("bundle", f"{onnx.get('bundle')}  (model_version {onnx.get('model_version')})"))
    evaluation = _metadata(result, "evaluation_report")
    if evaluation:
        rows.append(("test split", _test_split_line(evaluation.get("headline") or {})))
        dev_sets = evaluation.get("dev_sets") or {}
        rows += [("dev set", _dev_set_line(name, dev)) for name, dev in dev_sets.items()]
        if not dev_sets:
            rows.append(("dev set", "none found: the gate weighed the test split alone"))
        rows.append(("gate", str(evaluation.get("gate"))))
        rows.append(("report", str(evaluation.get("report", "")).replace(".json", ".md")))
    champion = current_champion(lake.models)
    rows.append(("champion", str(champion) if champion else "no champion: scanning uses the rules engine"))
    rows += [("warning", line) for line in warned_checks(result)]
    rows += [("FAILED", f"{e.step_key}: {_error_line(e)}") for e in real]
    width = max(len(k) for k, _ in rows)
    return [f"{k:<{width}}  {v}" for k, v in rows], 1 if real else 0


def run_demo(job: dg.JobDefinition, instance: dg.DagsterInstance, lake: Lake,
             run_config: Mapping[str, Any] | None = None) -> int:  # fmt: skip
    """Execute `job` in process with one line per step, print the summary, return the exit code."""
    t0 = time.perf_counter()
    result = job.with_logger_defs({"steps": step_lines}).execute_in_process(
        instance=instance, raise_on_error=False, run_config={**(run_config or {}), "loggers": {"steps": {}}}
    )
    lines, code = summarize(result, lake, time.perf_counter() - t0)
    sys.stdout.write("\n".join(lines) + "\n")
    return code


def main() -> int:
    from dlp_assets.definitions import defs
    from resources.lake import LakeResource

    with dg.DagsterInstance.get() as instance:
        return run_demo(defs.resolve_job_def("demo"), instance, LakeResource().lake())


if __name__ == "__main__":
    raise SystemExit(main())
