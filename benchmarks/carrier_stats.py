"""Carrier corpus, carrier-example and demo-mix figures for issue 10 (no training).

    .venv/bin/python benchmarks/carrier_stats.py --n 20000 --seed 0 --out carrier_stats.json

Reads ``<lake>/parquet/carriers`` (materialize `carrier_corpus` first) and reports:
* ``sources``: per-source documents, licences and bytes from the ``carriers`` view (SOURCE_SUMMARY_SQL);
* for `n` generated carrier examples: distinct NAME values, EMAIL domains, PHONE digit patterns (digits
  -> 9), the share of planted values inside running prose, per-source counts and generation speed;
* ``demo_mix``: the `examples` table the demo's defaults build (`SyntheticConfig.n` synthetic and
  `CarrierExamplesConfig.n` carrier examples, both seeded like the demo, de-duplicated and split as the
  `examples` asset does) next to the synthetic-only table of before issue 10 (``--before-synthetic-n``):
  rows, body and serialized (DSL) characters, and the real-carrier share per split.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from dlp_assets.carriers import CarrierExamplesConfig
from dlp_assets.data import SyntheticConfig
from hrm_core.data.contract import Example
from hrm_core.data.corpus import SOURCE_SUMMARY_SQL, carriers_dir, query_carriers, read_carrier_documents
from hrm_core.data.dsl import serialize_example
from hrm_core.data.lake import Lake, parquet_files
from hrm_core.data.records import examples_to_table, table_to_examples
from hrm_core.data.shares import real_carrier_shares
from hrm_core.data.splits import build_examples_table
from hrm_core.synth import generate_examples
from hrm_core.synth.carriers import generate_carrier_examples


def value_diversity(examples: Sequence[Example], records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Distinct planted values and where they sit, over generated carrier examples."""
    values: Counter[str] = Counter()
    names, domains, patterns = set(), set(), set()
    in_prose = total = 0
    for rec in records:
        for p in rec["planted"]:
            total += 1
            in_prose += p["in_prose"]
            values[p["type"]] += 1
    for ex in examples:
        for s in ex.spans:
            text = ex.body[s.start : s.end]
            if s.type == "NAME":
                names.add(text)
            elif s.type == "EMAIL":
                domains.add(text.rsplit("@", 1)[-1].lower())
            elif s.type == "PHONE":
                patterns.add(re.sub(r"\d", "9", text))
    n = max(len(examples), 1)
    return {
        "per_source_examples": dict(Counter(ex.meta.source for ex in examples).most_common()),
        "distinct_name_values": len(names),
        "distinct_email_domains": len(domains),
        "distinct_phone_digit_patterns": len(patterns),
        "planted_values": total,
        "planted_by_type": dict(values),
        "planted_share_in_running_prose": round(in_prose / max(total, 1), 4),
        "examples_with_spans": sum(bool(ex.spans) for ex in examples),
        "sensitivity_share": round(sum(ex.labels.sensitivity or 0 for ex in examples) / n, 4),
        "examples_with_hard_negative": sum(
            bool((ex.meta.model_extra or {}).get("hard_negative_kinds")) for ex in examples
        ),
        "mean_body_chars": round(statistics.mean(len(ex.body) for ex in examples), 1) if examples else 0.0,
    }


def table_size(table: pa.Table) -> dict[str, Any]:
    """Rows, body characters and serialized (DSL, what the tokenizer reads) characters of an examples table."""
    examples = table_to_examples(table.drop_columns(["split"]))
    body = [len(ex.body) for ex in examples]
    dsl = [len(serialize_example(ex).text) for ex in examples]
    return {
        "rows": table.num_rows,
        "body_chars": sum(body),
        "mean_body_chars": round(sum(body) / max(len(body), 1), 1),
        "dsl_chars": sum(dsl),
        "mean_dsl_chars": round(sum(dsl) / max(len(dsl), 1), 1),
    }


def demo_mix(docs: list[dict], synthetic_n: int, carrier_n: int, before_synthetic_n: int) -> dict[str, Any]:
    """The demo's `examples` table with these counts (demo seeds) and the synthetic-only one before it."""
    synthetic = examples_to_table(generate_examples(synthetic_n, seed=SyntheticConfig().seed))
    carrier = examples_to_table(
        generate_carrier_examples(docs, carrier_n, seed=CarrierExamplesConfig().seed)[0]
    )
    after, stats = build_examples_table([synthetic, carrier])
    before, _ = build_examples_table([examples_to_table(generate_examples(before_synthetic_n, seed=0))])
    return {
        "synthetic_n": synthetic_n,
        "carrier_n": carrier_n,
        "duplicates_dropped": stats.duplicates,
        "after": {**table_size(after), "real_carrier_share": real_carrier_shares(after)},
        "carrier_only": table_size(after.filter(pc.starts_with(after["source"], "carrier:"))),
        "before": {"synthetic_n": before_synthetic_n, **table_size(before)},
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lake", type=Path, default=None)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--synthetic-n", type=int, default=SyntheticConfig().n, help="demo mix (default: the demo's)"
    )
    ap.add_argument(
        "--carrier-n", type=int, default=CarrierExamplesConfig().n, help="demo mix (default: the demo's)"
    )
    ap.add_argument(
        "--before-synthetic-n", type=int, default=5000, help="synthetic-only demo before issue 10"
    )
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    lake = Lake(args.lake) if args.lake else Lake()
    sources = query_carriers(lake, SOURCE_SUMMARY_SQL).to_dict(orient="records")
    docs = read_carrier_documents(parquet_files(carriers_dir(lake)))
    t0 = time.perf_counter()
    examples, records = generate_carrier_examples(docs, args.n, seed=args.seed)
    seconds = time.perf_counter() - t0
    result = {
        "sources": sources,
        "examples": args.n,
        "seed": args.seed,
        **value_diversity(examples, records),
        "examples_per_second": round(args.n / seconds, 1),
        "demo_mix": demo_mix(docs, args.synthetic_n, args.carrier_n, args.before_synthetic_n),
    }
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "sources"}, default=str))


if __name__ == "__main__":
    main()
