"""cpu-small ablation: same data, same seed, same number of optimizer steps; writes JSON, prints Markdown.

Variants: baseline (one_step gradients, fusion gates, slow module, thread memory), last_cycle,
no_fusion_gate, no_slow (fast-only transformer of the same size), no_thread_memory. For the thread
variant, metrics are also reported on validation messages that are not the first of their thread,
where the previous message's memory can matter.

    .venv/bin/python benchmarks/ablation.py --data data_lake/parquet/tokenized/tokenized.parquet \\
        --tokenizer data_lake/models/tokenizer/tokenizer.model --epochs 2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from hrm_core.data.contract import DOC_HEADS
from hrm_core.model import metrics
from hrm_core.model.hrm import ModelConfig
from hrm_core.model.train_data import load_tokenized
from hrm_core.model.trainer import TrainConfig, evaluate, model_from_checkpoint, predict_rows, train
from hrm_core.tokens.tokenizer import DlpTokenizer

VARIANTS: dict[str, dict] = {
    "baseline": {},
    "last_cycle": {"grad_mode": "last_cycle"},
    "no_fusion_gate": {"use_fusion_gate": False},
    "no_slow": {"use_slow": False},
    "no_thread_memory": {"use_thread_memory": False},
}


def later_thread_rows(data, rows: np.ndarray) -> np.ndarray:
    return rows[data.thread_index[rows] > 0]


def doc_metrics(data, rows, logits) -> dict:
    out = {}
    for h, head in enumerate(DOC_HEADS):
        y = data.doc_labels[rows, h]
        lab = y >= 0
        if lab.sum() and len(np.unique(y[lab])) == 2:
            out[head] = {
                "auprc": round(metrics.auprc(y[lab], logits[lab, h]), 4),
                "fp_at_95_recall": round(metrics.fp_rate_at_recall(y[lab], logits[lab, h], 0.95), 4),
            }
    return out


def run_variant(name: str, args, tok: DlpTokenizer, data) -> dict:
    over = VARIANTS[name]
    mcfg = ModelConfig.preset(
        "cpu-small", vocab_size=tok.vocab_size, pad_id=tok.pad_id, mask_id=tok.mask_id, **over
    )
    tcfg = TrainConfig(
        epochs=args.epochs, lr=args.lr, seed=args.seed, progress=False, patience=99,
        use_threads=over.get("use_thread_memory", True), max_steps=args.max_steps or None,
    )  # fmt: skip
    t0 = time.perf_counter()
    result = train(args.data, args.out.parent / "ablation_runs" / name, mcfg, tcfg)
    wall = time.perf_counter() - t0
    ckpt = (
        result.best_checkpoint_path if Path(result.best_checkpoint_path).exists() else result.checkpoint_path
    )
    model = model_from_checkpoint(ckpt)
    val = data.rows("val")
    use_threads = tcfg.use_threads
    full = evaluate(model, data, val, torch.device("cpu"), overlap=mcfg.max_len // 4, use_threads=use_threads)
    later = later_thread_rows(data, val)
    logits, _ = predict_rows(
        model, data, later, torch.device("cpu"), overlap=mcfg.max_len // 4, use_threads=use_threads
    )
    return {
        "variant": name,
        "overrides": over,
        "params": result.param_count,
        "steps": result.steps,
        "tokens_per_s": round(result.tokens_per_s, 1),
        "wall_s": round(wall, 1),
        "doc": {h: {k: round(v, 4) for k, v in m.items()} for h, m in full["doc"].items()},
        "span_token_micro_f1": round(full["spans_token"]["micro"]["f1"], 4),
        "later_thread_messages": {"n": len(later), "doc": doc_metrics(data, later, logits)},
    }


def markdown(rows: list[dict]) -> str:
    head = "| variant | params | sens FP@95R | exp FP@95R | ctx FP@95R | obf FP@95R | span F1 | later-msg sens AUPRC | tok/s |"
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        d = r["doc"]
        later = r["later_thread_messages"]["doc"].get("sensitivity", {}).get("auprc", float("nan"))
        fp = [d.get(h, {}).get("fp_at_95_recall", float("nan")) for h in DOC_HEADS]
        lines.append(
            f"| {r['variant']} | {r['params']:,} | " + " | ".join(f"{x:.3f}" for x in fp)
            + f" | {r['span_token_micro_f1']:.3f} | {later:.3f} | {r['tokens_per_s']:.0f} |"
        )  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("data_lake/parquet/tokenized/tokenized.parquet"))
    ap.add_argument("--tokenizer", type=Path, default=Path("data_lake/models/tokenizer/tokenizer.model"))
    ap.add_argument("--out", type=Path, default=Path("data_lake/reports/ablation.json"))
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--max-steps", type=int, default=0, help="cap on optimizer steps (0: none)")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args()
    tok = DlpTokenizer.load(args.tokenizer)
    data = load_tokenized(args.data)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.variants.split(","):
        rows.append(run_variant(name, args, tok, data))
        args.out.write_text(json.dumps(rows, indent=1))  # after each variant: partial results survive
        print(json.dumps(rows[-1]), flush=True)
    print(markdown(rows))


if __name__ == "__main__":
    main()
