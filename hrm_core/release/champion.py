"""The champion gate and the atomic promotion of a model bundle.

Test-split gate metrics, read from two evaluation reports (SPEC "Evaluation report") on the same split:
  * sensitivity FP@95R  — lower is better; the challenger may be worse by at most `fp_tolerance`;
  * span micro-F1 (exact) — higher is better; the challenger may be worse by at most `f1_tolerance`.
With no champion yet, the challenger must beat the regex baseline of its own report on both (strictly
better FP@95R, F1 no worse).

Outside dev sets (public labeled sets nobody on the project wrote, evaluated on a fixed sample), when
present, must each agree too. Per set, the metrics it can support (`dev_set_metrics`):
  * sensitivity FP@95R where the set labels both classes;
  * sensitivity recall at the operating threshold where every example is positive (FP@95R is 0 by
    definition there, so it would say nothing);
  * span micro-F1 (exact) where the set annotates span types.
The challenger may be worse than the reference (the champion on the same sample, or with no champion
the regex baseline of its own dev report) by at most `dev_tolerance` on each: dev samples are small,
so one example moves a metric by 1/n.

A decision is about one bundle: it records the bundle's path, its model_version and the champion it
was compared with, and `promote` refuses a decision that says no, is about another bundle (or a bundle
rewritten since), or was made against a champion that has changed since.

`models/champion` is a symbolic link to a bundle directory under `models/bundles/`; promotion writes a
new link beside it and renames it over the old one (one atomic rename), and keeps the previous target
as `models/champion_previous` for rollback. Every promotion is appended to `models/champion_history.jsonl`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

FP = "sensitivity_fp_at_95_recall"
RECALL = "sensitivity_recall"
F1 = "span_micro_f1"
LOWER_IS_BETTER = frozenset({FP})
METRIC_NAMES = {FP: "FP@95R", RECALL: "recall", F1: "span F1"}


class GateRefused(RuntimeError):
    """`promote` was handed a decision that does not allow promoting this bundle now."""


@dataclass
class GateDecision:
    promote: bool
    reason: str
    against: str  # "champion" | "regex_baseline"
    challenger: dict[str, float]
    reference: dict[str, float]
    tolerances: dict[str, float] = field(default_factory=dict)
    # dev set -> {"against", "ok", "n", "metrics": {metric: {"challenger", "reference", "ok"}}}
    dev_sets: dict[str, dict[str, Any]] = field(default_factory=dict)
    bundle: str = ""  # the bundle directory decided on (resolved)
    model_version: str = ""  # that bundle's config.json model_version when decided
    champion: str = ""  # the champion bundle compared with (resolved); "" when there was none

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GateDecision:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def for_bundle(self, bundle: Path, champion: Path | None) -> GateDecision:
        """This decision tied to `bundle` (as it is now) and to the champion it was compared with."""
        bundle = Path(bundle).resolve()
        return replace(
            self, bundle=str(bundle), model_version=bundle_version(bundle),
            champion=str(Path(champion).resolve()) if champion else "",
        )  # fmt: skip

    def summary(self) -> str:
        """One line: the verdict and why."""
        return f"{'promote' if self.promote else 'refuse'}: {self.reason}"

    def markdown(self) -> str:
        rows = [
            f"| test split | {METRIC_NAMES[k]} | {_fmt(self.challenger.get(k))} | {_fmt(self.reference.get(k))} |"
            for k in (FP, F1)
        ]
        for name, dev in self.dev_sets.items():
            rows += [
                f"| {name} (n={dev.get('n')}) | {METRIC_NAMES.get(k, k)} | {_fmt(m['challenger'])} | "
                f"{_fmt(m['reference'])} ({dev['against']}){'' if m['ok'] else ' ✗'} |"
                for k, m in dev["metrics"].items()
            ]
        verdict = "PROMOTE" if self.promote else "REFUSE"
        return (
            f"**{verdict}** ({self.reason})\n\n| set | metric | challenger | {self.against} |\n|---|---|---|---|\n"
            + "\n".join(rows)
        )


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.4f}"


def _num(x: Any, worst: float) -> float:
    """A metric, or the worst value when it is missing: a missing number is never a free pass."""
    return worst if x is None else float(x)


def gate_metrics(side: dict[str, Any]) -> dict[str, float]:
    """The two test-split gate numbers of one side of a report (`report["model"]` or `["baseline_regex"]`)."""
    return {
        FP: _num(side.get("doc", {}).get("sensitivity", {}).get("fp_at_95_recall"), 1.0),
        F1: _num(side.get("spans", {}).get("exact", {}).get("micro", {}).get("f1"), 0.0),
    }


def dev_set_metrics(report: Mapping[str, Any], side: str = "model") -> dict[str, float]:
    """The gate numbers one dev-set report supports, for `side` ("model" | "baseline_regex").

    Which metrics apply is a property of the dataset (read from the model side, which scored the same
    examples): FP@95R with both sensitivity classes, recall when every example is positive, span F1
    when the set annotates span types.
    """
    out: dict[str, float] = {}
    labeled = report["model"]["doc"].get("sensitivity")
    block = report[side]["doc"].get("sensitivity") or {}
    if labeled and 0 < labeled["n_positive"] < labeled["n"]:
        out[FP] = _num(block.get("fp_at_95_recall"), 1.0)
    elif labeled and labeled["n_positive"] == labeled["n"]:
        out[RECALL] = _num(block.get("recall"), 0.0)
    if report["model"].get("spans"):
        out[F1] = _num(report[side].get("spans", {}).get("exact", {}).get("micro", {}).get("f1"), 0.0)
    return out


def no_worse(challenger: Mapping[str, float], reference: Mapping[str, float],
             tolerance: float) -> dict[str, dict[str, Any]]:  # fmt: skip
    """Per metric both have: challenger, reference, and whether the challenger is within `tolerance`."""
    rows = {}
    for k, c in challenger.items():
        if k not in reference:
            continue
        r = reference[k]
        ok = c <= r + tolerance if k in LOWER_IS_BETTER else c >= r - tolerance
        rows[k] = {"challenger": c, "reference": r, "ok": ok}
    return rows


def dev_set_verdicts(
    dev_reports: Mapping[str, Mapping[str, Any]],
    champion_dev_reports: Mapping[str, Mapping[str, Any]] | None,
    tolerance: float,
) -> dict[str, dict[str, Any]]:
    """Per dev set: the challenger (the model side of its report) against the champion's model side on the
    same sample, or with no champion report for the set, against the regex baseline of its own report."""
    out = {}
    for name, report in dev_reports.items():
        champ = (champion_dev_reports or {}).get(name)
        reference = dev_set_metrics(champ, "model") if champ else dev_set_metrics(report, "baseline_regex")
        metrics = no_worse(dev_set_metrics(report, "model"), reference, tolerance)
        out[name] = {
            "against": "champion" if champ else "regex_baseline",
            "n": report.get("dataset", {}).get("n"),
            "metrics": metrics,
            "ok": all(m["ok"] for m in metrics.values()),
        }
    return out


def _failed(names: list[str]) -> str:
    return " and ".join(names)


def gate_decision(
    challenger_report: dict[str, Any],
    champion_report: dict[str, Any] | None = None,
    fp_tolerance: float = 0.005,
    f1_tolerance: float = 0.005,
    *,
    dev_reports: Mapping[str, Mapping[str, Any]] | None = None,
    champion_dev_reports: Mapping[str, Mapping[str, Any]] | None = None,
    dev_tolerance: float = 0.05,
) -> GateDecision:
    """Decide whether the challenger replaces the champion (or, with none, whether it beats regex).

    `dev_reports`: the challenger's report on each outside dev set present (name -> report); with a
    champion, `champion_dev_reports` holds the champion's reports on the same samples.
    The decision is not yet tied to a bundle: call `for_bundle` before handing it to `promote`.
    """
    chal = gate_metrics(challenger_report["model"])
    tol = {"fp_tolerance": fp_tolerance, "f1_tolerance": f1_tolerance, "dev_tolerance": dev_tolerance}
    if champion_report is None:
        against, ref = "regex_baseline", gate_metrics(challenger_report["baseline_regex"])
        test_ok = {"FP@95R": chal[FP] < ref[FP], "span F1": chal[F1] >= ref[F1]}
        passed, failed = (
            "first model beats the regex baseline",
            "first model does not beat the regex baseline on ",
        )
    else:
        against, ref = "champion", gate_metrics(champion_report["model"])
        test_ok = {
            "FP@95R": chal[FP] <= ref[FP] + fp_tolerance,
            "span F1": chal[F1] >= ref[F1] - f1_tolerance,
        }
        passed = "challenger is no worse than the champion within tolerance"
        failed = "challenger is worse than the champion on "
    devs = dev_set_verdicts(
        dev_reports or {}, champion_dev_reports if champion_report else None, dev_tolerance
    )
    bad_test = [n for n, good in test_ok.items() if not good]
    bad_dev = [
        f"{name} {METRIC_NAMES.get(k, k)}"
        for name, d in devs.items()
        for k, m in d["metrics"].items()
        if not m["ok"]
    ]
    ok = not bad_test and not bad_dev
    if ok:
        reason = passed + (f" on the test split and is no worse on {_failed(list(devs))}" if devs else "")
    elif bad_test:
        reason = failed + _failed(bad_test) + (f"; also worse on {_failed(bad_dev)}" if bad_dev else "")
    else:
        reason = f"{passed} on the test split but is worse on {_failed(bad_dev)} (dev sets)"
    return GateDecision(ok, reason, against, chal, ref, tol, devs)


def bundle_version(bundle: Path) -> str:
    """The bundle's model_version (config.json); FileNotFoundError when `bundle` is not a bundle."""
    config = Path(bundle) / "config.json"
    if not config.is_file():
        raise FileNotFoundError(f"{bundle} is not a model bundle (no config.json)")
    return str(json.loads(config.read_text()).get("model_version", ""))


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


def check_promotable(models: Path, bundle: Path, decision: GateDecision) -> None:
    """Raise `GateRefused` unless `decision` says yes, about exactly `bundle` as it is now, against the
    champion in place now."""
    bundle = Path(bundle).resolve()
    if not decision.promote:
        raise GateRefused(f"gate refused {bundle.name}: {decision.reason}")
    if decision.bundle != str(bundle):
        raise GateRefused(f"the gate decision is about {decision.bundle or 'no bundle'}, not {bundle}")
    version = bundle_version(bundle)
    if decision.model_version != version:
        raise GateRefused(
            f"{bundle.name} is model {version}, but the gate decided on model {decision.model_version or '?'}"
        )
    now = current_champion(models)
    if str(now or "") != decision.champion:
        raise GateRefused(
            f"the champion changed since the gate decided (compared with {decision.champion or 'none'}, "
            f"now {now or 'none'}): evaluate the challenger again"
        )


def promote(models: Path, bundle: Path, decision: GateDecision) -> dict[str, Any]:
    """Point `models/champion` at `bundle` atomically; the old target becomes `champion_previous`.

    Only with a decision that allows it (`check_promotable`); anything else raises `GateRefused` and
    leaves the links untouched. There is no promotion without a decision: a hand promotion states its
    reason in a `GateDecision` of its own, tied to the bundle with `for_bundle`.
    """
    models.mkdir(parents=True, exist_ok=True)
    bundle = Path(bundle).resolve()
    bundle_version(bundle)  # not a bundle: FileNotFoundError before anything else
    check_promotable(models, bundle, decision)
    previous = current_champion(models)
    if previous is not None and previous != bundle:
        _swap_link(models / "champion_previous", previous)
    _swap_link(champion_dir(models), bundle)
    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "champion": str(bundle),
        "previous": str(previous) if previous else None,
        "decision": decision.as_dict(),
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
