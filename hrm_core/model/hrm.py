"""The HRM-DLP model: a hierarchical (fast tokens / slow segments) encoder with DLP heads.

Read top to bottom: `ModelConfig` (every knob, two presets), the building blocks (RMSNorm, RoPE,
attention, SwiGLU, Block), the two tiers (`FastModule`, `SlowModule`), the `FusionGate`, and
`HRMDLP`, whose forward runs `segments` deep-supervision passes of `H_cycles x L_cycles`
recurrence and returns a `ModelOutput` per pass.

One recurrence step, per H cycle:
    L_cycles times:  h = fast_blocks(fuse(x, h) + broadcast(s))      # tokens [B, T, D]
    once:            s = GRU(s, slow_blocks(pool(h) + s + seed))     # segments [B, S, D]
Token features for the heads are h + broadcast(s), so the slow tier is always on the gradient path.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from hrm_core.data.contract import BIO_TAGS, DOC_HEADS, SPAN_TYPES

GradMode = Literal["one_step", "last_cycle"]


@dataclass
class ModelConfig:
    """Every model and loss knob. Build with `ModelConfig.preset(name, **overrides)`."""

    vocab_size: int = 4000
    max_len: int = 512
    d_model: int = 128
    n_heads: int = 4
    n_fast_layers: int = 2
    n_slow_blocks: int = 1
    mlp_mult: float = 4.0  # SwiGLU hidden = 2/3 * mlp_mult * d_model (same FLOPs as a 4x GELU MLP)
    rope_theta: float = 10000.0
    slow_update_stride: int = 32
    memory_dim: int = 256
    H_cycles: int = 2
    L_cycles: int = 2
    segments: int = 2
    grad_mode: GradMode = "one_step"
    use_fusion_gate: bool = True
    use_slow: bool = True
    use_thread_memory: bool = True
    pad_id: int = 0
    mask_id: int = -1  # -1 means vocab_size - 1 (the tokenizer reserves its last id for [MASK])
    # Losses (seed 002 §5).
    doc_label_smoothing: float = 0.05
    mask_denoise_prob: float = 0.15
    denoise_weight: float = 0.3
    shuffle_weight: float = 0.2
    probe_weight: float = 0.2
    n_doc: int = len(DOC_HEADS)
    n_tags: int = len(BIO_TAGS)
    n_types: int = len(SPAN_TYPES)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mask_id < 0:
            self.mask_id = self.vocab_size - 1
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.grad_mode not in ("one_step", "last_cycle"):
            raise ValueError(f"grad_mode must be one_step or last_cycle, got {self.grad_mode!r}")

    @classmethod
    def preset(cls, name: str = "cpu-small", **overrides: Any) -> ModelConfig:
        """Named configurations: `cpu-small` (trains in minutes on 2 CPU cores) and `seed-27m`."""
        presets: dict[str, dict[str, Any]] = {
            "cpu-small": {},
            "seed-27m": dict(
                vocab_size=16000,
                max_len=1024,
                d_model=384,
                n_heads=6,
                n_fast_layers=8,
                n_slow_blocks=2,
                slow_update_stride=64,
            ),
        }
        if name not in presets:
            raise ValueError(f"unknown preset {name!r}; choose from {sorted(presets)}")
        return cls(**{**presets[name], **overrides})

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for checkpoints and config.json."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Inverse of `to_dict`, ignoring keys from newer versions."""
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def with_(self, **overrides: Any) -> ModelConfig:
        """A copy with some fields changed (ablations)."""
        return replace(self, **overrides)


# ---------------------------------------------------------------------------- building blocks


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_cos_sin(
    n: int, head_dim: int, theta: float, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables for rotary embeddings, each [n, head_dim]."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim)
    freqs = torch.outer(torch.arange(n, device=device, dtype=torch.float32), inv_freq)  # [n, hd/2]
    emb = torch.cat([freqs, freqs], dim=-1)  # [n, hd]
    return emb.cos(), emb.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate q or k [B, nh, T, hd] by position."""
    x1, x2 = x.chunk(2, dim=-1)
    rotated = torch.cat([-x2, x1], dim=-1)
    return (x * cos + rotated * sin).to(x.dtype)


class Attention(nn.Module):
    """Non-causal multi-head self-attention with RoPE and a key padding mask."""

    def __init__(self, d: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.out = nn.Linear(d, d, bias=False)

    def forward(
        self, x: torch.Tensor, key_mask: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]
    ) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = (
            self.qkv(x).view(B, T, 3, self.n_heads, D // self.n_heads).permute(2, 0, 3, 1, 4)
        )  # 3x [B, nh, T, hd]
        cos, sin = rope
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        # key_mask [B, T] -> [B, 1, 1, T]: padded keys are never attended to, so real tokens ignore padding.
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask[:, None, None, :])  # [B, nh, T, hd]
        return self.out(y.transpose(1, 2).reshape(B, T, D))


class SwiGLU(nn.Module):
    def __init__(self, d: int, mult: float) -> None:
        super().__init__()
        hidden = round(2 * mult * d / 3 / 64) * 64 or 64  # multiple of 64 for matmul efficiency
        self.gate_up = nn.Linear(d, 2 * hidden, bias=False)
        self.down = nn.Linear(hidden, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm x), then x + mlp(norm x)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.norm1 = RMSNorm(cfg.d_model)
        self.attn = Attention(cfg.d_model, cfg.n_heads)
        self.norm2 = RMSNorm(cfg.d_model)
        self.mlp = SwiGLU(cfg.d_model, cfg.mlp_mult)

    def forward(
        self, x: torch.Tensor, key_mask: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]
    ) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), key_mask, rope)
        return x + self.mlp(self.norm2(x))


# ---------------------------------------------------------------------------- the two tiers


class FusionGate(nn.Module):
    """g = σ(W[x‖h‖s]); h' = g⊙Ux + (1−g)⊙Uh: per token, how much of the input vs the fast state to keep."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.w = nn.Linear(3 * d, d)
        self.u_x = nn.Linear(d, d, bias=False)
        self.u_h = nn.Linear(d, d, bias=False)

    def forward(self, x: torch.Tensor, h: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        g = torch.sigmoid(self.w(torch.cat([x, h, s], dim=-1)))  # [B, T, D]
        return g * self.u_x(x) + (1 - g) * self.u_h(h)


class FastModule(nn.Module):
    """Token-level (L) tier: fuse input and state, add slow context, run the fast blocks."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.gate = FusionGate(cfg.d_model) if cfg.use_fusion_gate else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_fast_layers))

    def forward(self, x, h, s_tok, key_mask, rope) -> torch.Tensor:  # type: ignore[no-untyped-def]
        # Without the gate this is HRM's additive input injection.
        z = (self.gate(x, h, s_tok) if self.gate is not None else x + h) + s_tok
        for block in self.blocks:
            z = block(z, key_mask, rope)
        return z


class SlowModule(nn.Module):
    """Segment-level (H) tier: pool tokens per stride segment, slow blocks, GRU-style state update."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        d = cfg.d_model
        self.stride = cfg.slow_update_stride
        self.pool_proj = nn.Linear(3 * d, d)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_slow_blocks))
        self.norm = RMSNorm(d)
        self.gru_zr = nn.Linear(2 * d, 2 * d)  # update and reset gates
        self.gru_n = nn.Linear(2 * d, d)  # candidate

    def pool(self, h: torch.Tensor, tok_mask: torch.Tensor) -> torch.Tensor:
        """[B, T, D] tokens -> [B, S, 3D] per segment: masked mean, masked max, first token."""
        B, T, D = h.shape
        hs = h.view(B, T // self.stride, self.stride, D)  # [B, S, stride, D]
        m = tok_mask.view(B, T // self.stride, self.stride, 1).to(h.dtype)
        mean = (hs * m).sum(2) / m.sum(2).clamp(min=1.0)
        # Masked max; a fully padded segment pools to 0 rather than -inf.
        mx = hs.masked_fill(m == 0, torch.finfo(h.dtype).min).amax(2) * (m.amax(2))
        first = hs[:, :, 0] * m[:, :, 0]  # padding is trailing, so the first token is real if any is
        return torch.cat([mean, mx, first], dim=-1)

    def forward(self, s, h, seed, tok_mask, seg_mask, rope) -> torch.Tensor:  # type: ignore[no-untyped-def]
        # The seed (learned + thread memory) is injected at every update, like HRM's input injection,
        # so it keeps receiving gradient even when only the last step does (grad_mode=one_step).
        u = self.pool_proj(self.pool(h, tok_mask)) + s + seed  # [B, S, D]
        for block in self.blocks:
            u = block(u, seg_mask, rope)
        c = self.norm(u)
        z, r = torch.sigmoid(self.gru_zr(torch.cat([s, c], dim=-1))).chunk(2, dim=-1)
        n = torch.tanh(self.gru_n(torch.cat([r * s, c], dim=-1)))
        return (1 - z) * s + z * n  # [B, S, D]


# ---------------------------------------------------------------------------- the model


@dataclass
class ModelOutput:
    """Outputs of one deep-supervision segment; `segments` holds all of them (the last is this one)."""

    doc_logits: torch.Tensor  # [B, 4]
    span_logits: torch.Tensor  # [B, T, 21]
    memory: torch.Tensor  # [B, 256]
    probe_logits: torch.Tensor  # [B, 10 + 4]: span types present, then the doc labels
    shuffle_logit: torch.Tensor  # [B]
    token_features: torch.Tensor  # [B, T, D]; the denoise head reads masked positions from here
    segments: list[ModelOutput] = field(default_factory=list, repr=False)


class HRMDLP(nn.Module):
    """Hierarchical encoder + doc / span / memory heads. See the module docstring for the recurrence."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.embed = nn.Embedding(cfg.vocab_size, d)
        self.fast = FastModule(cfg)
        self.slow = SlowModule(cfg) if cfg.use_slow else None
        self.slow_seed = nn.Parameter(torch.randn(d) * 0.02) if cfg.use_slow else None
        self.thread_proj = nn.Linear(cfg.memory_dim, d) if cfg.use_slow and cfg.use_thread_memory else None
        self.h_init = nn.Parameter(torch.zeros(d), requires_grad=False)  # fixed fast-state start, as in HRM
        self.out_norm = RMSNorm(d)
        self.span_head = nn.Linear(d, cfg.n_tags)
        self.doc_head = nn.Sequential(nn.Linear(2 * d, d), nn.SiLU(), nn.Linear(d, cfg.n_doc))
        self.memory_head = nn.Linear(2 * d, cfg.memory_dim)
        self.probe = nn.Linear(cfg.memory_dim, cfg.n_types + cfg.n_doc)
        self.shuffle_head = nn.Linear(2 * d, 1)
        self.denoise_norm = RMSNorm(d)  # denoise logits reuse the embedding matrix (tied), saving V*D
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def num_params(self) -> int:
        """Trainable parameter count (tied weights counted once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def denoise_logits(self, features: torch.Tensor) -> torch.Tensor:
        """Original-token logits [..., V] for token features [..., D] (only computed where masked)."""
        return self.denoise_norm(features) @ self.embed.weight.T

    def _seed(self, B: int, x: torch.Tensor, memory_seed: torch.Tensor | None) -> torch.Tensor:
        seed = self.slow_seed.to(x.dtype).expand(B, -1)  # type: ignore[union-attr]  # [B, D]
        if self.thread_proj is not None:
            mem = memory_seed if memory_seed is not None else x.new_zeros(B, self.cfg.memory_dim)
            seed = seed + self.thread_proj(mem.to(x.dtype))
        return seed[:, None, :]  # [B, 1, D]

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, memory_seed: torch.Tensor | None = None
    ) -> ModelOutput:
        """input_ids, attention_mask [B, T] (padding trailing), memory_seed [B, 256] or None."""
        cfg = self.cfg
        B, T0 = input_ids.shape
        stride = cfg.slow_update_stride
        T = -(-T0 // stride) * stride  # pad up to whole segments; pads are masked everywhere
        ids = F.pad(input_ids, (0, T - T0), value=cfg.pad_id)
        tok_mask = F.pad(attention_mask.bool(), (0, T - T0), value=False)  # [B, T]
        S = T // stride
        seg_mask = tok_mask.view(B, S, stride).any(-1)  # [B, S]
        x = self.embed(ids) * math.sqrt(cfg.d_model)  # [B, T, D]
        hd = cfg.d_model // cfg.n_heads
        rope_tok = rope_cos_sin(T, hd, cfg.rope_theta, x.device)
        rope_seg = rope_cos_sin(S, hd, cfg.rope_theta, x.device)

        h = self.h_init.to(x.dtype).expand(B, T, -1)
        if self.slow is not None:
            seed = self._seed(B, x, memory_seed)  # [B, 1, D]
            s = seed.expand(B, S, -1)  # [B, S, D]
        else:
            seed, s = None, x.new_zeros(B, S, cfg.d_model)

        def s_tokens(s: torch.Tensor) -> torch.Tensor:
            return s.repeat_interleave(stride, dim=1)  # [B, S, D] -> [B, T, D]

        def l_step(h: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
            return self.fast(x, h, s_tokens(s), tok_mask, rope_tok)

        def h_step(s: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
            return self.slow(s, h, seed, tok_mask, seg_mask, rope_seg) if self.slow is not None else s

        outputs: list[ModelOutput] = []
        n_steps = cfg.H_cycles * cfg.L_cycles
        # Steps before `grad_from` run without a graph (HRM's 1-step gradient / TRM's last cycle).
        grad_from = n_steps - 1 if cfg.grad_mode == "one_step" else n_steps - cfg.L_cycles
        for _ in range(cfg.segments):
            h, s = h.detach(), s.detach()  # deep supervision: no gradient flows between segments
            with torch.no_grad():
                for step in range(grad_from):
                    h = l_step(h, s)
                    if step % cfg.L_cycles == cfg.L_cycles - 1:
                        s = h_step(s, h)
            for step in range(grad_from, n_steps):
                h = l_step(h, s)
                if step % cfg.L_cycles == cfg.L_cycles - 1:
                    s = h_step(s, h)
            outputs.append(self._heads(h, s_tokens(s), tok_mask, T0))
        final = outputs[-1]
        final.segments = outputs
        return final

    def _heads(self, h: torch.Tensor, s_tok: torch.Tensor, tok_mask: torch.Tensor, T0: int) -> ModelOutput:
        feats = self.out_norm(h + s_tok)  # [B, T, D]
        m = tok_mask[..., None].to(feats.dtype)
        mean = (feats * m).sum(1) / m.sum(1).clamp(min=1.0)
        mx = feats.masked_fill(m == 0, torch.finfo(feats.dtype).min).amax(1)
        pooled = torch.cat([mean, mx], dim=-1)  # [B, 2D]
        memory = torch.tanh(self.memory_head(pooled))  # [B, 256]
        feats = feats[:, :T0]
        return ModelOutput(
            doc_logits=self.doc_head(pooled),
            span_logits=self.span_head(feats),
            memory=memory,
            probe_logits=self.probe(memory),
            shuffle_logit=self.shuffle_head(pooled).squeeze(-1),
            token_features=feats,
        )
