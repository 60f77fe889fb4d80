"""The manager's plan: balance, filling gaps, cost estimate, counts from the lake."""

from __future__ import annotations

import pytest

from hrm_core.agentic.plan import (
    DOMAINS,
    EST_ACCEPTANCE,
    LABEL_COMBOS,
    counts_from_rows,
    estimate,
    plan_mix,
    read_current_counts,
)  # fmt: skip
from hrm_core.data.contract import CHANNELS


def test_plan_is_balanced_and_sums_to_target():
    plan = plan_mix(1152)  # 4 channels × 6 domains × 16 label combos × 3 difficulties
    assert sum(plan.cell_counts.values()) == 1152 and set(plan.cell_counts.values()) == {1}
    assert sum(t.turns for t in plan.tasks) == 1152
    mix = plan.mix()
    assert set(mix["channel"].values()) == {288} and set(mix["domain"].values()) == {192}
    assert set(mix["labels"].values()) == {72} and set(mix["difficulty"].values()) == {384}


def test_plan_fills_what_the_table_lacks():
    current = {(ch, d, lab): 10 for ch in CHANNELS for d in DOMAINS for lab in LABEL_COMBOS}
    current[("pr", "legal", (1, 1, 0, 1))] = 0
    current[("upload", "casual", (0, 0, 0, 0))] = 5
    plan = plan_mix(15, current)
    by_key: dict = {}
    for c, n in plan.cell_counts.items():
        by_key[(c.channel, c.domain, c.labels)] = by_key.get((c.channel, c.domain, c.labels), 0) + n
    assert by_key == {("pr", "legal", (1, 1, 0, 1)): 10, ("upload", "casual", (0, 0, 0, 0)): 5}


def test_estimate_counts_requests_tokens_and_cost():
    plan = plan_mix(100)
    est = estimate(plan, "claude-haiku-4-5", judge=True, batch=True)
    assert est["requests_planned"] == 200 and est["requests_expected"] == 2 * int(100 / EST_ACCEPTANCE)
    expected = (est["input_tokens"] * 1.0 + est["output_tokens"] * 5.0) / 1e6 * 0.5
    assert est["cost_usd"] == pytest.approx(expected, abs=0.01)


def test_counts_from_rows_maps_roles_to_domains_and_skips_unlabeled():
    rows = [
        {"channel": "email", "user_role": "LEGAL", "sensitivity": 1, "exposure": 0, "context": 1, "obfuscation": 0, "n": 3},
        {"channel": "email", "user_role": "SALES", "sensitivity": 0, "exposure": 0, "context": 1, "obfuscation": 0, "n": 2},
        {"channel": "chat", "user_role": "HR", "sensitivity": None, "exposure": 0, "context": 1, "obfuscation": 0, "n": 9},
    ]  # fmt: skip
    assert counts_from_rows(rows) == {
        ("email", "legal", (1, 0, 1, 0)): 3,
        ("email", "casual", (0, 0, 1, 0)): 2,
    }


def test_read_current_counts_on_missing_and_empty_lake(tmp_path):
    assert read_current_counts(str(tmp_path / "nope")) == {}
    (tmp_path / "lake").mkdir()
    assert read_current_counts(str(tmp_path / "lake")) == {}
