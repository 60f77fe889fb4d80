"""`hrm-dlp bench` and `hrm_core.serve.bench`: report keys, positive ordered numbers, bounded budgets."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from hrm_core.cli import main as cli
from hrm_core.serve.bench import BenchBudget, bench_scanner, make_message, size_label, timed_runs
from tests.hrm_core.serve.scan_fixtures import build_tiny_bundle


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bundle(tmp_path_factory.mktemp("bench") / "bundle")


def _check_measurement(m: dict, batches: list[int], runs: int) -> None:
    lat = m["latency_ms"]
    assert lat["n"] == runs
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"]
    assert lat["mean"] > 0
    assert sorted(m["messages_per_s"], key=int) == [str(b) for b in batches]
    assert all(v > 0 for v in m["messages_per_s"].values())


def test_cli_bench_reports_every_backend_with_ordered_percentiles(tiny_bundle, tmp_path, capsys) -> None:
    out = tmp_path / "reports" / "bench.json"
    argv = ["bench", "--model", str(tiny_bundle), "--out", str(out), "--runs", "3"]
    argv += ["--sizes", "300,2048", "--batches", "1,4", "--backends", "int8,fp32,regex"]
    assert cli.main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert json.loads(out.read_text()) == printed  # --out holds exactly what was printed
    assert {"machine", "model", "model_version", "budget", "results", "ratios"} <= set(printed)
    assert (
        printed["model"] == str(tiny_bundle)
        and printed["model_version"] == json.loads((tiny_bundle / "config.json").read_text())["model_version"]
    )
    assert printed["machine"]["cpus"] >= 1 and printed["budget"]["runs"] == 3
    assert set(printed["results"]) == {"int8", "fp32", "regex"}
    for backend, per_size in printed["results"].items():
        assert set(per_size) == {"300B", "2KB"}, backend
        for m in per_size.values():
            _check_measurement(m, [1, 4], runs=3)
    # Ratios against the baseline on the first size, largest common batch when 32 was not measured.
    assert set(printed["ratios"]) == {"int8", "fp32"}
    for r in printed["ratios"].values():
        assert r["p50_latency_x_regex"] > 0 and r["batch4_throughput_x_regex"] > 0


def test_cli_bench_torch_backend(tiny_bundle, capsys) -> None:
    # Torch eager is ~10x slower than ONNX on the tiny model: one small size keeps this test short.
    argv = ["bench", "--model", str(tiny_bundle), "--runs", "2", "--sizes", "200", "--batches", "1,2"]
    assert cli.main([*argv, "--backends", "torch"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report["results"]) == ["torch"] and report["ratios"] == {}  # no baseline asked for
    _check_measurement(report["results"]["torch"]["200B"], [1, 2], runs=2)


def test_cli_bench_without_a_bundle_exits_3(tmp_path, capsys) -> None:
    assert cli.main(["bench", "--lake", str(tmp_path), "--backends", "int8"]) == 3
    assert "no model bundle" in capsys.readouterr().err


def test_cli_bench_regex_alone_needs_no_bundle(tmp_path, capsys) -> None:
    argv = ["bench", "--lake", str(tmp_path), "--backends", "regex", "--runs", "2", "--sizes", "500"]
    assert cli.main([*argv, "--batches", "1,2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report["results"]) == ["regex"] and report["ratios"] == {}
    _check_measurement(report["results"]["regex"]["500B"], [1, 2], runs=2)


def test_cli_bench_rejects_unknown_backends_and_bad_lists(tmp_path) -> None:
    assert cli.main(["bench", "--lake", str(tmp_path), "--backends", "int8,gpu"]) == 3  # a usage mistake
    with pytest.raises(SystemExit):
        cli.main(["bench", "--batches", "1,x"])
    with pytest.raises(SystemExit):
        cli.main(["bench", "--sizes", "0"])


def test_timed_runs_stops_at_the_run_count_or_the_time_cap() -> None:
    calls: list[int] = []
    assert len(timed_runs(lambda: calls.append(1), BenchBudget(runs=5, seconds=60.0))) == 5
    # A zero time cap still makes min_runs calls, and no more.
    assert len(timed_runs(lambda: None, BenchBudget(runs=100, seconds=0.0, min_runs=2))) == 2
    assert len(timed_runs(lambda: None, BenchBudget(runs=None, seconds=0.0, min_runs=4))) == 4
    # Past max_call_s a slow measurement stops after its first call, below min_runs.
    slow = BenchBudget(runs=10, seconds=0.0, min_runs=5, max_call_s=0.005)
    assert len(timed_runs(lambda: time.sleep(0.01), slow)) == 1


def test_a_batch_estimated_over_max_call_seconds_is_skipped_and_said_so() -> None:
    seen_batch_sizes: list[int] = []

    def slow_scan(messages: list[dict]) -> None:
        seen_batch_sizes.append(len(messages))
        time.sleep(0.002 * len(messages))

    # 8 messages at >= 2 ms each exceed a 10 ms cap: batch 8 is skipped, batch 1 never is.
    result = bench_scanner(slow_scan, BenchBudget(runs=2, max_call_s=0.01), {"1KB": 1000}, [1, 8])
    assert list(result["1KB"]["messages_per_s"]) == ["1"]
    assert "8" in result["1KB"]["skipped_batches"]
    assert 8 not in seen_batch_sizes


def test_size_labels_and_seeded_messages() -> None:
    assert [size_label(n) for n in (2000, 2048, 20480, 204800, 300)] == [
        "2KB",
        "2KB",
        "20KB",
        "200KB",
        "300B",
    ]
    assert len(make_message(2048)["body"]) == 2048
    assert make_message(500, seed=3) == make_message(500, seed=3)
    assert make_message(500, seed=3)["body"] != make_message(500, seed=4)["body"]


def test_benchmark_script_is_a_thin_wrapper_with_its_old_flags(
    tiny_bundle, tmp_path, monkeypatch, capsys
) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
    try:
        import bench_latency
    finally:
        sys.path.pop(0)
    called: dict = {}

    def fake_run(model, backends, sizes, batches=None, budget=None):
        called.update(model=model, backends=backends, sizes=sizes, budget=budget)
        return {"results": {}, "ratios": {}}

    monkeypatch.setattr(bench_latency, "run_benchmark", fake_run)
    out = tmp_path / "b.json"
    argv = ["--model", str(tiny_bundle), "--backends", "int8", "--seconds", "0.5", "--sizes", "2KB,20KB"]
    assert bench_latency.main([*argv, "--out", str(out)]) == 0
    assert called["backends"] == ["int8", "regex"]
    assert called["sizes"] == {"2KB": 2_000, "20KB": 20_000}
    assert called["budget"].seconds == 0.5 and called["budget"].runs is None
    assert json.loads(out.read_text()) == json.loads(capsys.readouterr().out)
