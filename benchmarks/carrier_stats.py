"""Carrier corpus and carrier-example figures for issue 10 (no training).

    .venv/bin/python benchmarks/carrier_stats.py --n 20000 --seed 0 --out carrier_stats.json

Reads ``<lake>/parquet/carriers`` (materialize `carrier_corpus` first), reports per-source documents,
licences and bytes from the ``carriers`` view, then generates `n` carrier examples and counts distinct
NAME values, EMAIL domains, PHONE digit patterns (digits -> 9), the share of planted values inside
running prose, and generation speed.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from hrm_core.data.corpus import SOURCE_SUMMARY_SQL, carriers_dir, query_carriers
from hrm_core.data.lake import Lake, parquet_files
from hrm_core.synth.carriers import generate_carrier_examples


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lake", type=Path, default=None)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    lake = Lake(args.lake) if args.lake else Lake()
    sources = query_carriers(lake, SOURCE_SUMMARY_SQL).to_dict(orient="records")
    docs = [row for f in parquet_files(carriers_dir(lake)) for row in pq.read_table(f).to_pylist()]
    t0 = time.perf_counter()
    examples, records = generate_carrier_examples(docs, args.n, seed=args.seed)
    seconds = time.perf_counter() - t0
    values = Counter()
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
    result = {
        "sources": sources,
        "examples": args.n,
        "seed": args.seed,
        "per_source_examples": Counter(ex.meta.source for ex in examples),
        "distinct_name_values": len(names),
        "distinct_email_domains": len(domains),
        "distinct_phone_digit_patterns": len(patterns),
        "planted_values": total,
        "planted_by_type": dict(values),
        "planted_share_in_running_prose": round(in_prose / max(total, 1), 4),
        "examples_with_spans": sum(bool(ex.spans) for ex in examples),
        "sensitivity_share": round(sum(ex.labels.sensitivity or 0 for ex in examples) / args.n, 4),
        "examples_with_hard_negative": sum(bool(ex.meta.hard_negative_kinds) for ex in examples),  # type: ignore[attr-defined]
        "examples_per_second": round(args.n / seconds, 1),
    }
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "sources"}, default=str))


if __name__ == "__main__":
    main()
