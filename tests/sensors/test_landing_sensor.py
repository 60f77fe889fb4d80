import os

import dagster as dg

from sensors.landing import build_landing_sensor, landing_tick

JOB = dg.define_asset_job("ingest_and_retrain", selection="landed_examples")


def _tick(sensor, cursor, instance):
    ctx = dg.build_sensor_context(cursor=cursor, instance=instance)
    result = sensor.evaluate_tick(ctx)
    return result.run_requests, result.cursor


def _bump_mtime(path, seconds=5):
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))


def test_runs_once_per_stable_file_and_survives_restart(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "a.jsonl").write_text('{"id": 1}\n')
    (landing / "notes.txt").write_text("ignored: not a landing format")
    sensor = build_landing_sensor(JOB, lake_root=str(tmp_path))
    with dg.instance_for_test() as instance:
        runs, cursor = _tick(sensor, None, instance)
        assert runs == []  # first sighting: wait until size and mtime hold still for a tick
        runs, cursor = _tick(sensor, cursor, instance)
        assert [r.run_config["ops"]["landed_examples"]["config"]["paths"] for r in runs] == [["a.jsonl"]]
        key = runs[0].run_key
        assert key.startswith("a.jsonl:") and len(key.split(":")[1]) == 64

        # A restarted daemon resumes from the stored cursor: nothing is requested again.
        runs, cursor = _tick(sensor, cursor, instance)
        assert runs == []

        # Same bytes dropped again (new mtime): hashed, but no new run.
        (landing / "a.jsonl").write_text('{"id": 1}\n')
        _bump_mtime(landing / "a.jsonl")
        runs, cursor = _tick(sensor, cursor, instance)
        runs2, cursor = _tick(sensor, cursor, instance)
        assert runs == [] and runs2 == []

        # Changed content: one new run, with a different key.
        (landing / "a.jsonl").write_text('{"id": 1}\n{"id": 2}\n')
        _bump_mtime(landing / "a.jsonl", 10)
        runs, cursor = _tick(sensor, cursor, instance)
        assert runs == []
        runs, cursor = _tick(sensor, cursor, instance)
        assert len(runs) == 1 and runs[0].run_key != key


def test_file_still_being_written_waits(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    f = landing / "big.jsonl"
    f.write_text("x\n")
    runs, cursor = landing_tick(landing, {})
    with open(f, "a") as fh:  # the writer is still appending between ticks
        fh.write("y\n")
    runs, cursor = landing_tick(landing, cursor)
    assert runs == []
    runs, cursor = landing_tick(landing, cursor)
    assert [name for name, _ in runs] == ["big.jsonl"]


def test_missing_landing_folder_is_not_an_error(tmp_path):
    assert landing_tick(tmp_path / "nope", {}) == ([], {"seen": {}, "done": {}})
