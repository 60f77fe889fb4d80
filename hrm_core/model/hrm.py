"""The HRM-DLP model: a hierarchical (fast tokens / slow segments) encoder with DLP heads.

Read top to bottom: `ModelConfig` (every knob, two presets), the building blocks (RMSNorm, RoPE,
attention, SwiGLU, Block), the two tiers (`FastModule`, `SlowModule`), the `FusionGate`, and
`HRMDLP`, whose forward runs `segments` deep-supervision passes of `H_cycles x L_cycles`
recurrence and returns a `ModelOutput` per pass.

One recurrence step, per H cycle:
    L_cycles times:  h = fast_blocks(fuse(x, h) + P_in broadcast(s))   # tokens [B, T, D]
    once:            s = GRU(s, slow_blocks(pool(h) + s + seed))       # segments [B, S, D]
Token features for the heads are norm(h + P_out broadcast(s)), so the slow tier is always on the gradient
path. The input x is the token embedding plus, with ``use_candidates``, the embedding of the candidate
tag the deterministic recognizers put on that token (`hrm_core.tokens.candidates`).

v2 (``init_scheme="hrm"``, the presets) initialises like HRM: fan-in truncated normal Linears, unit-RMS
embeddings, and ``P_in`` / ``P_out`` zero-initialised projections, so at the start each token is itself
and the slow tier enters once, as far as training finds it useful. v1 (``"legacy"``, the default for
configs that predate the knob) used std 0.02 everywhere and added s unprojected, twice (gate and sum).
Doc heads: v1 one shared MLP over mean+max pooled features; v2 (``doc_readout="attn_max"``) a
`DocReadout` per head that can see a single token.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from hrm_core.data.contract import BIO_TAGS, DOC_HEADS, LEET_CANDIDATE, NAME_CANDIDATE, SPAN_TYPES
from hrm_core.data.dsl import DSL_VERSION

GradMode = Literal["one_step", "last_cycle"]
DocReadoutKind = Literal["pool", "attn_max"]
InitScheme = Literal["legacy", "hrm"]


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
    # Compute at inference (eval mode: validation, calibration, export, serving); 0 = as in training.
    # Deep supervision trains every segment's output, so fewer segments at inference is a model the
    # loss trained, not an approximation (`benchmarks/ablation.py` measures quality against cycles).
    infer_segments: int = 0
    infer_L_cycles: int = 0
    grad_mode: GradMode = "one_step"
    use_fusion_gate: bool = True
    use_slow: bool = True
    use_thread_memory: bool = True
    # Defaults of the three knobs below are the v1 model's, so a bundle whose config.json predates them
    # loads as it was trained; the presets set the v2 values (see `preset`).
    doc_readout: DocReadoutKind = "pool"  # "attn_max": per-head attention pooling + per-token evidence max
    init_scheme: InitScheme = "legacy"  # "hrm": fan-in init, unit-scale embeddings, zero-init slow entry
    use_candidates: bool = False  # recognizer candidate tags enter as an embedding channel
    # ... and so does the leetspeak mark of `features.candidate_tags` (id LEET_CANDIDATE); without it the
    # mark reads as no candidate.
    leet_candidates: bool = False
    # ... and the census-name mark (id NAME_CANDIDATE, `hrm_core.rules.name_list`), likewise.
    name_candidates: bool = False
    # attn_max readout: the context head reads its per-token evidence through a min (one value that is
    # not allowed makes the message illegitimate) and learns it from `features.context_evidence`.
    context_evidence: bool = False
    pad_id: int = 0
    mask_id: int = -1  # -1 means vocab_size - 1 (the tokenizer reserves its last id for [MASK])
    # The tokenizer's <BODY> tag: windows of a long message repeat its header up to this token
    # (`hrm_core.tokens.windows.header_length`); -1 repeats nothing (bundles from before it).
    body_tag_id: int = -1
    # The DSL version of the table it was trained on (`hrm_core.data.dsl`; the presets say the current
    # one and the trainer sets it from the table); the scanner serializes in it. 1: configs from before.
    dsl_version: int = 1
    # Losses (seed 002 §5).
    doc_label_smoothing: float = 0.05
    doc_head_weights: tuple[float, ...] = ()  # per doc head (DOC_HEADS order) in the doc loss; (): all 1
    mask_denoise_prob: float = 0.15
    denoise_weight: float = 0.3
    # The denoise loss reads the first `denoise_segments` deep-supervision segments (0: every one), at the
    # same total weight. Its logits over the whole vocabulary are about 14% of a cpu-small training step,
    # but denoising only the segment cpu-small serves (arm denoise_seg0 vs budget540, 3 seeds at 540 s)
    # gave no step count above the machine's noise (570 +/- 22 vs 581 +/- 13) and lower validation
    # context / obfuscation AUPRC (0.921 / 0.935 vs 0.947 / 0.972) and presidio overlap (0.621 vs 0.654).
    denoise_segments: int = 0
    # Share of the masked tokens the denoise loss scores (`losses.mask_tokens`); every masked token is still
    # replaced by [MASK] in the input. 1: all of them. A quarter (arm denoise_share25 vs budget540, 3 seeds
    # each, interleaved, the demo lake) made a step about 12% cheaper: 876 +/- 30 steps in 540 s against
    # 773 +/- 40, but validation AUPRC context 0.951 +/- 0.005 vs 0.956 +/- 0.005 and obfuscation 0.976 vs
    # 0.982, test exact span F1 0.976 vs 0.977, presidio overlap (sample) 0.667 vs 0.672, noseyparker
    # FP@95R 0.756 vs 0.821: every difference inside the seed noise, the heads lower. Not adopted.
    denoise_target_share: float = 1.0
    shuffle_weight: float = 0.2
    probe_weight: float = 0.2
    evidence_weight: float = 0.5  # dense per-token evidence (destination classes, hidden values)
    partial_o_weight: float = 1.0  # weight of the not-annotated types in a PARTIAL_O token's set label
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
        if self.doc_readout not in ("pool", "attn_max"):
            raise ValueError(f"doc_readout must be pool or attn_max, got {self.doc_readout!r}")
        if self.init_scheme not in ("legacy", "hrm"):
            raise ValueError(f"init_scheme must be legacy or hrm, got {self.init_scheme!r}")
        if not 0.0 < self.denoise_target_share <= 1.0:
            raise ValueError(f"denoise_target_share must be in (0, 1], got {self.denoise_target_share}")
        self.doc_head_weights = tuple(float(w) for w in self.doc_head_weights)  # config.json gives a list
        if self.doc_head_weights and len(self.doc_head_weights) != self.n_doc:
            raise ValueError(f"doc_head_weights needs {self.n_doc} weights, got {len(self.doc_head_weights)}")
        if not self.use_candidates:  # the mark travels in the candidate channel: none without it
            self.leet_candidates = self.name_candidates = False
        if self.context_evidence and self.doc_readout != "attn_max":
            raise ValueError("context_evidence needs doc_readout='attn_max' (the per-token evidence logits)")

    @classmethod
    def preset(cls, name: str = "cpu-small", **overrides: Any) -> ModelConfig:
        """Named configurations: `cpu-small` (trains in minutes on 2 CPU cores) and `seed-27m`."""
        # Each v2 knob off today's cpu-small at 440 steps (`benchmarks/ablation.py`, arms steps440 vs
        # steps440_pool / _no_candidates / _no_slow, 3 seeds, the demo lake, 2026-12-03). Without the
        # candidate channel: test exact span F1 0.812 +/- 0.038 vs 0.969 +/- 0.006, validation exact 0.556
        # vs 0.936, presidio overlap (sample) 0.383 +/- 0.207 vs 0.662 +/- 0.017 (PHONE 0 on two seeds).
        # The pooled readout: validation context AUPRC 0.961 +/- 0.006 vs 0.944 +/- 0.006 (higher on every
        # seed), but obfuscation 0.893 +/- 0.088 (one seed 0.792) vs 0.941, exposure 0.991 vs 1.000,
        # presidio 0.638 vs 0.662 and noseyparker FP@95R 0.815 +/- 0.108 vs 0.768 +/- 0.047. Without the
        # slow tier: every figure inside the seed noise (test 0.970, presidio 0.657, context 0.943,
        # noseyparker 0.815 +/- 0.021), 20% fewer parameters, about 6% more tokens a second. v2 stays as is.
        v2: dict[str, Any] = dict(
            doc_readout="attn_max",
            init_scheme="hrm",
            use_candidates=True,
            leet_candidates=True,
            name_candidates=True,
            dsl_version=DSL_VERSION,
        )
        presets: dict[str, dict[str, Any]] = {
            # One deep-supervision segment at inference: half the compute, quality inside the seed noise
            # (3 seeds, `benchmarks/ablation.py`: test exact span F1 0.934 vs 0.930 with both segments).
            # One L cycle (2 fast passes per segment, not 4): trains 1.5x faster and serves 2x cheaper, with
            # test / presidio / validation figures inside the seed noise of L_cycles 2 (ablation arms v2
            # and train_L1); the time saved trains more epochs (TRAIN_PRESETS), which is what lifts the
            # context and obfuscation heads (validation AUPRC 0.84 -> 0.92, 0.40 -> 0.91; arms v2 and
            # L1_long, 3 seeds each).
            # partial_o_weight 0.1: on the fresh-clone demo, presidio span micro F1 overlap 0.399 -> 0.537,
            # exact 0.144 -> 0.284 (NAME precision 0.18 -> 0.74) against 1.0, one run each. 0.3 against 0.1
            # (arm partial_o_03 vs budget540, 3 seeds each, the same afternoon and examples; whole presidio
            # set): overlap 0.647 +/- 0.016 vs 0.646 +/- 0.018, NAME recall 0.595 vs 0.529 and precision
            # 0.566 vs 0.602 (F1 0.571 vs 0.563), PHONE 0.684-0.740 vs 0.694-0.773 (one seed each under
            # regex's 0.704), validation context AUPRC 0.926 vs 0.939: it trades NAME precision for recall
            # at the same F1. 0.1 stays.
            # It still trains two segments. Training only the one it serves halves a step (epochs of 154
            # steps in about 82 s against 150 s on a 2-core AVX2 machine), so the 540 s budget holds about
            # 930 steps instead of 580 (arms train_seg1 vs budget540, 3 seeds, same examples): validation
            # AUPRC context 0.950 +/- 0.019 vs 0.947 +/- 0.013, obfuscation 0.983 vs 0.972, exact / overlap
            # span F1 0.923 / 0.967 vs 0.909 / 0.954, test exact 0.962 +/- 0.002 vs 0.959 +/- 0.005, but on
            # real text presidio overlap 0.640 +/- 0.013 vs 0.654 +/- 0.027 and exact 0.376 vs 0.405 (lower
            # on 2 seeds of 3), noseyparker FP@95R 0.774 vs 0.762; its fresh-clone demo model scored
            # presidio overlap 0.615 and PHONE 0.696 (regex 0.704) on the full set. Better on our synthetic
            # data, not on real text: not adopted.
            "cpu-small": dict(**v2, L_cycles=1, infer_segments=1, partial_o_weight=0.1),
            "seed-27m": dict(
                **v2,
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

    def compute(self, training: bool) -> tuple[int, int]:
        """(segments, L_cycles) the forward pass runs: the training ones, or the inference overrides."""
        if training:
            return self.segments, self.L_cycles
        return self.infer_segments or self.segments, self.infer_L_cycles or self.L_cycles

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

    def served_at(self, segments: int, H_cycles: int, L_cycles: int) -> ModelConfig:
        """A copy whose forward in eval mode runs exactly ``segments`` x ``H_cycles`` x ``L_cycles`` (what
        `compute(False)` returns): the inference overrides are set too, so a config that serves fewer
        segments than it trains (``infer_segments``) cannot quietly keep its own count. For measuring
        quality against compute on trained weights; ``H_cycles`` is shared with training."""
        if min(segments, H_cycles, L_cycles) < 1:
            raise ValueError(
                f"segments, H_cycles and L_cycles must be >= 1, got {segments}x{H_cycles}x{L_cycles}"
            )
        return replace(self, infer_segments=segments, H_cycles=H_cycles, infer_L_cycles=L_cycles)


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


def key_bias(mask: torch.Tensor) -> torch.Tensor:
    """Additive attention bias [B, 1, 1, T] for a key mask [B, T]: 0 where a key is real, the lowest
    float where it is padding, so softmax gives padding exactly zero weight (as a boolean mask does).

    Built once per forward and shared by every block. A boolean ``attn_mask`` exports to ONNX as a
    Where / IsNaN / Where chain over each [B, heads, T, T] score tensor (a third of the int8 run time
    of a 512-token window on CPU); an additive bias exports as one broadcast Add. A row with no real
    key at all (never one of ours: every window has a token) gets uniform weights in fp32; cast to bf16
    the bias is -inf, as a boolean mask is.
    """
    zero = torch.zeros(mask.shape, dtype=torch.float32, device=mask.device)
    return zero.masked_fill(~mask.bool(), torch.finfo(torch.float32).min)[:, None, None, :]


class Attention(nn.Module):
    """Non-causal multi-head self-attention with RoPE and a key padding mask."""

    def __init__(self, d: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d, 3 * d, bias=False)
        self.out = nn.Linear(d, d, bias=False)

    def forward(
        self, x: torch.Tensor, key_bias: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]
    ) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = (
            self.qkv(x).view(B, T, 3, self.n_heads, D // self.n_heads).permute(2, 0, 3, 1, 4)
        )  # 3x [B, nh, T, hd]
        cos, sin = rope
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        # key_bias [B, 1, 1, T] (`key_bias`): padded keys are never attended to, so real tokens ignore padding.
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=key_bias.to(q.dtype))  # [B, nh, T, hd]
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
        self, x: torch.Tensor, key_bias: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]
    ) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), key_bias, rope)
        return x + self.mlp(self.norm2(x))


# ---------------------------------------------------------------------------- the two tiers


class FusionGate(nn.Module):
    """g = σ(W[x‖h(‖s)]); h' = g⊙Ux + (1−g)⊙Uh: per token, how much of the input vs the fast state to keep.

    The v1 gate also reads the slow state ``s``; under ``init_scheme="hrm"`` the slow state enters the
    fast tier once, through `FastModule.slow_in`, and the gate reads only ``x`` and ``h``.
    """

    def __init__(self, d: int, reads_slow: bool = True) -> None:
        super().__init__()
        self.reads_slow = reads_slow
        self.w = nn.Linear((3 if reads_slow else 2) * d, d)
        self.u_x = nn.Linear(d, d, bias=False)
        self.u_h = nn.Linear(d, d, bias=False)

    def forward(self, x: torch.Tensor, h: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        parts = [x, h, s] if self.reads_slow else [x, h]
        g = torch.sigmoid(self.w(torch.cat(parts, dim=-1)))  # [B, T, D]
        return g * self.u_x(x) + (1 - g) * self.u_h(h)


class FastModule(nn.Module):
    """Token-level (L) tier: fuse input and state, add slow context, run the fast blocks.

    v1 (``init_scheme="legacy"``) adds the slow state as it is, on top of feeding it to the gate; v2
    adds it once, through ``slow_in``, a projection initialised at zero, so at the start every token
    is its own embedding and the slow tier's share grows only as training finds it useful.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        v2 = cfg.init_scheme == "hrm"
        self.gate = FusionGate(cfg.d_model, reads_slow=not v2) if cfg.use_fusion_gate else None
        self.slow_in = nn.Linear(cfg.d_model, cfg.d_model, bias=False) if v2 and cfg.use_slow else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_fast_layers))

    def forward(self, x, h, s_tok, key_bias, rope) -> torch.Tensor:  # type: ignore[no-untyped-def]
        # Without the gate this is HRM's additive input injection.
        z = self.gate(x, h, s_tok) if self.gate is not None else x + h
        if self.slow_in is not None:
            z = z + self.slow_in(s_tok)
        elif self.gate is None or self.gate.reads_slow:
            z = z + s_tok
        for block in self.blocks:
            z = block(z, key_bias, rope)
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

    def forward(self, s, h, seed, tok_mask, seg_bias, rope) -> torch.Tensor:  # type: ignore[no-untyped-def]
        # The seed (learned + thread memory) is injected at every update, like HRM's input injection,
        # so it keeps receiving gradient even when only the last step does (grad_mode=one_step).
        u = self.pool_proj(self.pool(h, tok_mask)) + s + seed  # [B, S, D]
        for block in self.blocks:
            u = block(u, seg_bias, rope)
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
    token_evidence: torch.Tensor | None = None  # [B, T, 4] per-token doc evidence logits (attn_max readout)
    segments: list[ModelOutput] = field(default_factory=list, repr=False)


class DocReadout(nn.Module):
    """Per-head document readouts that can see one token (``doc_readout="attn_max"``).

    Head k reads the tokens twice: an attention pool with its own learned query (``keys`` row k scores
    every token; the softmax-weighted mean feeds the head's own two-layer MLP), plus the max over tokens
    of a per-token evidence logit (``evidence``). One outside recipient's destination-class token can
    then decide exposure however long the message is; the evidence logits are also what the dense
    auxiliary loss supervises where the data knows the token-level answer (`losses.evidence_bce`).
    Heads in ``min_heads`` take the min over tokens instead: context is 0 as soon as one value is not
    allowed, however many are.
    """

    def __init__(self, d: int, n_doc: int, min_heads: tuple[int, ...] = ()) -> None:
        super().__init__()
        # +1 for a max head, -1 for a min head: min_t e = -max_t(-e), one reduction for both kinds.
        sign = torch.ones(n_doc)
        sign[list(min_heads)] = -1.0
        self.register_buffer("sign", sign, persistent=False)
        self.keys = nn.Linear(d, n_doc, bias=False)  # [n_doc, D]: one learned query per head
        self.w1 = nn.Parameter(torch.empty(n_doc, d, d))
        self.b1 = nn.Parameter(torch.zeros(n_doc, d))
        self.w2 = nn.Parameter(torch.empty(n_doc, d))
        self.b2 = nn.Parameter(torch.zeros(n_doc))
        self.evidence = nn.Linear(d, n_doc)
        nn.init.normal_(self.w1, std=d**-0.5)
        nn.init.normal_(self.w2, std=d**-0.5)

    def forward(self, feats: torch.Tensor, tok_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """feats [B, T, D], tok_mask [B, T] -> (doc logits [B, n_doc], token evidence logits [B, T, n_doc])."""
        # Each fill takes the lowest value of the tensor it fills: under autocast (bf16 on a GPU) the
        # linear outputs are bf16 while feats may be fp32, and fp32's lowest overflows bf16.
        keys = self.keys(feats)
        scores = keys.masked_fill(~tok_mask[..., None], torch.finfo(keys.dtype).min)  # [B, T, K]
        attn = torch.softmax(scores * feats.shape[-1] ** -0.5, dim=1)
        pooled = torch.einsum("btk,btd->bkd", attn, feats)  # [B, K, D]
        hidden = F.silu(torch.einsum("bkd,kde->bke", pooled, self.w1) + self.b1)
        pooled_logit = (hidden * self.w2).sum(-1) + self.b2  # [B, K]
        evidence = self.evidence(feats)  # [B, T, K]
        signed = evidence * self.sign
        signed = signed.masked_fill(~tok_mask[..., None], torch.finfo(signed.dtype).min)
        return pooled_logit + signed.amax(1) * self.sign, evidence


class HRMDLP(nn.Module):
    """Hierarchical encoder + doc / span / memory heads. See the module docstring for the recurrence."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        v2 = cfg.init_scheme == "hrm"
        self.embed = nn.Embedding(cfg.vocab_size, d)
        # Candidate tags of the deterministic recognizers (BIO ids, 0 = none): added to the token
        # embedding; row 0 is fixed at zero, so a token without a candidate is its embedding alone.
        # + a row for the leetspeak mark, + one for the census-name mark (contract's untyped candidate ids)
        n_cand = (
            NAME_CANDIDATE + 1
            if cfg.name_candidates
            else LEET_CANDIDATE + 1
            if cfg.leet_candidates
            else cfg.n_tags
        )
        self.cand_embed = nn.Embedding(n_cand, d, padding_idx=0) if cfg.use_candidates else None
        self.fast = FastModule(cfg)
        self.slow = SlowModule(cfg) if cfg.use_slow else None
        self.slow_seed = nn.Parameter(torch.randn(d) * 0.02) if cfg.use_slow else None
        self.thread_proj = nn.Linear(cfg.memory_dim, d) if cfg.use_slow and cfg.use_thread_memory else None
        self.h_init = nn.Parameter(torch.zeros(d), requires_grad=False)  # fixed fast-state start, as in HRM
        # v2: the slow state reaches the token features through a zero-initialised projection (v1: added).
        self.slow_out = nn.Linear(d, d, bias=False) if v2 and cfg.use_slow else None
        self.out_norm = RMSNorm(d)
        self.span_head = nn.Linear(d, cfg.n_tags)
        min_heads = (DOC_HEADS.index("context"),) if cfg.context_evidence else ()
        self.readout = DocReadout(d, cfg.n_doc, min_heads) if cfg.doc_readout == "attn_max" else None
        self.doc_head = (
            nn.Sequential(nn.Linear(2 * d, d), nn.SiLU(), nn.Linear(d, cfg.n_doc))
            if self.readout is None
            else None
        )
        self.memory_head = nn.Linear(2 * d, cfg.memory_dim)
        self.probe = nn.Linear(cfg.memory_dim, cfg.n_types + cfg.n_doc)
        self.shuffle_head = nn.Linear(2 * d, 1)
        self.denoise_norm = RMSNorm(d)  # denoise logits reuse the embedding matrix (tied), saving V*D
        if v2:
            self._init_v2()
        else:
            self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        """v1: every Linear and embedding at std 0.02."""
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def _init_v2(self) -> None:
        """HRM-style: Linear weights truncated normal at std 1/sqrt(fan_in) (cut at 2 std), embeddings at
        1/sqrt(D) so that the sqrt(D) scale in `forward` gives unit-RMS inputs, and the slow tier's two
        entries (`FastModule.slow_in`, `slow_out`) and the per-token evidence logits at zero."""
        d = self.cfg.d_model
        for m in self.modules():
            if isinstance(m, nn.Linear):
                std = m.in_features**-0.5
                nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Embedding):
                nn.init.trunc_normal_(m.weight, std=d**-0.5, a=-2 * d**-0.5, b=2 * d**-0.5)
                if m.padding_idx is not None:
                    with torch.no_grad():
                        m.weight[m.padding_idx].zero_()
        # Zero evidence logits at the start: a max over many random token logits would bias every head.
        evidence = self.readout.evidence if self.readout is not None else None
        for zero in (self.fast.slow_in, self.slow_out, evidence):
            if zero is not None:
                nn.init.zeros_(zero.weight)

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
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        memory_seed: torch.Tensor | None = None,
        candidate_ids: torch.Tensor | None = None,
    ) -> ModelOutput:
        """input_ids, attention_mask [B, T] (padding trailing), memory_seed [B, 256] or None, candidate_ids
        [B, T] BIO tag ids of the recognizers' candidates (`hrm_core.tokens.candidates`; None: none)."""
        cfg = self.cfg
        B, T0 = input_ids.shape
        stride = cfg.slow_update_stride
        T = -(-T0 // stride) * stride  # pad up to whole segments; pads are masked everywhere
        ids = F.pad(input_ids, (0, T - T0), value=cfg.pad_id)
        tok_mask = F.pad(attention_mask.bool(), (0, T - T0), value=False)  # [B, T]
        S = T // stride
        seg_mask = tok_mask.view(B, S, stride).any(-1)  # [B, S]
        tok_bias, seg_bias = key_bias(tok_mask), key_bias(seg_mask)  # [B, 1, 1, T], [B, 1, 1, S]
        x = self.embed(ids)  # [B, T, D]
        if self.cand_embed is not None and candidate_ids is not None:
            # The tokenized table stores every mark; a mark this model was not built for reads as none.
            keep = candidate_ids < cfg.n_tags
            if cfg.leet_candidates:
                keep = keep | (candidate_ids == LEET_CANDIDATE)
            if cfg.name_candidates:
                keep = keep | (candidate_ids == NAME_CANDIDATE)
            if not (cfg.leet_candidates and cfg.name_candidates):
                candidate_ids = candidate_ids * keep.to(candidate_ids.dtype)
            x = x + self.cand_embed(F.pad(candidate_ids, (0, T - T0), value=0))
        x = x * math.sqrt(cfg.d_model)
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
            return self.fast(x, h, s_tokens(s), tok_bias, rope_tok)

        def h_step(s: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
            return self.slow(s, h, seed, tok_mask, seg_bias, rope_seg) if self.slow is not None else s

        outputs: list[ModelOutput] = []
        segments, L = cfg.compute(self.training)
        n_steps = cfg.H_cycles * L
        # Steps before `grad_from` run without a graph (HRM's 1-step gradient / TRM's last cycle).
        grad_from = n_steps - 1 if cfg.grad_mode == "one_step" else n_steps - L
        for _ in range(segments):
            h, s = h.detach(), s.detach()  # deep supervision: no gradient flows between segments
            with torch.no_grad():
                for step in range(grad_from):
                    h = l_step(h, s)
                    if step % L == L - 1:
                        s = h_step(s, h)
            for step in range(grad_from, n_steps):
                h = l_step(h, s)
                if step % L == L - 1:
                    s = h_step(s, h)
            outputs.append(self._heads(h, s_tokens(s), tok_mask, T0))
        final = outputs[-1]
        final.segments = outputs
        return final

    def _heads(self, h: torch.Tensor, s_tok: torch.Tensor, tok_mask: torch.Tensor, T0: int) -> ModelOutput:
        slow = s_tok if self.slow_out is None else self.slow_out(s_tok)
        feats = self.out_norm(h + slow)  # [B, T, D]
        m = tok_mask[..., None].to(feats.dtype)
        mean = (feats * m).sum(1) / m.sum(1).clamp(min=1.0)
        mx = feats.masked_fill(m == 0, torch.finfo(feats.dtype).min).amax(1)
        pooled = torch.cat([mean, mx], dim=-1)  # [B, 2D]
        memory = torch.tanh(self.memory_head(pooled))  # [B, 256]
        evidence = None
        if self.readout is not None:
            doc_logits, evidence = self.readout(feats, tok_mask)
            evidence = evidence[:, :T0]
        else:
            doc_logits = self.doc_head(pooled)  # type: ignore[misc]
        feats = feats[:, :T0]
        return ModelOutput(
            doc_logits=doc_logits,
            span_logits=self.span_head(feats),
            memory=memory,
            probe_logits=self.probe(memory),
            shuffle_logit=self.shuffle_head(pooled).squeeze(-1),
            token_features=feats,
            token_evidence=evidence,
        )
