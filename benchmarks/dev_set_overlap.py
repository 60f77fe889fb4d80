"""Word 8-gram overlap between a lake's training text and the outside dev sets (issue 10, item 7).

    nice -n 10 .venv/bin/python benchmarks/dev_set_overlap.py --lake data_lake --carriers

Reads the lake's latest ``examples`` table (``<lake>/parquet/examples``), serializes every row as the
model reads it (`serialize_example`, all splits) and prints, per dev set under ``--eval-dir``, the share
of its distinct word 8-grams found in that text with the counts behind it (hrm_core/data/leakage.py).
``--carriers`` adds the same figures for the whole ``carriers`` table: every document a carrier example
or the tokenizer's carrier sample can draw from. Prints JSON; counts and ratios only, never dev text.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dlp_assets.dev_sets import present_dev_sets
from hrm_core.data.corpus import carriers_dir, read_carrier_documents
from hrm_core.data.dsl import serialize_example
from hrm_core.data.eval_formats import load_eval_dataset
from hrm_core.data.lake import Lake, parquet_files, read_parquet_dir
from hrm_core.data.leakage import ngram_overlap
from hrm_core.data.records import table_to_examples


def examples_text(lake: Lake) -> list[str]:
    """The DSL text of every row of the lake's ``examples`` table."""
    table = read_parquet_dir(lake.table_dir("examples"))
    if "split" in table.column_names:
        table = table.drop_columns(["split"])
    return [serialize_example(ex).text for ex in table_to_examples(table)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--lake", type=Path, default=None, help="lake root (default: $HRM_DLP_LAKE or ./data_lake)"
    )
    ap.add_argument("--eval-dir", type=Path, default=Path("../shared/eval"))
    ap.add_argument("--carriers", action="store_true", help="also the whole carriers table")
    args = ap.parse_args()
    lake = Lake(args.lake) if args.lake else Lake()
    dev = {
        d.name: [ex.body for ex in load_eval_dataset(args.eval_dir / d.file, d.format)]
        for d in present_dev_sets(args.eval_dir)
    }
    if not dev:
        raise SystemExit(f"no dev set under {args.eval_dir}")
    texts = {"examples": examples_text(lake)}
    if args.carriers:
        texts["carriers"] = [d["text"] for d in read_carrier_documents(parquet_files(carriers_dir(lake)))]
    result = {
        "lake": str(lake.root),
        **{
            name: {k: v.as_dict() for k, v in ngram_overlap(train, dev).items()}
            for name, train in texts.items()
        },
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
