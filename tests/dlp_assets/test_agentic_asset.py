"""The agentic_examples asset under a real Dagster instance: no key fails fast; a faked run lands in the lake."""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest

from dlp_assets.agentic import agentic_acceptance_rate, agentic_examples
from hrm_core.agentic.audit import REJECTED_SHARE_SQL
from hrm_core.agentic.client import MessageClient
from hrm_core.agentic.fake_api import FakeClaude
from hrm_core.data.lake import read_parquet_dir
from resources.anthropic import AnthropicResource
from resources.lake import LakeResource

SECRET = "sk-ant-test-NEVER-SHOWN"


class FakeAnthropicResource(AnthropicResource):
    """The real resource, with the SDK client wired to the in-process fake API."""

    def message_client(self, default_cache_dir: str) -> MessageClient:
        fake = FakeClaude(fault=lambda seed, req: "value_not_found" if seed.startswith("3-") else None)
        return MessageClient(
            fake.client(), default_cache_dir, self.model, mode=self.mode, sleep=lambda s: None
        )


def test_asset_fails_fast_without_api_key(tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with (
        dg.instance_for_test() as instance,
        pytest.raises(Exception, match="ANTHROPIC_API_KEY is not set") as e,
    ):
        dg.materialize(
            [agentic_examples],
            instance=instance,
            resources={"lake": LakeResource(root=str(tmp_path)), "anthropic": AnthropicResource()},
        )
    assert "export ANTHROPIC_API_KEY=" in str(e.value)
    assert not (tmp_path / "agentic").exists()  # nothing planned, nothing written


def test_asset_writes_parquet_and_audit_without_leaking_the_key(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    resource = FakeAnthropicResource(mode="concurrent")
    assert SECRET not in repr(resource)
    with dg.instance_for_test() as instance:
        res = dg.materialize(
            [agentic_examples, agentic_acceptance_rate],
            instance=instance,
            resources={"lake": LakeResource(root=str(tmp_path)), "anthropic": resource},
            run_config={"ops": {"agentic_examples": {"config": {"target": 6}}}},
        )
        assert res.success
        md = res.asset_materializations_for_node("agentic_examples")[0].metadata
        records = instance.get_records_for_run(res.run_id).records
        logs = "\n".join(str(r.event_log_entry) for r in records)
    assert md["dagster/row_count"].value == 6 and md["generated"].value == 7
    assert md["acceptance_rate"].value == pytest.approx(6 / 7, abs=1e-4)
    assert "value_not_found | 1" in md["rejections"].value
    assert md["input_tokens"].value > 0 and md["estimated_cost_usd"].value > 0
    assert all(SECRET not in str(v.value) for v in md.values())
    assert SECRET not in logs and SECRET not in caplog.text
    table = read_parquet_dir(tmp_path / "parquet" / "agentic")
    assert table.num_rows == 6 and set(table.column("source").to_pylist()) == {"agentic"}
    share = duckdb.sql(
        REJECTED_SHARE_SQL.format(path=f"{tmp_path}/parquet/agentic_audit/*.parquet")
    ).fetchall()
    assert sum(r[2] for r in share) == 7 and any(r[1] == "value_not_found" for r in share)
