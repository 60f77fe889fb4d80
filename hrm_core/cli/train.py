"""Train outside Dagster, e.g. on several GPUs: ``torchrun --nproc-per-node 8 -m hrm_core.cli.train ...``.

The trainer notices torchrun (RANK / WORLD_SIZE) and runs DDP; only rank 0 prints the result JSON.
The tokenizer's ids must match the tokenized table (pass the tokenizer the table was built with).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from hrm_core.model.hrm import ModelConfig
from hrm_core.model.trainer import TrainConfig, train
from hrm_core.tokens.tokenizer import DlpTokenizer


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hrm_core.cli.train", description=__doc__)
    p.add_argument("--data", type=Path, required=True, help="tokenized_examples Parquet file")
    p.add_argument("--tokenizer", type=Path, required=True, help="tokenizer.model the table was built with")
    p.add_argument("--out", type=Path, required=True, help="run directory (checkpoints, resume)")
    p.add_argument("--preset", default="cpu-small", choices=["cpu-small", "seed-27m"])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.pt")
    args = p.parse_args(argv)
    tok = DlpTokenizer.load(args.tokenizer)
    mcfg = ModelConfig.preset(args.preset, vocab_size=tok.vocab_size, pad_id=tok.pad_id, mask_id=tok.mask_id)
    tcfg = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, grad_accum=args.grad_accum, lr=args.lr,
        seed=args.seed, resume=args.resume,
    )  # fmt: skip
    result = train(args.data, args.out, mcfg, tcfg)
    if int(os.environ.get("RANK", "0")) == 0:
        summary = {k: v for k, v in result.__dict__.items() if k not in ("history", "config")}
        sys.stdout.write(json.dumps(summary, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
