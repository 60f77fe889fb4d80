"""Quality against compute at inference: deep-supervision segments x (H_cycles, L_cycles).

One trained checkpoint (weights trained at its own ``segments x H_cycles x L_cycles``) is evaluated
with fewer steps at inference. `HRMDLP.forward` reads these counts from ``model.cfg`` at call time,
so each setting is the same weights with the counts changed, scored by the trainer's own `evaluate`
(windows, merging and Viterbi decoding exactly as the scanner serves them) on the validation split:
per doc head AUPRC and FP@95R, token span F1, whole-span exact / overlap micro F1. Speed is torch
fp32 CPU time per ``max_len`` window (median over repeats, batch 1 and 8, ``--threads`` threads).

The carry (fast state h, slow state s) runs on from one segment into the next, so at inference a
segment is just more recurrence: ``segments=2, H=1`` computes exactly ``segments=1, H=2`` (the table
shows identical rows); what differs is only which outputs training supervised. Segment 1 at the
trained cycles is the first deep-supervision output, which training did supervise.

Each setting is applied with `ModelConfig.served_at`, which sets the inference overrides too: before it,
a checkpoint that serves one segment (``infer_segments=1``, the cpu-small preset) ran one segment in every
"segments=2" row. These are single-model, single-seed figures: deltas are measured against the setting
the checkpoint serves, on one validation split, not across training seeds.

    .venv/bin/python benchmarks/inference_budget.py \\
        --checkpoint RUN/trained_model/best.pt --tokenized RUN/tokenized_examples/tokenized.parquet \\
        --out inference_budget.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from hrm_core.model.hrm import HRMDLP
from hrm_core.model.train_data import load_tokenized
from hrm_core.model.trainer import evaluate, model_from_checkpoint

SEGMENTS = (2, 1)
CYCLES = ((2, 2), (1, 2), (2, 1), (1, 1))


def set_budget(model: HRMDLP, segments: int, h_cycles: int, l_cycles: int) -> None:
    """Change the inference step counts (forward reads them from cfg at call time; `ModelConfig.served_at`
    sets the inference overrides too, which a config with ``infer_segments`` would otherwise keep)."""
    model.cfg = model.cfg.served_at(segments, h_cycles, l_cycles)


@torch.no_grad()
def ms_per_window(model: HRMDLP, batch: int, repeats: int) -> float:
    """Median wall time of one forward over ``batch`` full ``max_len`` windows, per window, in ms."""
    cfg = model.cfg
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(1, cfg.vocab_size - 1, (batch, cfg.max_len), generator=gen)
    mask = torch.ones_like(ids)
    seed = torch.zeros(batch, cfg.memory_dim)
    model(ids, mask, seed)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model(ids, mask, seed)
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times) / batch


def summary(m: dict[str, Any]) -> dict[str, Any]:
    return {
        "doc": {
            h: {"auprc": v["auprc"], "fp_at_95_recall": v["fp_at_95_recall"]} for h, v in m["doc"].items()
        },
        "span_token_f1": m["spans_token"]["micro"]["f1"],
        "span_exact_f1": m["spans"]["exact"]["micro"]["f1"],
        "span_overlap_f1": m["spans"]["overlap"]["micro"]["f1"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--tokenized", required=True)
    ap.add_argument("--split", default="val")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--out", default="inference_budget.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    model = model_from_checkpoint(args.checkpoint)
    trained = (model.cfg.segments, model.cfg.H_cycles, model.cfg.L_cycles)
    served_segments, served_L = model.cfg.compute(training=False)
    served = (served_segments, model.cfg.H_cycles, served_L)
    data = load_tokenized(args.tokenized)
    rows = data.rows(args.split)
    results: list[dict[str, Any]] = []
    for seg in SEGMENTS:
        for hc, lc in CYCLES:
            set_budget(model, seg, hc, lc)
            t0 = time.perf_counter()
            m = summary(evaluate(model, data, rows, torch.device("cpu")))
            eval_s = time.perf_counter() - t0
            speed = {f"ms_per_window_b{b}": ms_per_window(model, b, args.repeats) for b in (1, 8)}
            row = {"segments": seg, "H_cycles": hc, "L_cycles": lc, "fast_passes": seg * hc * lc, **m,
                   **speed, "eval_seconds": eval_s}  # fmt: skip
            results.append(row)
            print(json.dumps(row), flush=True)
    # Deltas against what the bundle serves (its inference counts), which is what a change would replace.
    base = next(r for r in results if (r["segments"], r["H_cycles"], r["L_cycles"]) == served)
    for r in results:
        r["delta_vs_served"] = {
            "auprc": {h: r["doc"][h]["auprc"] - base["doc"][h]["auprc"] for h in base["doc"]},
            "fp_at_95_recall": {
                h: r["doc"][h]["fp_at_95_recall"] - base["doc"][h]["fp_at_95_recall"] for h in base["doc"]
            },
            "span_token_f1": r["span_token_f1"] - base["span_token_f1"],
            "span_exact_f1": r["span_exact_f1"] - base["span_exact_f1"],
            "span_overlap_f1": r["span_overlap_f1"] - base["span_overlap_f1"],
            "speedup_b1": base["ms_per_window_b1"] / r["ms_per_window_b1"],
            "speedup_b8": base["ms_per_window_b8"] / r["ms_per_window_b8"],
        }
    out = {
        "checkpoint": args.checkpoint,
        "tokenized": args.tokenized,
        "split": args.split,
        "n_rows": len(rows),
        "threads": args.threads,
        "trained_budget": dict(zip(("segments", "H_cycles", "L_cycles"), trained, strict=True)),
        "served_budget": dict(zip(("segments", "H_cycles", "L_cycles"), served, strict=True)),
        "note": "single model, single seed; deltas are against the served budget on one split",
        "results": results,
    }
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
