"""The carrier_corpus asset on a tmp lake with a fixture cache: rows per source, skipped ones named."""

import dagster as dg

from dlp_assets import carriers
from dlp_assets.definitions import defs
from hrm_core.data.corpus import query_carriers
from hrm_core.data.corpus.sources import SOURCES
from tests.hrm_core.data.corpus.conftest import _tgz


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
        run_config={"ops": {"carrier_corpus": {"config": {"stdlib_files": 5}}}},
    )
    assert result.success
    meta = result.asset_materializations_for_node("carrier_corpus")[0].metadata
    assert meta["skipped_sources"].value == ", ".join(sorted(s.name for s in SOURCES))
    stored = query_carriers(lake, "SELECT source, count(*) AS n FROM carriers GROUP BY source")
    assert (
        stored["source"].tolist() == ["python-stdlib"] and meta["dagster/row_count"].value == stored["n"][0]
    )


def test_carrier_corpus_is_registered_but_not_upstream_of_examples():
    graph = defs.resolve_asset_graph()
    key = dg.AssetKey("carrier_corpus")
    assert key in graph.get_all_asset_keys()
    assert key not in graph.get(dg.AssetKey("examples")).parent_keys
