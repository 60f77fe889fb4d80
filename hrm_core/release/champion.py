"""The champion gate and the atomic promotion of a model bundle.

Gate metrics, read from two evaluation reports (SPEC "Evaluation report") on the same test split:
  * sensitivity FP@95R  — lower is better; the challenger may be worse by at most `fp_tolerance`;
  * span micro-F1 (exact) — higher is better; the challenger may be worse by at most `f1_tolerance`.
With no champion yet, the challenger must beat the regex baseline of its own report on both (strictly
better FP@95R, F1 no worse).

`models/champion` is a symbolic link to a bundle directory under `models/bundles/`; promotion writes a
new link beside it and renames it over the old one (one atomic rename), and keeps the previous target
as `models/champion_previous` for rollback. Every decision is appended to `models/champion_history.jsonl`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class GateDecision:
    promote: bool
    reason: str
    against: str  # "champion" | "regex_baseline"
    challenger: dict[str, float]
    reference: dict[str, float]
    tolerances: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def markdown(self) -> str:
        rows = "\n".join(
            f"| {k} | {self.challenger.get(k, float('nan')):.4f} | {self.reference.get(k, float('nan')):.4f} |"
            for k in ("sensitivity_fp_at_95_recall", "span_micro_f1")
        )
        verdict = "PROMOTE" if self.promote else "KEEP CHAMPION"
        return f"**{verdict}** ({self.reason})\n\n| metric | challenger | {self.against} |\n|---|---|---|\n{rows}"


def gate_metrics(side: dict[str, Any]) -> dict[str, float]:
    """The two gate numbers of one side of a report (`report["model"]` or `report["baseline_regex"]`)."""
    fp = side.get("doc", {}).get("sensitivity", {}).get("fp_at_95_recall")
    f1 = side.get("spans", {}).get("exact", {}).get("micro", {}).get("f1")
    return {
        "sensitivity_fp_at_95_recall": 1.0 if fp is None else float(fp),
        "span_micro_f1": 0.0 if f1 is None else float(f1),
    }


def gate_decision(
    challenger_report: dict[str, Any],
    champion_report: dict[str, Any] | None = None,
    fp_tolerance: float = 0.005,
    f1_tolerance: float = 0.005,
) -> GateDecision:
    """Decide whether the challenger replaces the champion (or, with none, whether it beats regex)."""
    chal = gate_metrics(challenger_report["model"])
    tol = {"fp_tolerance": fp_tolerance, "f1_tolerance": f1_tolerance}
    if champion_report is None:
        ref = gate_metrics(challenger_report["baseline_regex"])
        better_fp = chal["sensitivity_fp_at_95_recall"] < ref["sensitivity_fp_at_95_recall"]
        f1_ok = chal["span_micro_f1"] >= ref["span_micro_f1"]
        ok = better_fp and f1_ok
        reason = (
            "first model beats the regex baseline"
            if ok
            else "first model does not beat the regex baseline on "
            + " and ".join(n for n, good in (("FP@95R", better_fp), ("span F1", f1_ok)) if not good)
        )
        return GateDecision(ok, reason, "regex_baseline", chal, ref, tol)
    ref = gate_metrics(champion_report["model"])
    fp_ok = chal["sensitivity_fp_at_95_recall"] <= ref["sensitivity_fp_at_95_recall"] + fp_tolerance
    f1_ok = chal["span_micro_f1"] >= ref["span_micro_f1"] - f1_tolerance
    ok = fp_ok and f1_ok
    reason = (
        "challenger is no worse than the champion within tolerance"
        if ok
        else "challenger is worse than the champion on "
        + " and ".join(n for n, good in (("FP@95R", fp_ok), ("span F1", f1_ok)) if not good)
    )
    return GateDecision(ok, reason, "champion", chal, ref, tol)


def champion_dir(models: Path) -> Path:
    return models / "champion"


def current_champion(models: Path) -> Path | None:
    """The bundle directory the champion link points at, or None before the first promotion."""
    link = champion_dir(models)
    return link.resolve() if link.exists() else None


def _swap_link(link: Path, target: Path) -> None:
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    # Relative target, so the lake can be moved or mounted elsewhere.
    tmp.symlink_to(os.path.relpath(target, link.parent), target_is_directory=True)
    os.replace(tmp, link)  # atomic: readers see the old or the new champion, never neither


def promote(models: Path, bundle: Path, decision: GateDecision | None = None) -> dict[str, Any]:
    """Point `models/champion` at `bundle` atomically; the old target becomes `champion_previous`."""
    models.mkdir(parents=True, exist_ok=True)
    bundle = bundle.resolve()
    if not (bundle / "config.json").is_file():
        raise FileNotFoundError(f"{bundle} is not a model bundle (no config.json)")
    previous = current_champion(models)
    if previous is not None and previous != bundle:
        _swap_link(models / "champion_previous", previous)
    _swap_link(champion_dir(models), bundle)
    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "champion": str(bundle),
        "previous": str(previous) if previous else None,
        "decision": decision.as_dict() if decision else None,
    }
    with open(models / "champion_history.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")
    return entry


def rollback(models: Path) -> Path:
    """Make `champion_previous` the champion again (and the current one the previous)."""
    prev_link = models / "champion_previous"
    if not prev_link.exists():
        raise FileNotFoundError("no previous champion to roll back to")
    previous = prev_link.resolve()
    current = current_champion(models)
    _swap_link(champion_dir(models), previous)
    if current is not None:
        _swap_link(prev_link, current)
    return previous
