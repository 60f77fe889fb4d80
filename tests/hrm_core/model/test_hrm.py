"""HRM-DLP model: shapes, gradient reaching every parameter group, padding invariance."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from hrm_core.model.hrm import HRMDLP, Attention, ModelConfig, apply_rope, key_bias, rope_cos_sin
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
    # cpu-small trains two deep-supervision segments and serves one (arm train_seg1: not adopted).
    assert (small.segments, small.compute(True), small.compute(False)) == (2, (2, 1), (1, 1))
    for preset in (small, big):  # both read the leetspeak and census-name marks (presets.py, the ablation)
        assert (preset.use_candidates, preset.leet_candidates, preset.name_candidates) == (True, True, True)
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


def test_key_bias_attention_equals_the_boolean_key_mask() -> None:
    torch.manual_seed(0)
    attn = Attention(32, 2).eval()
    x = torch.randn(3, 12, 32)
    mask = torch.ones(3, 12, dtype=torch.long)
    mask[1, 5:] = 0
    mask[2, 1:] = 0  # a single real key
    rope = rope_cos_sin(12, 16, 10000.0, x.device)
    bias = key_bias(mask)
    assert bias.shape == (3, 1, 1, 12)
    assert float(bias[1, 0, 0, 4]) == 0.0 and float(bias[1, 0, 0, 5]) == torch.finfo(torch.float32).min
    with torch.no_grad():
        got = attn(x, bias, rope)
        q, k, v = attn.qkv(x).view(3, 12, 3, 2, 16).permute(2, 0, 3, 1, 4)
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask.bool()[:, None, None, :])
        ref = attn.out(ref.transpose(1, 2).reshape(3, 12, 32))
    torch.testing.assert_close(got, ref, atol=1e-6, rtol=0)
    # A row with no real key at all stays finite in fp32 (uniform weights).
    with torch.no_grad():
        assert torch.isfinite(attn(x, key_bias(torch.zeros(3, 12, dtype=torch.long)), rope)).all()


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


# --- model v2: HRM init, per-head readouts, candidate channel ----------------------------------------

V2 = dict(init_scheme="hrm", doc_readout="attn_max", use_candidates=True)


def test_presets_are_v2_and_configs_without_the_knobs_load_as_v1() -> None:
    small = ModelConfig.preset("cpu-small")
    assert (small.init_scheme, small.doc_readout, small.use_candidates) == ("hrm", "attn_max", True)
    old = {k: v for k, v in ModelConfig(**TINY).to_dict().items() if k not in V2}  # a v1 config.json
    cfg = ModelConfig.from_dict(old)
    assert (cfg.init_scheme, cfg.doc_readout, cfg.use_candidates) == ("legacy", "pool", False)
    v1 = HRMDLP(cfg)
    names = set(v1.state_dict())
    assert not any(n.startswith(("readout.", "cand_embed.", "slow_out.", "fast.slow_in.")) for n in names)
    assert v1.fast.gate.w.in_features == 3 * 32  # the v1 gate reads x, h and s


def test_v2_initialisation_scales() -> None:
    torch.manual_seed(0)
    d = 128
    model = HRMDLP(ModelConfig(vocab_size=4000, d_model=d, **V2))
    emb = model.embed.weight * d**0.5
    # Truncated at 2 std, a normal keeps 0.880 of its std: unit-RMS rows after the sqrt(D) scale.
    assert abs(float(emb.pow(2).mean().sqrt()) - 0.880) < 0.01
    qkv = model.fast.blocks[0].attn.qkv.weight
    assert abs(float(qkv.std()) - 0.880 * d**-0.5) < 0.02 * d**-0.5
    assert float(qkv.abs().max()) <= 2 * d**-0.5 + 1e-6
    for zero in (model.fast.slow_in.weight, model.slow_out.weight, model.readout.evidence.weight):
        assert float(zero.abs().max()) == 0.0
    assert float(model.cand_embed.weight[0].abs().max()) == 0.0  # "no candidate" adds nothing
    assert model.fast.gate.w.in_features == 2 * d  # the slow state enters once, through slow_in


def test_v2_every_parameter_learns_after_one_step() -> None:
    # The zero-initialised entries block the slow tier's gradient at step 0 by design; one step opens it.
    torch.manual_seed(0)
    model = HRMDLP(ModelConfig(**TINY, **V2))
    b = _batch()
    g = torch.Generator().manual_seed(1)
    b["candidate_ids"] = torch.randint(0, 21, b["input_ids"].shape, generator=g)
    b["dest_evidence"] = torch.randint(-1, 2, b["input_ids"].shape, generator=g)
    ids, targets = mask_tokens(b["input_ids"], b["attention_mask"], 0.3, model.cfg.mask_id, g)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        out = model(ids, b["attention_mask"], b["memory_seed"], b["candidate_ids"])
        loss, parts = dlp_loss(model, out, {**b, "denoise_targets": targets})
        loss.backward()
        opt.step()
    assert parts["evidence"] > 0
    dead = [
        n
        for n, p in model.named_parameters()
        if p.requires_grad and (p.grad is None or float(p.grad.abs().sum()) == 0)
    ]
    assert dead == []


def test_candidate_channel_zero_is_no_candidate_and_v1_ignores_it() -> None:
    torch.manual_seed(0)
    b = _batch()
    ids, mask = b["input_ids"], b["attention_mask"]
    zeros = torch.zeros_like(ids)
    some = zeros.clone()
    some[0, 3:7] = torch.tensor([5, 6, 6, 6])  # B-PAN I-PAN ...
    v2 = HRMDLP(ModelConfig(**TINY, **V2)).eval()
    v1 = HRMDLP(ModelConfig(**TINY)).eval()
    with torch.no_grad():
        torch.testing.assert_close(
            v2(ids, mask, None, zeros).span_logits, v2(ids, mask).span_logits, atol=0, rtol=0
        )
        moved = (v2(ids, mask, None, some).span_logits - v2(ids, mask).span_logits).abs().amax(-1)
        torch.testing.assert_close(
            v1(ids, mask, None, some).span_logits, v1(ids, mask).span_logits, atol=0, rtol=0
        )
    assert float(moved[0, 3:7].min()) > 1e-3  # the marked tokens see their candidate
    assert float(moved[1:].max()) < 1e-6  # other rows do not


def _train_150_steps(cfg: ModelConfig, batch, head: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Train a fresh model on 150 batches of 16 from ``batch(n)``; a test batch of 200 and its doc logits
    of ``head``."""
    torch.manual_seed(0)
    model = HRMDLP(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    for _ in range(150):
        b = batch(16)
        loss, _ = dlp_loss(model, model(b["input_ids"], b["attention_mask"]), b)
        opt.zero_grad()
        loss.backward()
        opt.step()
    test = batch(200)
    with torch.no_grad():
        return test, model.eval()(test["input_ids"], test["attention_mask"]).doc_logits[:, head]


def test_attn_max_readout_learns_a_one_token_label() -> None:
    """Exposure's shape: the label is whether one token (among 200) is present. v2's per-head readout,
    with the dense evidence label on that token, learns it in 150 steps."""
    from hrm_core.model.metrics import auprc

    cfg = ModelConfig(**{**TINY, "max_len": 256}, **V2, segments=1, H_cycles=1, L_cycles=1)
    g = torch.Generator().manual_seed(0)

    def batch(n: int) -> dict[str, torch.Tensor]:
        ids = torch.randint(3, 60, (n, 200), generator=g)
        y = torch.randint(0, 2, (n,), generator=g)
        pos = torch.randint(0, 200, (n,), generator=g)
        ids[torch.arange(n)[y == 1], pos[y == 1]] = 2  # the evidence token
        evidence = torch.where(ids == 2, 1, -1)
        labels = torch.full((n, 4), -1)
        labels[:, 1] = y
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "doc_labels": labels,
                "bio": torch.full_like(ids, -100), "types_present": torch.full((n, 10), -1),
                "shuffled": torch.zeros(n), "dest_evidence": evidence}  # fmt: skip

    test, scores = _train_150_steps(cfg, batch, head=1)
    assert auprc(test["doc_labels"][:, 1].numpy(), scores.numpy()) > 0.99


def test_context_evidence_reads_a_min_over_tokens_and_needs_the_attn_max_readout() -> None:
    torch.manual_seed(0)
    readout = HRMDLP(ModelConfig(**TINY, **V2, context_evidence=True)).eval().readout
    assert readout.sign.tolist() == [1.0, 1.0, -1.0, 1.0]  # heads in DOC_HEADS order; context is third
    feats = torch.randn(2, 7, 32)
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[1, 5:] = False
    with torch.no_grad():
        readout.evidence.weight.normal_()
        as_min, evidence = readout(feats, mask)
        readout.sign.fill_(1.0)  # the same weights, read through a max everywhere
        as_max, _ = readout(feats, mask)
    torch.testing.assert_close(as_min[:, [0, 1, 3]], as_max[:, [0, 1, 3]])
    for b, n in ((0, 7), (1, 5)):  # padding never reaches either reduction
        ev = evidence[b, :n, 2]
        torch.testing.assert_close(as_max[b, 2] - as_min[b, 2], ev.max() - ev.min())
    assert bool((as_max[:, 2] > as_min[:, 2]).all())
    with pytest.raises(ValueError, match="context_evidence needs doc_readout"):
        ModelConfig(**TINY, context_evidence=True)


def test_min_readout_learns_that_one_value_not_allowed_decides_context() -> None:
    """Context's shape: several values, each allowed or not; one that is not makes the message
    illegitimate. With the min readout and the dense label on the values it learns in 150 steps."""
    from hrm_core.model.losses import evidence_columns
    from hrm_core.model.metrics import auprc

    cfg = ModelConfig(
        **{**TINY, "max_len": 256}, **V2, segments=1, H_cycles=1, L_cycles=1, context_evidence=True
    )
    assert "ctx_evidence" in evidence_columns(cfg) and "ctx_evidence" not in evidence_columns(
        ModelConfig(**TINY, **V2)
    )
    g = torch.Generator().manual_seed(0)

    def batch(n: int) -> dict[str, torch.Tensor]:
        ids = torch.randint(5, 60, (n, 120), generator=g)
        pos = torch.randint(0, 120, (n, 3), generator=g)
        bad = torch.rand(n, generator=g) < 0.5
        ids[torch.arange(n)[:, None], pos] = 2  # three allowed values...
        ids[torch.arange(n)[bad], pos[bad, 0]] = 3  # ...or one of them is not allowed
        evidence = torch.where(ids == 2, 1, torch.where(ids == 3, 0, -1))
        labels = torch.full((n, 4), -1)
        labels[:, 2] = (~bad).long()
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "doc_labels": labels,
                "bio": torch.full_like(ids, -100), "types_present": torch.full((n, 10), -1),
                "shuffled": torch.zeros(n), "ctx_evidence": evidence}  # fmt: skip

    test, scores = _train_150_steps(cfg, batch, head=2)
    y = test["doc_labels"][:, 2].numpy()
    assert auprc(1 - y, -scores.numpy()) > 0.99  # the illegitimate ones come first


def test_inference_runs_the_inference_segments_and_training_all_of_them() -> None:
    torch.manual_seed(0)
    model = HRMDLP(ModelConfig(**TINY, segments=2, infer_segments=1))
    b = _batch()
    assert len(model.train()(b["input_ids"], b["attention_mask"]).segments) == 2
    with torch.no_grad():
        served = model.eval()(b["input_ids"], b["attention_mask"])
        first = model.train()(b["input_ids"], b["attention_mask"]).segments[0]
    assert len(served.segments) == 1
    torch.testing.assert_close(served.doc_logits, first.doc_logits)  # the first training segment, no more
    assert ModelConfig.preset("cpu-small").compute(training=False) == (1, 1)  # one segment, one L cycle


def test_served_at_sets_the_compute_inference_runs_whatever_the_config_serves() -> None:
    cfg = ModelConfig(**TINY, segments=2, infer_segments=1)
    assert cfg.served_at(2, 1, 1).compute(training=False) == (2, 1)  # not the config's one segment
    assert (cfg.served_at(1, 3, 2).compute(training=False), cfg.served_at(1, 3, 2).H_cycles) == ((1, 2), 3)
    with pytest.raises(ValueError, match="must be >= 1"):
        cfg.served_at(0, 2, 1)
    # At inference the carry runs on across segments: 2 segments of one H cycle are one segment of two.
    torch.manual_seed(0)
    model, b = HRMDLP(cfg).eval(), _batch()
    with torch.no_grad():
        model.cfg = cfg.served_at(2, 1, 1)
        two = model(b["input_ids"], b["attention_mask"])
        model.cfg = cfg.served_at(1, 2, 1)
        one = model(b["input_ids"], b["attention_mask"])
        model.cfg = cfg.served_at(1, 1, 1)
        fewer = model(b["input_ids"], b["attention_mask"])
    assert len(two.segments) == 2 and len(one.segments) == 1
    torch.testing.assert_close(two.doc_logits, one.doc_logits)
    torch.testing.assert_close(two.span_logits, one.span_logits)
    assert not torch.allclose(fewer.doc_logits, one.doc_logits)  # one cycle less is another answer


def test_a_step_under_bf16_autocast_runs_and_agrees_with_fp32() -> None:
    # The GPU trains under bf16 autocast, and so may a CPU with bf16 instructions (`trainer.autocast_for`);
    # CPU autocast casts the same linears, so this step stands in for the GPU's. The readout's masked
    # fills once took fp32's lowest value into a bf16 tensor and failed on the first step.
    torch.manual_seed(0)
    model = HRMDLP(ModelConfig.preset("cpu-small", **TINY))  # attention readouts, candidates, v2 init
    b = _batch()  # row 1 is padded: the readouts' masked fills run
    ids, targets = mask_tokens(
        b["input_ids"], b["attention_mask"], 0.3, model.cfg.mask_id, torch.Generator().manual_seed(1)
    )
    cand = torch.zeros_like(ids)
    with torch.no_grad():
        fp32 = model(ids, b["attention_mask"], b["memory_seed"], cand)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(ids, b["attention_mask"], b["memory_seed"], cand)
        loss, parts = dlp_loss(model, out, {**b, "denoise_targets": targets})
    loss.backward()
    assert out.span_logits.dtype == torch.bfloat16 and math.isfinite(parts["total"])
    assert all(p.grad is None or bool(torch.isfinite(p.grad).all()) for p in model.parameters())
    assert float(model.embed.weight.grad.abs().sum()) > 0
    torch.testing.assert_close(out.doc_logits.float(), fp32.doc_logits, atol=0.1, rtol=0.05)


def _unmarked_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Input ids, attention mask and an all-zero candidate channel to place marks in (seeded)."""
    torch.manual_seed(0)
    b = _batch()
    return b["input_ids"], b["attention_mask"], torch.zeros_like(b["input_ids"])


def test_the_leetspeak_mark_reaches_only_a_model_that_reads_it() -> None:
    from hrm_core.tokens.features import LEET_CANDIDATE

    ids, mask, marked = _unmarked_batch()
    marked[0, 3:6] = LEET_CANDIDATE
    plain = HRMDLP(ModelConfig(**TINY, **V2)).eval()
    leet = HRMDLP(ModelConfig(**TINY, **V2, leet_candidates=True)).eval()
    assert leet.cand_embed.num_embeddings == plain.cand_embed.num_embeddings + 1 == LEET_CANDIDATE + 1
    with torch.no_grad():  # a model without the mark reads it as no candidate
        torch.testing.assert_close(plain(ids, mask, None, marked).span_logits, plain(ids, mask).span_logits)
        moved = (leet(ids, mask, None, marked).span_logits - leet(ids, mask).span_logits).abs().amax(-1)
    assert float(moved[0, 3:6].min()) > 1e-3
    assert ModelConfig(**TINY, leet_candidates=True).leet_candidates is False  # no candidate channel


def test_the_census_name_mark_reaches_only_a_model_that_reads_it() -> None:
    from hrm_core.tokens.features import LEET_CANDIDATE, NAME_CANDIDATE

    ids, mask, marked = _unmarked_batch()
    marked[0, 3:6] = NAME_CANDIDATE
    marked[1, 2:4] = LEET_CANDIDATE
    leet = HRMDLP(ModelConfig(**TINY, **V2, leet_candidates=True)).eval()
    named = HRMDLP(ModelConfig(**TINY, **V2, leet_candidates=True, name_candidates=True)).eval()
    only_names = HRMDLP(ModelConfig(**TINY, **V2, name_candidates=True)).eval()
    assert named.cand_embed.num_embeddings == only_names.cand_embed.num_embeddings == NAME_CANDIDATE + 1
    leet_only = marked * (marked == LEET_CANDIDATE)
    names_only = marked * (marked == NAME_CANDIDATE)
    with torch.no_grad():  # each model reads the marks it was built for, the other as no candidate
        torch.testing.assert_close(
            leet(ids, mask, None, marked).span_logits, leet(ids, mask, None, leet_only).span_logits
        )
        torch.testing.assert_close(
            only_names(ids, mask, None, marked).span_logits,
            only_names(ids, mask, None, names_only).span_logits,
        )
        moved = (named(ids, mask, None, marked).span_logits - named(ids, mask).span_logits).abs().amax(-1)
    assert float(moved[0, 3:6].min()) > 1e-3 and float(moved[1, 2:4].min()) > 1e-3
    assert ModelConfig(**TINY, name_candidates=True).name_candidates is False  # no candidate channel
