"""CPU training throughput (tokens/s) of the cpu-small and seed-27m presets on random data.

    .venv/bin/python benchmarks/bench_train_throughput.py --steps 3 --out data_lake/bench/train_throughput.json

Each preset runs a few full optimizer steps (forward with deep supervision, backward, AdamW) on random
token ids; the first step is a warm-up and is not timed.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from hrm_core.model.hrm import HRMDLP, ModelConfig
from hrm_core.model.losses import dlp_loss, mask_tokens


def bench(preset: str, steps: int, batch_size: int, seq_len: int) -> dict[str, float | int | str]:
    """Tokens/s of `steps` timed training steps of `preset` at [batch_size, seq_len]."""
    torch.manual_seed(0)
    cfg = ModelConfig.preset(preset)
    model = HRMDLP(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.02)
    T = min(seq_len, cfg.max_len)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, cfg.vocab_size - 1, (batch_size, T), generator=g)
    attn = torch.ones_like(ids)
    masked, targets = mask_tokens(ids, attn, cfg.mask_denoise_prob, cfg.mask_id, g)
    batch = {
        "bio": torch.randint(0, cfg.n_tags, (batch_size, T), generator=g),
        "doc_labels": torch.randint(0, 2, (batch_size, 4), generator=g),
        "types_present": torch.randint(0, 2, (batch_size, 10), generator=g),
        "shuffled": torch.randint(0, 2, (batch_size,), generator=g),
        "denoise_targets": targets,
    }
    times = []
    for _ in range(steps + 1):
        t0 = time.perf_counter()
        loss, _ = dlp_loss(model, model(masked, attn), batch)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
    timed = sum(times[1:])
    return {
        "preset": preset, "params": model.num_params(), "batch_size": batch_size, "seq_len": T,
        "steps": steps, "sec_per_step": timed / steps, "tokens_per_s": batch_size * T * steps / timed,
        "threads": torch.get_num_threads(),
    }  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", nargs="+", default=["cpu-small", "seed-27m"])
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--out", default="data_lake/bench/train_throughput.json")
    args = p.parse_args()
    results = {
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "runs": [bench(name, args.steps, args.batch_size, args.seq_len) for name in args.presets],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
