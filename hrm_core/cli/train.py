"""Train outside Dagster, e.g. on several GPUs: ``torchrun --nproc-per-node 8 -m hrm_core.cli.train ...``.

The trainer notices torchrun (RANK / WORLD_SIZE) and runs DDP; only rank 0 prints the result JSON.
The tokenizer's ids must match the tokenized table (pass the tokenizer the table was built with).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import typing
from pathlib import Path

from hrm_core.model.hrm import ModelConfig
from hrm_core.model.presets import MODEL_KNOBS, PRESET_NAMES, model_config, train_config
from hrm_core.model.trainer import CPU_BF16_MODES, TrainConfig, train
from hrm_core.tokens.tokenizer import DlpTokenizer

PRESET_DEFAULT = "(default: the preset's)"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hrm_core.cli.train", description=__doc__)
    p.add_argument("--data", type=Path, required=True, help="tokenized_examples Parquet file")
    p.add_argument("--tokenizer", type=Path, required=True, help="tokenizer.model the table was built with")
    p.add_argument(
        "--out", type=Path, required=True,
        help="run directory (checkpoints, resume); a run without --resume first removes the last.pt, best.pt and "
        "epoch_<k>.pt an earlier run left there",
    )  # fmt: skip
    p.add_argument("--preset", default="cpu-small", choices=PRESET_NAMES)
    p.add_argument("--epochs", type=int, default=None, help=PRESET_DEFAULT)
    p.add_argument("--batch-size", type=int, default=None, help=PRESET_DEFAULT)
    p.add_argument("--grad-accum", type=int, default=None, help=PRESET_DEFAULT)
    p.add_argument("--lr", type=float, default=None, help=PRESET_DEFAULT)
    p.add_argument("--seed", type=int, default=None, help=PRESET_DEFAULT)
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (default: none)")
    p.add_argument(
        "--time-budget-s", type=float, default=None, metavar="SECONDS",
        help="plan the run to fit this wall-clock budget, validation included; 0: no budget " + PRESET_DEFAULT,
    )  # fmt: skip
    p.add_argument(
        "--cpu-bf16", choices=CPU_BF16_MODES, default=None,
        help="bf16 autocast on a CPU: off, on, or auto (where the CPU has bf16 instructions) " + PRESET_DEFAULT,
    )  # fmt: skip
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.pt")
    model = p.add_argument_group("model knobs (default: the preset's)")
    hints = typing.get_type_hints(ModelConfig)
    for knob in MODEL_KNOBS:
        model.add_argument(f"--{knob.replace('_', '-')}", dest=knob, default=None, **_knob_type(hints[knob]))
    return p


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes", "on"):
        return True
    if text.lower() in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _knob_type(hint: object) -> dict:
    """argparse type / choices for a `ModelConfig` field: bool, int, float or a Literal of strings."""
    if typing.get_origin(hint) is typing.Literal:
        return {"choices": list(typing.get_args(hint))}
    if hint is bool:
        return {"type": _bool, "metavar": "{true,false}"}
    return {"type": hint}


def model_knobs_from_args(args: argparse.Namespace) -> dict:
    """The `MODEL_KNOBS` given on the command line (None: the preset's)."""
    return {k: getattr(args, k) for k in MODEL_KNOBS}


def train_config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run's `TrainConfig`: the preset's values where a flag was not given."""
    return train_config(
        args.preset, epochs=args.epochs, batch_size=args.batch_size, grad_accum=args.grad_accum,
        lr=args.lr, seed=args.seed, max_steps=args.max_steps, time_budget_s=args.time_budget_s,
        cpu_bf16=args.cpu_bf16, resume=args.resume,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tok = DlpTokenizer.load(args.tokenizer)
    mcfg = model_config(
        args.preset, tok.vocab_size, tok.pad_id, tok.mask_id, tok.body_tag_id, **model_knobs_from_args(args)
    )
    tcfg = train_config_from_args(args)
    result = train(args.data, args.out, mcfg, tcfg)
    if int(os.environ.get("RANK", "0")) == 0:
        summary = {k: v for k, v in result.__dict__.items() if k not in ("history", "config")}
        sys.stdout.write(json.dumps(summary, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
