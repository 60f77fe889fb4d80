"""Features group: the SentencePiece tokenizer and the pre-tokenized, BIO-aligned training table.

Both are written into the run's own folder and read by the run's later assets through their records;
each also gets a "latest" copy at a fixed path (models/tokenizer/tokenizer.model,
parquet/tokenized/tokenized.parquet) for the command-line examples, which no asset reads.
"""

import dagster as dg
import pyarrow.parquet as pq

from dlp_assets.artifacts import publish_copy
from dlp_assets.data import OWNERS
from hrm_core.data.dsl import serialize_example
from hrm_core.data.lake import write_parquet_atomic
from hrm_core.data.records import table_to_examples
from hrm_core.tokens.features import build_tokenized_table
from hrm_core.tokens.tokenizer import DlpTokenizer, train_tokenizer
from resources.lake import LakeResource


class TokenizerConfig(dg.Config):
    # 16k for seed-27m; the cpu-small model's embedding is the largest matrix, so keep its vocab small.
    vocab_size: int = 4000
    seed: int = 0


def _load_examples(record: dict):
    table = pq.read_table(record["path"])
    splits = dict(zip(table.column("id").to_pylist(), table.column("split").to_pylist(), strict=True))
    return table_to_examples(table.drop_columns(["split"])), splits


@dg.asset(
    group_name="features", kinds={"python", "sentencepiece"}, owners=OWNERS,
    description="SentencePiece (unigram) trained on the DSL text of the train split only; DSL tags are "
    "user-defined symbols, digits split, byte fallback so no character is unknown.",
)  # fmt: skip
def tokenizer(context: dg.AssetExecutionContext, config: TokenizerConfig, examples: dict,
              lake: LakeResource) -> dg.MaterializeResult:  # fmt: skip
    exs, splits = _load_examples(examples)
    texts = [serialize_example(e).text for e in exs if splits[e.id] == "train"]
    path = lake.run_dir(context.run.run_id, "tokenizer") / "tokenizer.model"
    stats = train_tokenizer(texts, path, vocab_size=config.vocab_size, seed=config.seed)
    publish_copy(path, lake.lake().models / "tokenizer" / "tokenizer.model")
    return dg.MaterializeResult(
        value={"path": str(path), "vocab_size": config.vocab_size},
        metadata={
            "tokenizer_path": dg.MetadataValue.path(str(path)),
            "train_texts": len(texts),
            **{k: v for k, v in stats.as_dict().items()},
        },
    )


class TokenizedConfig(dg.Config):
    shuffle_prob: float = 0.1
    seed: int = 0


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
        exs, tok, splits=splits, shuffle_prob=config.shuffle_prob, seed=config.seed
    )
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
        },
    )
