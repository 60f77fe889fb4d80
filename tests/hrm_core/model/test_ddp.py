"""DDP on CPU: two gloo processes train a few steps and end with identical parameters."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
import torch.multiprocessing as mp

from hrm_core.model.hrm import ModelConfig
from hrm_core.model.train_data import synthetic_table
from hrm_core.model.trainer import TrainConfig, train

TINY = dict(
    vocab_size=64, max_len=64, d_model=32, n_heads=2, n_fast_layers=1, n_slow_blocks=1, slow_update_stride=8
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    table = synthetic_table(40, 64, 32, seed=6)
    cfg = TrainConfig(epochs=1, batch_size=4, grad_accum=2, warmup_steps=1, progress=False, curriculum=False)
    result = train(table, Path(out) / "run", ModelConfig(**TINY), cfg)
    torch.save(
        {"steps": result.steps, "initialized": torch.distributed.is_initialized()},
        Path(out) / f"meta{rank}.pt",
    )
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


def _live_worker(rank: int, world: int, port: int, out: str) -> None:
    import hrm_core.model.trainer as trainer

    captured: dict[str, torch.Tensor] = {}
    original = trainer.HRMDLP.num_params

    def num_params_and_capture(self: trainer.HRMDLP) -> int:  # called once, at the end of train()
        captured.update({k: v.detach().clone() for k, v in self.state_dict().items()})
        return original(self)

    trainer.HRMDLP.num_params = num_params_and_capture  # type: ignore[method-assign]
    _worker(rank, world, port, out)
    torch.save(captured, Path(out) / f"params{rank}.pt")


def test_two_gloo_ranks_end_with_identical_parameters(tmp_path: Path) -> None:
    mp.spawn(_live_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    p0, p1 = torch.load(tmp_path / "params0.pt"), torch.load(tmp_path / "params1.pt")
    m0, m1 = torch.load(tmp_path / "meta0.pt"), torch.load(tmp_path / "meta1.pt")
    assert m0["initialized"] and m1["initialized"]
    assert m0["steps"] == m1["steps"] >= 2
    assert p0.keys() == p1.keys()
    for name in p0:
        assert torch.equal(p0[name], p1[name]), name
    # Training moved the weights: the ranks agree on something other than the shared init.
    init = trainer_init_state()
    assert max(float((p0[k] - init[k]).abs().max()) for k in p0 if k in init) > 1e-4


def trainer_init_state() -> dict[str, torch.Tensor]:
    from hrm_core.model.hrm import HRMDLP

    torch.manual_seed(0)
    return HRMDLP(ModelConfig(**TINY)).state_dict()
