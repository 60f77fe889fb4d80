"""HRM-DLP model: shapes, gradient reaching every parameter group, padding invariance."""

from __future__ import annotations

import pytest
import torch

from hrm_core.model.hrm import HRMDLP, ModelConfig
from hrm_core.model.losses import dlp_loss, mask_tokens

TINY = dict(
    vocab_size=64, max_len=64, d_model=32, n_heads=2, n_fast_layers=2, n_slow_blocks=1, slow_update_stride=8
)


def _batch(B: int = 3, T: int = 40, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 60, (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, 25:] = 0  # one shorter sequence, padding trailing
    ids = ids * mask
    bio = torch.randint(0, 21, (B, T), generator=g).masked_fill(mask == 0, -100)
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "bio": bio,
        "doc_labels": torch.tensor([[1, 0, 1, -1], [0, 1, -1, 0], [1, 1, 0, 1]]),
        "types_present": torch.randint(0, 2, (B, 10), generator=g),
        "shuffled": torch.tensor([0, 1, 0]),
        "memory_seed": torch.randn(B, 256, generator=g),
    }


def test_presets_and_seed_27m_size() -> None:
    small, big = ModelConfig.preset("cpu-small"), ModelConfig.preset("seed-27m")
    assert (big.d_model, big.n_fast_layers, big.n_heads, big.n_slow_blocks) == (384, 8, 6, 2)
    assert (big.slow_update_stride, big.max_len, big.vocab_size) == (64, 1024, 16000)
    assert small.mask_id == small.vocab_size - 1
    n = HRMDLP(big).num_params()
    assert 25_000_000 < n < 29_000_000, n  # target "about 27M"
    assert ModelConfig.from_dict(small.to_dict()) == small
    with pytest.raises(ValueError, match="unknown preset"):
        ModelConfig.preset("huge")


def test_output_shapes() -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(**TINY, segments=3)
    b = _batch()
    out = HRMDLP(cfg)(b["input_ids"], b["attention_mask"], b["memory_seed"])
    assert out.doc_logits.shape == (3, 4)
    assert out.span_logits.shape == (3, 40, 21)  # T=40 is not a multiple of the stride: cropped back
    assert out.memory.shape == (3, 256)
    assert out.probe_logits.shape == (3, 14)
    assert out.shuffle_logit.shape == (3,)
    assert out.token_features.shape == (3, 40, 32)
    assert len(out.segments) == 3 and out.segments[-1] is out
    assert float(out.memory.detach().abs().max()) <= 1.0


@pytest.mark.parametrize("grad_mode", ["one_step", "last_cycle"])
def test_every_parameter_group_gets_gradient(grad_mode: str) -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(**TINY, grad_mode=grad_mode)  # type: ignore[arg-type]
    model = HRMDLP(cfg)
    b = _batch()
    ids, targets = mask_tokens(
        b["input_ids"], b["attention_mask"], 0.3, cfg.mask_id, torch.Generator().manual_seed(1)
    )
    out = model(ids, b["attention_mask"], b["memory_seed"])
    loss, parts = dlp_loss(model, out, {**b, "denoise_targets": targets})
    loss.backward()
    assert parts["denoise"] > 0 and parts["probe"] > 0 and parts["shuffle"] > 0
    groups = {
        "fast blocks": "fast.blocks.", "slow blocks": "slow.blocks.", "slow pooling": "slow.pool_proj.",
        "GRU update": "slow.gru_", "fusion gate": "fast.gate.", "slow seed": "slow_seed",
        "thread memory": "thread_proj.", "span head": "span_head.", "doc head": "doc_head.",
        "memory head": "memory_head.", "memory probe": "probe.", "shuffle head": "shuffle_head.",
        "denoise head": "denoise_norm.", "embedding": "embed.",
    }  # fmt: skip
    named = dict(model.named_parameters())
    for group, prefix in groups.items():
        params = [(n, p) for n, p in named.items() if n.startswith(prefix)]
        assert params, group
        for name, p in params:
            assert p.grad is not None and float(p.grad.abs().sum()) > 0, f"{group}: {name} has no gradient"
    # Every trainable parameter, not only the listed groups.
    dead = [
        n for n, p in named.items() if p.requires_grad and (p.grad is None or float(p.grad.abs().sum()) == 0)
    ]
    assert dead == []


def test_one_step_mode_backprops_through_fewer_steps_than_last_cycle() -> None:
    # Same weights, same input: the two modes give identical outputs but different gradients.
    torch.manual_seed(0)
    b = _batch()
    grads = {}
    for mode in ("one_step", "last_cycle"):
        torch.manual_seed(0)
        model = HRMDLP(ModelConfig(**TINY, grad_mode=mode))  # type: ignore[arg-type]
        out = model(b["input_ids"], b["attention_mask"])
        out.doc_logits.sum().backward()
        grads[mode] = (out.doc_logits.detach(), model.fast.blocks[0].attn.qkv.weight.grad.clone())
    torch.testing.assert_close(grads["one_step"][0], grads["last_cycle"][0])
    assert float((grads["one_step"][1] - grads["last_cycle"][1]).abs().max()) > 1e-6


@pytest.mark.parametrize("use_slow", [True, False])
def test_padding_does_not_change_unpadded_outputs(use_slow: bool) -> None:
    torch.manual_seed(0)
    model = HRMDLP(ModelConfig(**TINY, use_slow=use_slow)).eval()
    b = _batch(T=21)
    ids, mask = b["input_ids"], b["attention_mask"]
    padded_ids = torch.cat(
        [ids, torch.zeros(3, 19, dtype=torch.long)], dim=1
    )  # 21 -> 40 tokens, 3 -> 5 segments
    padded_mask = torch.cat([mask, torch.zeros(3, 19, dtype=torch.long)], dim=1)
    with torch.no_grad():
        a = model(ids, mask, b["memory_seed"])
        p = model(padded_ids, padded_mask, b["memory_seed"])
    atol = 1e-5  # fp32 reductions over a different number of (masked) elements
    torch.testing.assert_close(p.doc_logits, a.doc_logits, atol=atol, rtol=0)
    torch.testing.assert_close(p.memory, a.memory, atol=atol, rtol=0)
    torch.testing.assert_close(p.span_logits[:, :21], a.span_logits, atol=atol, rtol=0)
    torch.testing.assert_close(p.shuffle_logit, a.shuffle_logit, atol=atol, rtol=0)


def test_thread_memory_seed_changes_outputs_and_is_ignored_when_off() -> None:
    torch.manual_seed(0)
    b = _batch()
    on = HRMDLP(ModelConfig(**TINY)).eval()
    with torch.no_grad():
        d0 = on(b["input_ids"], b["attention_mask"]).doc_logits
        d1 = on(b["input_ids"], b["attention_mask"], b["memory_seed"] * 50).doc_logits
    assert float((d0 - d1).abs().max()) > 1e-4
    off = HRMDLP(ModelConfig(**TINY, use_thread_memory=False)).eval()
    assert off.thread_proj is None
    with torch.no_grad():
        e0 = off(b["input_ids"], b["attention_mask"]).doc_logits
        e1 = off(b["input_ids"], b["attention_mask"], b["memory_seed"]).doc_logits
    torch.testing.assert_close(e0, e1, atol=0, rtol=0)


def test_ablation_switches_remove_modules() -> None:
    fast_only = HRMDLP(ModelConfig(**TINY, use_slow=False))
    assert fast_only.slow is None and fast_only.slow_seed is None
    no_gate = HRMDLP(ModelConfig(**TINY, use_fusion_gate=False))
    assert no_gate.fast.gate is None
    full = HRMDLP(ModelConfig(**TINY))
    # Same fast tier in all three: only the slow tier / gate differ.
    assert sum(p.numel() for p in fast_only.fast.blocks.parameters()) == sum(
        p.numel() for p in full.fast.blocks.parameters()
    )
    assert full.num_params() > no_gate.num_params() > fast_only.num_params() - 1
