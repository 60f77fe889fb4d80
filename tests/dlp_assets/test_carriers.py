"""The carrier assets on a tmp lake: carrier_corpus from a fixture cache (rows per source, skipped ones
named), carrier_examples from its run's corpus (n rows with provenance, or none and a note), their union
into `examples` with its shares, and the real-carrier share check at its threshold."""

import json

import dagster as dg
import pyarrow.parquet as pq
import pytest

from dlp_assets import carriers, checks, data
from dlp_assets.definitions import defs
from hrm_core.data.corpus import build_carrier_corpus, query_carriers, read_carrier_documents
from hrm_core.data.corpus.sources import SOURCES, SOURCES_BY_NAME
from hrm_core.data.warehouse import query
from hrm_core.release.onnx_session import usable_cpu_count
from hrm_core.synth.carriers import generate_carrier_examples, usable_documents
from resources.lake import LakeResource
from resources.quality import DataQualityPolicy
from tests.hrm_core.data.corpus.conftest import REAL_ORIGINALS, _tgz
from tests.hrm_core.data.test_shares import known_table


def test_carrier_corpus_materializes_what_is_cached_and_names_the_rest(tmp_path, instance, resources):
    lake = resources["lake"].lake()
    cache = lake.root / "corpora"
    cache.mkdir(parents=True)
    # A tarball with other bytes than the pin: must be refused like a missing one.
    _tgz(cache / SOURCES[0].filename, {"package/data/x.json": {"id": "1", "text": "From: a@b.example\n\nhi"}})
    result = dg.materialize(
        [carriers.carrier_corpus],
        instance=instance,
        resources=resources,
        run_config={"ops": {"carrier_corpus": {"config": {"stdlib_files": 5, "running_text_names": False}}}},
    )
    assert result.success
    meta = result.asset_materializations_for_node("carrier_corpus")[0].metadata
    assert meta["skipped_sources"].value == ", ".join(sorted(s.name for s in SOURCES))
    stored = query_carriers(lake, "SELECT source, count(*) AS n FROM carriers GROUP BY source")
    assert (
        stored["source"].tolist() == ["python-stdlib"] and meta["dagster/row_count"].value == stored["n"][0]
    )


def test_carrier_corpus_has_the_regex_baselines_phone_rules_find_phones_for_surrogates(
    instance, resources, monkeypatch
):
    # The data layer cannot import the rules; the asset hands them over. Record what it hands.
    handed = {}

    def recording_build(lake, **kwargs):
        handed.update(kwargs)
        return build_carrier_corpus(lake, **kwargs)

    monkeypatch.setattr(carriers, "build_carrier_corpus", recording_build)
    result = dg.materialize(
        [carriers.carrier_corpus],
        instance=instance,
        resources=resources,
        run_config={"ops": {"carrier_corpus": {"config": {"stdlib_files": 0}}}},
    )
    assert result.success
    text = "Tel/Fax: 44-870-136-7079 or Phone:\n467 3395"
    assert [text[s:e] for s, e in handed["find_phones"](text)] == ["44-870-136-7079", "467 3395"]
    assert handed["workers"] == usable_cpu_count()  # config workers 0: one per usable core


def test_carrier_corpus_feeds_examples_through_carrier_examples_in_the_demo():
    graph = defs.resolve_asset_graph()
    corpus, planted, examples = (dg.AssetKey(k) for k in ("carrier_corpus", "carrier_examples", "examples"))
    assert graph.get(planted).parent_keys == {corpus} and planted in graph.get(examples).parent_keys
    assert graph.get(planted).group_name == "data"
    demo = defs.resolve_job_def("demo").asset_layer.executable_asset_keys
    assert {corpus, planted, examples} <= demo
    check_keys = {c.name for c in graph.asset_check_keys if c.asset_key == examples}
    assert {"examples_real_carrier_share", "examples_carrier_sources"} <= check_keys


def corpus_stand_in(cache, sources) -> dg.AssetsDefinition:
    """carrier_corpus over the fixture cache (3 mails, 1 address, 1 licence; no stdlib), no network."""

    @dg.asset(name="carrier_corpus")
    def stand_in(lake: LakeResource) -> dict:
        return {"report": build_carrier_corpus(lake.lake(), sources=sources, cache=cache, stdlib_files=0)}

    return stand_in


def carrier_config(n: int, seed: int = 3) -> dict:
    return {"ops": {"carrier_examples": {"config": {"n": n, "seed": seed}}}}


def test_carrier_examples_are_n_rows_with_their_provenance(tmp_path, instance, resources, fixture_cache):
    cache, sources = fixture_cache
    result = dg.materialize(
        [corpus_stand_in(cache, sources), carriers.carrier_examples],
        instance=instance, resources=resources, run_config=carrier_config(40),
    )  # fmt: skip
    assert result.success
    meta = result.asset_materializations_for_node("carrier_examples")[0].metadata
    assert meta["dagster/row_count"].value == 40 and meta["carrier_documents"].value == 5
    assert meta["note"].value == "40 examples planted into excerpts of 5 carrier documents"
    lake = resources["lake"].lake()
    rows = pq.read_table(meta["path"].value).to_pylist()
    docs = {r["doc_id"] for r in query_carriers(lake, "SELECT doc_id FROM carriers").to_dict("records")}
    assert len(rows) == 40
    for row in rows:
        extra = json.loads(row["meta_json"])
        source = SOURCES_BY_NAME[row["source"].removeprefix("carrier:")]
        assert (extra["licence"], extra["carrier_kind"]) == (source.licence, source.kind)
        assert extra["carrier_doc"] in docs and extra["carrier_version"] == source.spec.rpartition("@")[2]
        assert not any(o in row["body"] for o in REAL_ORIGINALS)  # surrogates only
    # The published copy is what the carrier_examples view reads.
    assert query(lake, "SELECT count(*) AS n FROM carrier_examples")["n"].tolist() == [40]


def test_without_a_corpus_carrier_examples_is_empty_and_says_why(instance, resources):
    alone = dg.materialize(
        [carriers.carrier_corpus, carriers.carrier_examples], selection=[carriers.carrier_examples],
        instance=instance, resources=resources,
    )  # fmt: skip
    meta = alone.asset_materializations_for_node("carrier_examples")[0].metadata
    assert alone.success and meta["dagster/row_count"].value == 0
    assert meta["note"].value.startswith("no carrier examples: carrier_corpus was never materialized")

    # Nothing fetched and no stdlib sample: every source is skipped, the run still succeeds.
    empty = dg.materialize(
        [carriers.carrier_corpus, carriers.carrier_examples], instance=instance, resources=resources,
        run_config={"ops": {"carrier_corpus": {"config": {"stdlib_files": 0}}}},
    )  # fmt: skip
    meta = empty.asset_materializations_for_node("carrier_examples")[0].metadata
    assert empty.success and meta["dagster/row_count"].value == 0 and meta["carrier_documents"].value == 0
    skipped = ", ".join(sorted(s.name for s in SOURCES))
    assert meta["note"].value == (
        "no carrier examples: the carrier corpus holds no document of at least 300 characters "
        f"(skipped sources: {skipped}; run `make install`, then materialize carrier_corpus)"
    )
    assert pq.read_table(meta["path"].value).num_rows == 0


def test_with_the_stdlib_sample_alone_the_note_names_the_skipped_sources(instance, resources):
    result = dg.materialize(
        [carriers.carrier_corpus, carriers.carrier_examples], instance=instance, resources=resources,
        run_config={"ops": {"carrier_corpus": {"config": {"stdlib_files": 5}}, **carrier_config(10)["ops"]}},
    )  # fmt: skip
    meta = result.asset_materializations_for_node("carrier_examples")[0].metadata
    assert meta["dagster/row_count"].value == 10
    skipped = ", ".join(sorted(s.name for s in SOURCES))
    assert meta["note"].value == (
        f"10 examples planted into excerpts of {meta['carrier_documents'].value} carrier documents "
        f"(skipped sources: {skipped}; run `make install`, then materialize carrier_corpus)"
    )
    assert {r["source"] for r in pq.read_table(meta["path"].value).to_pylist()} == {"carrier:python-stdlib"}


def test_examples_unions_carrier_examples_and_shows_the_shares(tmp_path, instance, resources, fixture_cache):
    cache, sources = fixture_cache
    run_config = {
        "ops": {**carrier_config(60)["ops"], "synthetic_examples": {"config": {"n": 20, "seed": 3}}}
    }
    result = dg.materialize(
        [corpus_stand_in(cache, sources), carriers.carrier_examples, data.synthetic_examples, data.examples,
         checks.examples_real_carrier_share],
        instance=instance, resources=resources, run_config=run_config,
    )  # fmt: skip
    assert result.success
    planted = pq.read_table(
        result.asset_materializations_for_node("carrier_examples")[0].metadata["path"].value
    )
    meta = result.asset_materializations_for_node("examples")[0].metadata
    table = pq.read_table(meta["path"].value).to_pylist()
    on_carrier = [r for r in table if r["source"].startswith("carrier:")]
    # Every distinct carrier example is in `examples` (short fixture documents repeat now and then).
    assert len(on_carrier) == len(set(planted.column("content_hash").to_pylist()))
    assert meta["rows_in"].value == 80 and len(table) == 80 - meta["duplicates_dropped"].value
    train = [r for r in table if r["split"] == "train"]
    share = sum(r["source"].startswith("carrier:") for r in train) / len(train)
    assert meta["real_carrier_share_train"].value == share
    assert f"| carrier | real carrier | {share:.3f} |" in meta["shares"].value
    (check,) = result.get_asset_check_evaluations()
    assert check.passed is (share >= 0.6) and check.metadata["train_share"].value == round(share, 4)
    assert check.metadata["train_examples"].value == len(train)


def known_examples(path, rows=None) -> dg.AssetsDefinition:
    """`examples` standing in with the known table of test_shares (train 5 rows, 3 on a carrier: 0.6), or
    with ``rows`` in its layout."""
    pq.write_table(known_table() if rows is None else known_table(rows), path)

    @dg.asset(name="examples")
    def stand_in() -> dict:
        return {"path": str(path)}

    return stand_in


@pytest.mark.parametrize(("threshold", "passed"), [(0.6, True), (0.61, False)])
def test_real_carrier_share_check_passes_at_the_threshold(tmp_path, instance, resources, threshold, passed):
    result = dg.materialize(
        [known_examples(tmp_path / "known.parquet"), checks.examples_real_carrier_share], instance=instance,
        resources={**resources, "quality": DataQualityPolicy(min_real_carrier_share=threshold)},
    )  # fmt: skip
    assert result.success  # warns, never blocks
    (check,) = result.get_asset_check_evaluations()
    assert check.passed is passed and check.severity == dg.AssetCheckSeverity.WARN
    got = {k: v.value for k, v in check.metadata.items() if k != "per_split"}
    assert got == {"train_share": 0.6, "min_real_carrier_share": threshold, "train_examples": 5,
                   "train_carrier_examples": 3}  # fmt: skip
    assert check.metadata["per_split"].value["val"] == {"examples": 2, "carrier_examples": 1, "share": 0.5}


def test_the_name_clause_rate_reaches_the_planter_and_a_bad_one_fails_the_step(
    instance, resources, fixture_cache
):
    cache, sources = fixture_cache
    bodies = {}
    for rate in (0.0, 1.0):
        config = {"ops": {"carrier_examples": {"config": {"n": 40, "seed": 3, "name_clause_rate": rate}}}}
        result = dg.materialize(
            [corpus_stand_in(cache, sources), carriers.carrier_examples],
            instance=instance, resources=resources, run_config=config,
        )  # fmt: skip
        path = result.asset_materializations_for_node("carrier_examples")[0].metadata["path"].value
        bodies[rate] = [r["body"] for r in pq.read_table(path).to_pylist()]
    # The asset plants what the library plants from the same documents, seed and rate, and the rate changes it.
    stored = sorted((resources["lake"].lake().root / "parquet" / "carriers").glob("*.parquet"))
    docs = usable_documents(read_carrier_documents([str(p) for p in stored]))
    for rate, got in bodies.items():
        want, records = generate_carrier_examples(docs, 40, seed=3, name_clause_rate=rate)
        assert got == [e.body for e in want]
        clauses = sum(any(p["planter"] == "name_clause" for p in r["planted"]) for r in records)
        assert clauses == (40 if rate == 1.0 else 0)  # every fixture document is running text
    bad = {"ops": {"carrier_examples": {"config": {"n": 5, "name_clause_rate": 1.5}}}}
    failed = dg.materialize(
        [corpus_stand_in(cache, sources), carriers.carrier_examples],
        instance=instance, resources=resources, run_config=bad, raise_on_error=False,
    )  # fmt: skip
    assert not failed.success
    (failure,) = [e for e in failed.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "name_clause_rate is a share of examples, between 0 and 1; got 1.5" in str(
        failure.step_failure_data.error
    )


def test_carrier_sources_check_warns_on_a_lake_without_the_corpora(tmp_path, instance, resources):
    # The known table: train carriers from sotu and spam-assassin only.
    result = dg.materialize(
        [known_examples(tmp_path / "known.parquet"), checks.examples_carrier_sources],
        instance=instance, resources=resources,
    )  # fmt: skip
    assert result.success  # warns, never blocks
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["missing_sources"].value == "spdx-license-list, sqlalchemy-doc"
    assert check.metadata["train_examples_per_source"].value == {"sotu": 2, "spam-assassin": 1}
    assert check.description == (
        "no train example on spdx-license-list, sqlalchemy-doc (run `make install`, then materialize "
        "carrier_corpus)"
    )
    # Every corpus source in train (the stdlib sample is extra, not required): the check passes.
    rows = [("train", f"carrier:{s.name}", "email", []) for s in SOURCES]
    rows += [("train", "carrier:python-stdlib", "pr", []), ("val", "synthetic", "chat", [])]
    result = dg.materialize(
        [known_examples(tmp_path / "all.parquet", rows), checks.examples_carrier_sources],
        instance=instance, resources=resources,
    )  # fmt: skip
    (check,) = result.get_asset_check_evaluations()
    assert check.passed and check.metadata["missing_sources"].value == "none"
    assert check.metadata["train_examples_per_source"].value == {
        **{s.name: 1 for s in SOURCES},
        "python-stdlib": 1,
    }
