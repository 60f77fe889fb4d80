"""Features group: the SentencePiece tokenizer and the pre-tokenized, BIO-aligned training table.

Both are written into the run's own folder and read by the run's later assets through their records;
each also gets a "latest" copy at a fixed path (models/tokenizer/tokenizer.model,
parquet/tokenized/tokenized.parquet) for the command-line examples, which no asset reads.
"""

import time
from collections import Counter

import dagster as dg
import pyarrow.parquet as pq

from dlp_assets.artifacts import publish_copy
from dlp_assets.carriers import built_carrier_paths
from dlp_assets.data import OWNERS
from hrm_core.data.corpus import read_carrier_documents
from hrm_core.data.dsl import DSL_VERSION, serialize_example
from hrm_core.data.lake import write_parquet_atomic
from hrm_core.data.records import table_to_examples
from hrm_core.tokens.features import build_tokenized_table
from hrm_core.tokens.tokenizer import DlpTokenizer, train_tokenizer
from hrm_core.tokens.training_text import sample_carrier_text
from resources.lake import LakeResource


class TokenizerConfig(dg.Config):
    # Measured by benchmarks/chars_per_token.py on the demo's data: 8,000 pieces get 80-90% of 16,000's
    # gain in characters per token on the presidio and contractnli dev sets and the demo's own text, at
    # half the embedding (cpu-small: 1.0M of 2.0M parameters; the denoise head reuses it). Beyond 8,000
    # most new pieces occur fewer than 10 times in the demo's training text. seed-27m may set 16,000.
    vocab_size: int = 8000
    seed: int = 0
    # Characters of real carrier text sampled besides the DSL text (0: DSL only). 1M gets what 2M does
    # (contractnli 4.02 vs 4.03 characters a token) in less training time.
    carrier_chars: int = 1_000_000


def _load_examples(record: dict):
    table = pq.read_table(record["path"])
    splits = dict(zip(table.column("id").to_pylist(), table.column("split").to_pylist(), strict=True))
    return table_to_examples(table.drop_columns(["split"])), splits


def _carrier_sample(
    record: dict | None, carrier_chars: int, seed: int
) -> tuple[list[str], dict[str, int], str]:
    """Carrier excerpts to train on besides the DSL text, documents read per source, and what was used.

    ``record`` is the run's carrier_corpus output (None when it was never materialized); the excerpts
    are a seeded sample of about ``carrier_chars`` characters of every source it built.
    """
    if carrier_chars <= 0:
        return [], {}, "carrier_chars is 0: DSL text only"
    if record is None:
        return [], {}, "carrier_corpus was never materialized: DSL text only"
    docs = read_carrier_documents(built_carrier_paths(record))
    if not docs:
        return [], {}, "the carrier corpus is empty (no source built): DSL text only"
    sources = dict(sorted(Counter(d["source"] for d in docs).items()))
    excerpts = sample_carrier_text([(d["kind"], d["text"]) for d in docs], carrier_chars, seed)
    return excerpts, sources, f"DSL text and a sample of {len(sources)} carrier sources"


@dg.asset(
    group_name="features", kinds={"python", "sentencepiece"}, owners=OWNERS,
    ins={"carrier_corpus": dg.AssetIn(metadata={"optional": True})},  # a lake without carriers: DSL only
    description="SentencePiece (unigram) trained on the DSL text of the train split plus a sample of the "
    "run's real carrier text (mail, prose, code, docs, legal); DSL tags are user-defined symbols, digits "
    "split, byte fallback so no character is unknown.",
)  # fmt: skip
def tokenizer(context: dg.AssetExecutionContext, config: TokenizerConfig, examples: dict,
              carrier_corpus: dict | None, lake: LakeResource) -> dg.MaterializeResult:  # fmt: skip
    exs, splits = _load_examples(examples)
    texts = [serialize_example(e).text for e in exs if splits[e.id] == "train"]
    carriers, sources, note = _carrier_sample(carrier_corpus, config.carrier_chars, config.seed)
    path = lake.run_dir(context.run.run_id, "tokenizer") / "tokenizer.model"
    t0 = time.perf_counter()
    stats = train_tokenizer(
        texts, path, vocab_size=config.vocab_size, seed=config.seed, carrier_texts=carriers
    )
    seconds = time.perf_counter() - t0
    publish_copy(path, lake.lake().models / "tokenizer" / "tokenizer.model")
    return dg.MaterializeResult(
        value={"path": str(path), "vocab_size": config.vocab_size},
        metadata={
            "tokenizer_path": dg.MetadataValue.path(str(path)),
            "train_texts": len(texts),
            "training_text": note,
            "carrier_documents": dg.MetadataValue.json(sources),
            "train_seconds": round(seconds, 1),
            **{k: v for k, v in stats.as_dict().items()},
        },
    )


class TokenizedConfig(dg.Config):
    shuffle_prob: float = 0.1
    seed: int = 0
    # The DSL the rows are serialized in (`hrm_core.data.dsl.DSL_VERSIONS`); a model trained on the
    # table records it and is served in it.
    dsl_version: int = DSL_VERSION


@dg.asset(
    group_name="features", kinds={"python", "parquet"}, owners=OWNERS,
    description="Every example tokenized once: ids, BIO tags aligned from character spans through the "
    "tokenizer's offsets, doc labels, thread position; section-shuffled variants for augmentation.",
)  # fmt: skip
def tokenized_examples(context: dg.AssetExecutionContext, config: TokenizedConfig, examples: dict,
                       tokenizer: dict, lake: LakeResource) -> dg.MaterializeResult:  # fmt: skip
    tok = DlpTokenizer.load(tokenizer["path"])
    exs, splits = _load_examples(examples)
    table, stats = build_tokenized_table(
        exs, tok, splits=splits, shuffle_prob=config.shuffle_prob, seed=config.seed,
        dsl_version=config.dsl_version,
    )  # fmt: skip
    path = write_parquet_atomic(
        table, lake.run_dir(context.run.run_id, "tokenized_examples") / "tokenized.parquet"
    )
    publish_copy(path, lake.lake().table_dir("tokenized") / "tokenized.parquet")
    s = stats.as_dict()
    return dg.MaterializeResult(
        value={"path": str(path), "rows": s["rows"]},
        metadata={
            "tokenized_path": dg.MetadataValue.path(str(path)),
            "dagster/row_count": s["rows"],
            "shuffled_rows": s["shuffled_rows"],
            "tokens": s["tokens"],
            "mean_tokens": round(s["mean_tokens"], 1),
            "max_tokens": s["max_tokens"],
            "gold_spans": s["gold_spans"],
            "alignment_loss": round(s["alignment_loss"], 6),
            "length_histogram": dg.MetadataValue.json(s["length_histogram"]),
            "dsl_version": config.dsl_version,
        },
    )
