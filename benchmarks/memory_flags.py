"""How the response's `memory.flags` compare with its spans as detectors of "this message holds a TYPE".

    .venv/bin/python benchmarks/memory_flags.py --lake data_lake --split val --out memory_flags.json

`has_<type>` is a served span of the type OR the memory probe at p >= 0.5 (`Scanner._respond`). For each
span type this scans the lake split with the champion bundle and counts, against the gold span types of
each message, true / false positives and misses of the flag and of "a span of the type was served",
with precision and recall of each. JSON of counts only, never message text.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pyarrow.parquet as pq

from hrm_core.data.contract import SPAN_TYPES
from hrm_core.data.records import table_to_examples
from hrm_core.serve.scanner import Scanner


def _prf(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    return {"tp": tp, "fp": fp, "fn": fn, "precision": round(tp / max(1, tp + fp), 4),
            "recall": round(tp / max(1, tp + fn), 4)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lake", type=Path, default=Path("data_lake"))
    ap.add_argument("--model", type=Path, default=None, help="bundle (default: the lake's champion)")
    ap.add_argument("--split", default="val", choices=("train", "val", "test"))
    ap.add_argument("--out", type=Path, default=Path("data_lake/reports/memory_flags.json"))
    args = ap.parse_args()
    table = pq.read_table(args.lake / "parquet/examples/examples.parquet")
    examples = [
        ex
        for ex, s in zip(table_to_examples(table), table["split"].to_pylist(), strict=True)
        if s == args.split
    ]
    scanner = Scanner.from_bundle(args.model or args.lake / "models/champion")
    results = scanner.scan_batch(examples)
    out: dict[str, object] = {"split": args.split, "n": len(examples), "model_version": scanner.model_version}
    for t in SPAN_TYPES:
        counts = {"flag": [0, 0, 0], "span": [0, 0, 0]}  # tp, fp, fn
        for ex, res in zip(examples, results, strict=True):
            gold = any(s.type == t for s in ex.spans)
            said = {
                "flag": res["memory"]["flags"][f"has_{t.lower()}"],
                "span": any(s["type"] == t for s in res["spans"]),
            }
            for name, pred in said.items():
                if pred or gold:
                    counts[name][0 if pred and gold else 1 if pred else 2] += 1
        out[t] = {name: _prf(*c) for name, c in counts.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
