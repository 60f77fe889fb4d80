"""Characters per token on the three dev sets: the DSL-only tokenizer (before) against DSL + carrier text.

    nice -n 10 .venv/bin/python benchmarks/chars_per_token.py --out chars_per_token.json

Builds the demo's examples as `synthetic_examples`, `carrier_examples` and `examples` do (their config
defaults; carrier documents from ``<lake>/parquet/carriers``: materialize `carrier_corpus` or run
scripts/fetch_corpora.sh first) and trains on their train split's DSL text, as the `tokenizer` asset does:

- the issue's "before": DSL text only, 4,000 pieces, on the demo data before carrier examples existed
  (``--before-synthetic-n`` synthetic examples, nothing else);
- DSL text only on the demo's current data, at ``--dsl-only-sizes`` (what the carrier sample adds);
- DSL text plus a sample of carrier text, at each of ``--sizes`` and ``--carrier-chars``.

For each, with its training time, it measures:

- characters per token on each dev set of ``--eval-dir``, serialized with `serialize_example` as the
  model reads it, and on the bodies alone; and on the current demo's validation DSL text;
- pieces per value for typical values, each inside a short sentence (the pieces that overlap it);
- learned pieces seen fewer than 10 times in the demo's training text (barely trained embeddings);
- the model cost of the vocabulary per preset: parameters, the embedding's share (the denoise head
  reuses that matrix) and the denoise head's multiply-adds per masked position (d_model x vocab).

Dev text never leaves the process: the JSON holds counts and ratios only.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from dlp_assets.carriers import CarrierExamplesConfig
from dlp_assets.data import SyntheticConfig
from dlp_assets.dev_sets import DEV_SETS, present_dev_sets
from dlp_assets.features import TokenizerConfig
from hrm_core.data.corpus import carriers_dir, read_carrier_documents
from hrm_core.data.dsl import serialize_example
from hrm_core.data.eval_formats import load_eval_dataset
from hrm_core.data.lake import Lake, parquet_files
from hrm_core.data.records import examples_to_table
from hrm_core.data.splits import build_examples_table
from hrm_core.model.hrm import HRMDLP
from hrm_core.model.presets import model_config
from hrm_core.synth import generate_examples
from hrm_core.synth.carriers import generate_carrier_examples, usable_documents
from hrm_core.tokens.tokenizer import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    UNK_ID,
    USER_SYMBOLS,
    DlpTokenizer,
    chars_per_token,
    train_tokenizer,
)
from hrm_core.tokens.training_text import sample_carrier_text

# Typical values, invented (reserved 555-01xx number, test card, made-up key), each in a sentence.
VALUES: dict[str, str] = {
    "EMAIL": "john.smith@gmail.com",
    "PHONE": "+1 (415) 555-0132",
    "PAN": "4111 1111 1111 1111",
    "AWS key": "AKIAQ7RZ4XK2M5TPLW3N",
    "DBURI": "postgres://admin:Winter2024@db01.corp.example:5432/payroll",
    "NAME": "Maria Garcia",
}
CONTEXT = "Please forward {} to the team today."
SPECIAL_IDS = frozenset({PAD_ID, UNK_ID, BOS_ID, EOS_ID})
RARE_BELOW = 10  # a piece seen fewer times in the demo's training text has a barely trained embedding


def demo_dsl_texts(synthetic_n: int, carrier_n: int, docs: list[dict], seed: int = 0) -> dict[str, list[str]]:
    """DSL text per split of the demo's examples: `synthetic_n` synthetic and `carrier_n` carrier examples
    unioned and split as `examples` does."""
    examples = generate_examples(synthetic_n, seed=seed)
    usable = usable_documents(docs)
    if carrier_n and usable:
        examples += generate_carrier_examples(usable, carrier_n, seed=seed)[0]
    table, _ = build_examples_table([examples_to_table(examples)])
    split_of = dict(zip(table.column("id").to_pylist(), table.column("split").to_pylist(), strict=True))
    out: dict[str, list[str]] = {}
    for ex in examples:
        if ex.id in split_of:
            out.setdefault(split_of[ex.id], []).append(serialize_example(ex).text)
    return out


def dev_texts(eval_dir: Path) -> dict[str, dict[str, list[str]]]:
    """Per present dev set: the serialized DSL texts and the bodies alone."""
    out = {}
    for dev in present_dev_sets(eval_dir):
        examples = load_eval_dataset(eval_dir / dev.file, dev.format)
        out[dev.name] = {
            "dsl": [serialize_example(ex).text for ex in examples],
            "body": [ex.body for ex in examples],
        }
    return out


def pieces_per_value(tok: DlpTokenizer) -> dict[str, int]:
    """Tokens that overlap each `VALUES` entry when it sits inside `CONTEXT`."""
    out = {}
    for name, value in VALUES.items():
        text = CONTEXT.format(value)
        start = text.index(value)
        end = start + len(value)
        _, offsets = tok.encode(text)
        out[name] = sum(1 for s, e in offsets if s < end and start < e)
    return out


def vocab_cost(vocab_size: int) -> dict[str, dict[str, float | int]]:
    """Per model preset: parameters, the embedding's share of them (the denoise head reuses that matrix),
    and the denoise head's multiply-adds per masked position (d_model x vocab)."""
    out: dict[str, dict[str, float | int]] = {}
    for preset in ("cpu-small", "seed-27m"):
        cfg = model_config(preset, vocab_size=vocab_size, pad_id=0, mask_id=13)
        params = sum(p.numel() for p in HRMDLP(cfg).parameters())
        out[preset] = {
            "params": params,
            "embedding_params": vocab_size * cfg.d_model,
            "embedding_share": round(vocab_size * cfg.d_model / params, 3),
            "denoise_macs_per_masked_token": vocab_size * cfg.d_model,
        }
    return out


def rarely_seen_pieces(tok: DlpTokenizer, texts: list[str], min_count: int = RARE_BELOW) -> int:
    """Learned pieces that occur fewer than ``min_count`` times in ``texts``: embedding rows the model
    hardly trains (byte pieces and special symbols not counted)."""
    counts = Counter(i for t in texts for i in tok.encode(t)[0])
    return sum(
        1
        for i in range(tok.vocab_size)
        if i not in SPECIAL_IDS
        and not tok.is_byte(i)
        and tok.id_to_piece(i) not in USER_SYMBOLS
        and counts[i] < min_count
    )


def measure(
    tok: DlpTokenizer, dev: dict[str, dict[str, list[str]]], val: list[str], train: list[str]
) -> dict[str, Any]:
    """Characters per token on each dev set (DSL and body) and on the demo's validation DSL text."""
    return {
        "rarely_seen_pieces": rarely_seen_pieces(tok, train),
        "dev": {
            name: {view: round(chars_per_token(tok, texts), 3) for view, texts in views.items()}
            for name, views in dev.items()
        },
        "demo_val_dsl": round(chars_per_token(tok, val), 3),
        "pieces_per_value": pieces_per_value(tok),
    }


def train_variant(
    train: list[str], carriers: list[str], vocab_size: int, out_dir: Path
) -> tuple[DlpTokenizer, dict[str, Any]]:
    """Train one tokenizer and report its size, what it trained on and how long it took."""
    path = out_dir / f"v{vocab_size}-c{sum(map(len, carriers))}.model"
    t0, c0 = time.perf_counter(), time.process_time()
    stats = train_tokenizer(train, path, vocab_size=vocab_size, seed=0, carrier_texts=carriers)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - c0
    info = {
        "vocab_size": stats.vocab_size,
        "carrier_texts": stats.carrier_texts,
        "carrier_chars": stats.carrier_chars,
        "dsl_chars": sum(map(len, train)),
        "train_seconds": round(seconds, 1),
        "train_cpu_seconds": round(cpu_seconds, 1),  # all threads: on a shared machine, steadier than wall
        "train_dsl_chars_per_token": round(stats.chars_per_token, 3),
        "carrier_chars_per_token": round(stats.carrier_chars_per_token, 3),
        "byte_fallback_share": round(stats.byte_fallback_share, 5),
    }
    return DlpTokenizer.load(path), info


def write_json_atomic(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def print_table(variants: list[dict[str, Any]], header: bool = True) -> None:
    names = list(variants[0]["dev"])
    head = [
        "variant",
        "train s (cpu)",
        "rare",
        *(f"{n} dsl/body" for n in names),
        "demo val",
        "email/phone/pan/aws",
    ]
    if header:
        print(" | ".join(head), flush=True)
    for v in variants:
        cells = [v["name"], f"{v['train_seconds']} ({v['train_cpu_seconds']})", str(v["rarely_seen_pieces"])]
        cells += [f"{v['dev'][n]['dsl']:.2f}/{v['dev'][n]['body']:.2f}" for n in names]
        cells.append(f"{v['demo_val_dsl']:.2f}")
        p = v["pieces_per_value"]
        cells.append(f"{p['EMAIL']}/{p['PHONE']}/{p['PAN']}/{p['AWS key']}")
        print(" | ".join(cells), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--lake", type=Path, default=None, help="lake root (default: $HRM_DLP_LAKE or ./data_lake)"
    )
    ap.add_argument("--eval-dir", type=Path, default=Path("../shared/eval"))
    ap.add_argument("--synthetic-n", type=int, default=SyntheticConfig().n)
    ap.add_argument("--carrier-n", type=int, default=CarrierExamplesConfig().n)
    ap.add_argument("--before-synthetic-n", type=int, default=5000, help="the demo's data before carriers")
    ap.add_argument("--dsl-only-sizes", default="4000", help="DSL-only tokenizers on the current demo data")
    ap.add_argument(
        "--sizes", default="4000,8000,16000", help="vocabulary sizes of the DSL + carrier tokenizers"
    )
    ap.add_argument(
        "--carrier-chars", default=str(TokenizerConfig().carrier_chars), help="carrier samples, characters"
    )
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    dev = dev_texts(args.eval_dir)
    if not dev:
        raise SystemExit(f"no dev set under {args.eval_dir} (expected {[d.file for d in DEV_SETS]})")
    lake = Lake(args.lake) if args.lake else Lake()
    docs = read_carrier_documents(parquet_files(carriers_dir(lake)))
    kind_text = [(d["kind"], d["text"]) for d in docs]
    before = demo_dsl_texts(args.before_synthetic_n, 0, [])
    demo = demo_dsl_texts(args.synthetic_n, args.carrier_n, docs)
    plans = [(f"before: DSL only ({args.before_synthetic_n} synthetic)", before["train"], 4000, 0)]
    plans += [("DSL only", demo["train"], int(v), 0) for v in args.dsl_only_sizes.split(",")]
    plans += [
        (f"DSL + {int(c) / 1e6:g}M carrier chars", demo["train"], int(v), int(c))
        for c in args.carrier_chars.split(",")
        for v in args.sizes.split(",")
    ]
    variants = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, train, vocab, budget in plans:
            carriers = sample_carrier_text(kind_text, budget, seed=0) if budget else []
            tok, info = train_variant(train, carriers, vocab, Path(tmp))
            variants.append({"name": f"{name}, {vocab}", **info, **measure(tok, dev, demo["val"], demo["train"]),
                             "cost": vocab_cost(vocab)})  # fmt: skip
            print_table(variants[-1:], header=len(variants) == 1)
    result = {
        "command": "benchmarks/chars_per_token.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None),
        "carrier_documents": len(docs),
        "dev_sets": {name: len(views["body"]) for name, views in dev.items()},
        "demo_train_texts": len(demo["train"]),
        "before_train_texts": len(before["train"]),
        "values": VALUES,
        "variants": variants,
    }
    write_json_atomic(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
