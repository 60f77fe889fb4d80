"""The tokenizer asset trains on its run's carrier sample besides the DSL text, or says why it did not."""

from __future__ import annotations

import dagster as dg
import pytest

from dlp_assets import carriers, data, features
from dlp_assets.carriers import built_carrier_paths
from hrm_core.data.corpus import read_carrier_documents
from hrm_core.tokens.tokenizer import DlpTokenizer
from hrm_core.tokens.training_text import sample_carrier_text

CARRIER_CHARS = 20_000
RUN_CONFIG = {
    "ops": {
        "synthetic_examples": {"config": {"n": 60, "seed": 1}},
        "tokenizer": {"config": {"vocab_size": 600, "carrier_chars": CARRIER_CHARS}},
    }
}
UPSTREAM = [data.synthetic_examples, data.landed_examples, data.examples]
LATER = [carriers.carrier_examples]  # in the graph, not in these runs: `examples` gets None for it


def _run(instance, resources, stdlib_files: int) -> dg.ExecuteInProcessResult:
    config = {"ops": {**RUN_CONFIG["ops"], "carrier_corpus": {"config": {"stdlib_files": stdlib_files}}}}
    selected = [*UPSTREAM, carriers.carrier_corpus, features.tokenizer]
    result = dg.materialize(
        [*selected, *LATER],
        selection=dg.AssetSelection.assets(*selected),
        resources=resources,
        instance=instance,
        run_config=config,
    )
    assert result.success
    return result


def test_tokenizer_trains_on_the_carrier_sample_of_its_own_run(instance, resources):
    result = _run(instance, resources, stdlib_files=5)
    meta = result.asset_materializations_for_node("tokenizer")[0].metadata
    record = result.output_for_node("carrier_corpus")
    docs = read_carrier_documents(built_carrier_paths(record))
    sample = sample_carrier_text([(d["kind"], d["text"]) for d in docs], CARRIER_CHARS, seed=0)
    assert meta["training_text"].value == "DSL text and a sample of 1 carrier sources"
    assert meta["carrier_documents"].value == {"python-stdlib": 5}
    assert (meta["carrier_texts"].value, meta["carrier_chars"].value) == (len(sample), sum(map(len, sample)))
    tok = DlpTokenizer.load(meta["tokenizer_path"].value)
    assert tok.vocab_size == meta["vocab_size"].value == 600


def test_an_empty_carrier_corpus_leaves_dsl_text_only_and_says_so(instance, resources):
    result = _run(instance, resources, stdlib_files=0)  # no source cached in a tmp lake, no stdlib
    meta = result.asset_materializations_for_node("tokenizer")[0].metadata
    assert meta["training_text"].value == "the carrier corpus is empty (no source built): DSL text only"
    assert (meta["carrier_texts"].value, meta["carrier_chars"].value) == (0, 0)
    assert meta["carrier_documents"].value == {}


@pytest.mark.parametrize(
    ("record", "chars", "note"),
    [
        (None, 1000, "carrier_corpus was never materialized: DSL text only"),
        (
            {"report": {"sotu": {"status": "built", "documents": 3, "path": "x"}}},
            0,
            "carrier_chars is 0: DSL text only",
        ),
    ],
)
def test_no_carrier_sample_without_a_corpus_record_or_budget(record, chars, note):
    assert features._carrier_sample(record, chars, seed=0) == ([], {}, note)
