"""Span decoders side by side on one model bundle: decode only, the model runs once per message.

The bundle is served as production serves it (int8 `Scanner`); each message's merged tag logits are
kept and decoded three ways, then scored with the evaluation report's own `span_block` (body spans,
exact and overlap match, per type):

- ``argmax``: independent per-token argmax, BIO runs (`decode_bio_to_spans`);
- ``majority``: the scanner's decoder before issue 11 (runs of non-O argmax tokens, the type with the
  most mass, a new span where B-mass beats I-mass), frozen here as `majority_decode`;
- ``viterbi``: `hrm_core.tokens.decoding.decode_spans`, what the scanner serves now (checked: the
  recomputed spans equal the scanner's response).

Decoding is deterministic, so one run gives the figures (no seed variance from decoding; the int8
scan itself moved span F1 by up to 0.001 between runs on a shared 2-core machine). Datasets:
the lake's synthetic test split (``--lake``) and, with ``--presidio``, the presidio-research set.

    .venv/bin/python benchmarks/decode_compare.py --bundle DIR --lake DIR \\
        --presidio ../shared/eval/presidio_research/synth_dataset_v2.json --out decode_compare.json
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hrm_core.data.contract import SPAN_TYPES, Example
from hrm_core.data.dsl import Serialized
from hrm_core.data.eval_formats import load_eval_dataset_with_report
from hrm_core.data.records import table_to_examples
from hrm_core.release.evaluation import scan_examples, span_block
from hrm_core.rules.regex_baseline import RegexBaseline
from hrm_core.serve.scanner import Scanner, _Prepared
from hrm_core.tokens.decoding import decode_spans, log_softmax
from hrm_core.tokens.features import decode_bio_to_spans, spans_in_fields

Decoder = Callable[[np.ndarray, Sequence[tuple[int, int]]], list[tuple]]


def majority_decode(tag_logits: np.ndarray, offsets: Sequence[tuple[int, int]]) -> list[tuple]:
    """The pre-issue-11 `features.decode_tag_probs_to_spans`, on logits (the scanner softmaxed first)."""
    tag_probs = np.exp(log_softmax(tag_logits))  # [T, 21]
    b_mass = tag_probs[:, 1::2].sum(-1)
    i_mass = tag_probs[:, 2::2].sum(-1)
    entity = tag_probs.argmax(-1) != 0
    type_mass = tag_probs[:, 1::2] + tag_probs[:, 2::2]
    spans: list[tuple] = []
    run: list[int] = []

    def close() -> None:
        if run:
            t = int(type_mass[run].sum(0).argmax())
            score = float(1.0 - tag_probs[run, 0].mean())
            spans.append((SPAN_TYPES[t], offsets[run[0]][0], offsets[run[-1]][1], score))
            run.clear()

    for i in range(len(offsets)):
        if not entity[i]:
            close()
            continue
        if run and b_mass[i] > i_mass[i]:
            close()
        run.append(i)
    close()
    return spans


def argmax_decode(tag_logits: np.ndarray, offsets: Sequence[tuple[int, int]]) -> list[tuple]:
    return list(decode_bio_to_spans(np.asarray(tag_logits).argmax(-1).tolist(), offsets))


DECODERS: dict[str, Decoder] = {"argmax": argmax_decode, "majority": majority_decode, "viterbi": decode_spans}


class RecordingScanner(Scanner):
    """A `Scanner` that keeps, per message id, what its span decoding saw."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen: dict[str, tuple[Serialized, list[tuple[int, int]], np.ndarray]] = {}

    def _spans(self, p: _Prepared, tag_logits: np.ndarray) -> list[dict]:
        self.seen[str(p.request.id)] = (p.serialized, list(p.offsets), np.array(tag_logits))
        return super()._spans(p, tag_logits)


def body_spans(scored: list[tuple], serialized: Serialized) -> list[tuple[str, int, int]]:
    """The scanner's post-processing of decoded spans (`Scanner._spans`), body only."""
    fields = spans_in_fields(scored, serialized)
    return sorted(
        (s["type"], s["start"], s["end"]) for s in fields if s["field"] == "body" and s["end"] > s["start"]
    )


def _summary(block: dict[str, Any]) -> dict[str, Any]:
    def micro(m: str) -> dict[str, float]:
        return {k: round(block[m]["micro"][k], 4) for k in ("precision", "recall", "f1")}

    return {
        "exact": micro("exact"),
        "overlap": micro("overlap"),
        "exact_over_overlap": round(
            block["exact"]["micro"]["f1"] / max(block["overlap"]["micro"]["f1"], 1e-9), 4
        ),
        "per_type_exact_f1": {t: round(m["f1"], 4) for t, m in block["exact"]["per_type"].items()},
        "per_type_overlap_f1": {t: round(m["f1"], 4) for t, m in block["overlap"]["per_type"].items()},
    }


def compare(scanner: RecordingScanner, examples: list[Example]) -> dict[str, Any]:
    ids = [ex.id for ex in examples]
    if len(set(ids)) != len(ids):
        raise ValueError("example ids must be unique (the recording is keyed by id)")
    scanner.seen.clear()
    t0 = time.perf_counter()
    results = scan_examples(scanner, examples)
    scan_s = time.perf_counter() - t0
    served = [
        sorted((s["type"], s["start"], s["end"]) for s in r["spans"] if s["field"] == "body") for r in results
    ]
    out: dict[str, Any] = {"n": len(examples), "scan_seconds": round(scan_s, 1), "decoders": {}}
    n_tokens = [len(scanner.seen[i][1]) for i in ids]
    out["tokens_per_message"] = {"mean": round(float(np.mean(n_tokens)), 1), "max": int(np.max(n_tokens))}
    for name, decoder in DECODERS.items():
        preds, ms = [], []
        for i in ids:
            serialized, offsets, logits = scanner.seen[i]
            t = time.perf_counter()
            scored = decoder(logits, offsets)
            ms.append((time.perf_counter() - t) * 1000)
            preds.append(body_spans(scored, serialized))
        if name == "viterbi":
            assert preds == served, "recomputed Viterbi spans differ from the scanner's response"
        block = span_block(examples, preds)
        out["decoders"][name] = {
            **_summary(block),
            "decode_ms_per_message": {
                "mean": round(float(np.mean(ms)), 3),
                "p50": round(float(np.percentile(ms, 50)), 3),
                "p95": round(float(np.percentile(ms, 95)), 3),
                "max": round(float(np.max(ms)), 3),
            },
        }
    regex = RegexBaseline()
    out["regex_baseline"] = _summary(span_block(examples, [regex.predict(ex).spans for ex in examples]))
    return out


def synthetic_test(lake: Path, limit: int | None) -> list[Example]:
    table = pq.read_table(lake / "parquet" / "examples" / "examples.parquet")
    test = table.filter(pc.equal(table.column("split"), "test")).drop_columns(["split"])
    return table_to_examples(test)[:limit]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundle", type=Path, required=True, help="model bundle directory (served int8)")
    ap.add_argument("--lake", type=Path, required=True, help="lake whose examples test split is scored")
    ap.add_argument("--presidio", type=Path, default=None, help="presidio-research JSON (dev set)")
    ap.add_argument("--limit", type=int, default=None, help="first N examples of each set (smoke runs)")
    ap.add_argument("--out", type=Path, default=Path("decode_compare.json"))
    args = ap.parse_args()

    scanner = RecordingScanner.from_bundle(args.bundle, backend="int8")  # as served
    assert isinstance(scanner, RecordingScanner)
    report: dict[str, Any] = {
        "bundle": str(args.bundle),
        "model_version": scanner.model_version,
        "backend": "int8",
        "note": "decode only, same logits for every decoder; deterministic, one run (no seed variance)",
        "datasets": {"synthetic-test": compare(scanner, synthetic_test(args.lake, args.limit))},
    }
    if args.presidio is not None:
        examples, _ = load_eval_dataset_with_report(args.presidio, "presidio")
        report["datasets"]["presidio"] = compare(scanner, examples[: args.limit])
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: {d: (v["exact"]["f1"], v["overlap"]["f1"]) for d, v in r["decoders"].items()}
                      for k, r in report["datasets"].items()}))  # fmt: skip


if __name__ == "__main__":
    main()
