"""DLP losses against closed-form values; null labels are masked out."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hrm_core.model.hrm import HRMDLP, ModelConfig
from hrm_core.model.losses import (
    allowed_partial_tags,
    bio_ce,
    denoise_ce,
    dlp_loss,
    doc_bce,
    evidence_bce,
    mask_tokens,
    probe_bce,
    shuffle_bce,
)
from hrm_core.model.train_data import load_tokenized, synthetic_table
from hrm_core.model.trainer import TrainConfig, training_batch
from hrm_core.tokens.features import PARTIAL_O


def test_doc_bce_label_smoothing_and_null_mask() -> None:
    logits = torch.tensor([[0.0, 2.0, 5.0, -3.0]])
    labels = torch.tensor([[1, 0, -1, -1]])  # two null heads
    # Smoothed targets: 1 -> 0.975, 0 -> 0.025.
    expected = (-(0.975 * math.log(0.5) + 0.025 * math.log(0.5)) + (-(0.025 * math.log(1 / (1 + math.exp(-2.0))) + 0.975 * math.log(1 - 1 / (1 + math.exp(-2.0)))))) / 2  # fmt: skip
    assert abs(float(doc_bce(logits, labels, 0.05)) - expected) < 1e-6
    # Changing a null head's logit changes nothing.
    logits2 = logits.clone()
    logits2[0, 2] = -100.0
    assert float(doc_bce(logits2, labels)) == float(doc_bce(logits, labels))


def test_doc_head_weights_scale_each_heads_terms() -> None:
    logits = torch.tensor([[0.0, 2.0, 5.0, -3.0]])
    labels = torch.tensor([[1, 0, 1, 1]])
    per = [float(doc_bce(logits[:, [h]], labels[:, [h]], 0.0)) for h in range(4)]
    weighted = float(doc_bce(logits, labels, 0.0, (1.0, 1.0, 1.0, 3.0)))
    assert weighted == pytest.approx((per[0] + per[1] + per[2] + 3 * per[3]) / 4, rel=1e-6)
    assert float(doc_bce(logits, labels, 0.0, (1.0,) * 4)) == pytest.approx(sum(per) / 4, rel=1e-6)
    with pytest.raises(ValueError, match="doc_head_weights needs 4"):
        ModelConfig(doc_head_weights=(1.0, 3.0))
    assert ModelConfig.from_dict(ModelConfig(doc_head_weights=[1, 1, 1, 3]).to_dict()).doc_head_weights == (
        1.0, 1.0, 1.0, 3.0,
    )  # fmt: skip


def test_all_null_labels_give_zero_loss_with_graph() -> None:
    logits = torch.randn(2, 4, requires_grad=True)
    loss = doc_bce(logits, torch.full((2, 4), -1))
    assert float(loss.detach()) == 0.0
    loss.backward()  # still differentiable (DDP needs every rank to backward)
    assert float(logits.grad.abs().sum()) == 0.0


def test_bio_ce_ignores_negative_tags() -> None:
    logits = torch.zeros(1, 3, 21)
    logits[0, 0, 5] = 10.0
    tags = torch.tensor([[5, -100, -1]])
    expected = -math.log(math.exp(10) / (math.exp(10) + 20))
    assert abs(float(bio_ce(logits, tags)) - expected) < 1e-5


def test_probe_and_shuffle() -> None:
    probe_logits = torch.zeros(1, 14)
    types = torch.tensor([[1] + [-1] * 9])
    doc = torch.tensor([[0, -1, -1, -1]])
    assert abs(float(probe_bce(probe_logits, types, doc)) - math.log(2)) < 1e-6
    assert abs(float(shuffle_bce(torch.tensor([0.0, 0.0]), torch.tensor([0, 1]))) - math.log(2)) < 1e-6


def test_mask_tokens_rate_and_targets() -> None:
    ids = torch.randint(1, 50, (8, 500))
    attn = torch.ones_like(ids)
    attn[:, 400:] = 0
    masked, targets = mask_tokens(ids, attn, 0.15, 99, torch.Generator().manual_seed(0))
    chosen = masked == 99
    assert abs(float(chosen[:, :400].float().mean()) - 0.15) < 0.02
    assert not bool(chosen[:, 400:].any())  # padding is never masked
    assert torch.equal(targets[chosen], ids[chosen])
    assert bool((targets[~chosen] == -100).all())


def _two_row_batch(denoise_targets: torch.Tensor) -> dict[str, torch.Tensor]:
    """Labels for two rows of 12 tokens, with the given denoise targets."""
    return {
        "doc_labels": torch.tensor([[1, 0, 1, 0], [0, 0, -1, 1]]),
        "bio": torch.zeros(2, 12, dtype=torch.long),
        "types_present": torch.zeros(2, 10, dtype=torch.long),
        "shuffled": torch.tensor([1, 0]),
        "denoise_targets": denoise_targets,
    }


def test_dlp_loss_weights_and_segments() -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=32, d_model=16, n_heads=2, n_fast_layers=1, slow_update_stride=4, segments=2)
    model = HRMDLP(cfg)
    ids = torch.randint(1, 30, (2, 12))
    attn = torch.ones_like(ids)
    masked, targets = mask_tokens(ids, attn, 0.5, cfg.mask_id, torch.Generator().manual_seed(0))
    batch = _two_row_batch(targets)
    out = model(masked, attn)
    loss, parts = dlp_loss(model, out, batch)
    assert abs(parts["total"] - sum(parts[k] for k in ("doc", "bio", "probe", "shuffle", "denoise"))) < 1e-5
    # Near-uniform init: the shuffle term is about 0.2 * ln 2, the denoise term about 0.3 * ln V.
    assert abs(parts["shuffle"] - 0.2 * math.log(2)) < 0.02
    assert abs(parts["denoise"] - 0.3 * math.log(32)) < 0.15
    # Averaged over segments: equals the mean of per-segment single losses.
    singles = [
        dlp_loss(model, seg.__class__(**{**seg.__dict__, "segments": []}), batch)[0] for seg in out.segments
    ]
    assert abs(float(loss) - float(sum(singles)) / 2) < 1e-5


def test_denoise_on_the_first_segment_only_keeps_its_weight_and_skips_the_others() -> None:
    torch.manual_seed(0)
    base = dict(vocab_size=32, d_model=16, n_heads=2, n_fast_layers=1, slow_update_stride=4, segments=2)
    model = HRMDLP(ModelConfig(**base))
    ids = torch.randint(1, 30, (2, 12))
    attn = torch.ones_like(ids)
    masked, targets = mask_tokens(ids, attn, 0.5, model.cfg.mask_id, torch.Generator().manual_seed(0))
    out = model(masked, attn)
    first = denoise_ce(model, out.segments[0].token_features, targets)
    second = denoise_ce(model, out.segments[1].token_features, targets)
    assert abs(float(first) - float(second)) > 1e-4  # the two segments' features differ
    batch = _two_row_batch(targets)
    _, every = dlp_loss(model, out, batch)
    assert abs(every["denoise"] - 0.3 * (float(first) + float(second)) / 2) < 1e-5
    model.cfg.denoise_segments = 1
    _, one = dlp_loss(model, out, batch)
    assert abs(one["denoise"] - 0.3 * float(first)) < 1e-5  # the first segment's, at the whole weight
    assert {k: v for k, v in one.items() if k not in ("denoise", "total")} == {
        k: v for k, v in every.items() if k not in ("denoise", "total")
    }
    model.cfg.denoise_segments = 5  # more than the model runs: every segment
    assert abs(dlp_loss(model, out, batch)[1]["denoise"] - every["denoise"]) < 1e-6


def test_partial_o_scores_the_set_of_tags_the_row_allows() -> None:
    # Row annotates every type but PAN (index 2) and NAME (index 8): a PARTIAL_O token may be O, B/I-PAN
    # or B/I-NAME, 5 of 21 tags; with uniform logits its loss is log(21 / 5), a plain O token's log(21).
    types_present = torch.tensor([[1, 0, -1, 0, 0, 0, 0, 0, -1, 0]])
    allowed = allowed_partial_tags(types_present, 21)[0]
    assert allowed.nonzero().flatten().tolist() == [0, 5, 6, 17, 18]
    logits = torch.zeros(1, 3, 21)
    tags = torch.tensor([[PARTIAL_O, 0, -100]])
    expected = (math.log(21 / 5) + math.log(21)) / 2
    assert abs(float(bio_ce(logits, tags, types_present)) - expected) < 1e-6
    # With weight w the not-annotated tags count w each: uniform logits give log(21 / (1 + 4w)).
    one = torch.tensor([[PARTIAL_O, -100, -100]])
    assert abs(float(bio_ce(logits, one, types_present, 0.1)) - math.log(21 / 1.4)) < 1e-5
    # Putting the mass on B-NAME costs a PARTIAL_O token nothing more; on B-EMAIL it does.
    name, email = logits.clone(), logits.clone()
    name[0, 0, 17], email[0, 0, 1] = 20.0, 20.0
    only = torch.tensor([[PARTIAL_O, -100, -100]])
    assert float(bio_ce(name, only, types_present)) < 1e-6
    assert float(bio_ce(email, only, types_present)) > 15.0


def test_evidence_bce_reads_one_head_where_labelled() -> None:
    ev = torch.zeros(1, 3, 4)
    ev[0, :, 1] = torch.tensor([10.0, -10.0, 3.0])
    labels = torch.tensor([[1, 0, -1]])
    assert float(evidence_bce(ev, labels, head=1)) < 1e-4  # both labelled tokens right, the third unread
    assert abs(float(evidence_bce(ev, labels, head=0)) - math.log(2)) < 1e-6


def test_mask_tokens_target_share_scores_a_share_of_the_same_masks() -> None:
    ids = torch.randint(1, 50, (32, 500))
    attn = torch.ones_like(ids)
    attn[:, 400:] = 0
    every = mask_tokens(ids, attn, 0.15, 99, torch.Generator().manual_seed(3))
    whole_share = mask_tokens(ids, attn, 0.15, 99, torch.Generator().manual_seed(3), 1.0)
    assert all(torch.equal(a, b) for a, b in zip(every, whole_share, strict=True))  # share 1: no second draw
    masked, targets = mask_tokens(ids, attn, 0.15, 99, torch.Generator().manual_seed(3), 0.25)
    assert torch.equal(masked, every[0])  # the input is corrupted exactly as much
    scored = targets != -100
    chosen = every[1] != -100
    assert not bool((scored & ~chosen).any())  # only masked tokens are scored ...
    assert torch.equal(targets[scored], ids[scored])  # ... against their original ids
    share = float(scored.sum()) / float(chosen.sum())  # about 1,900 masked tokens: sd of the share ~0.01
    assert abs(share - 0.25) < 0.04, share
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="target_share"):
            mask_tokens(ids, attn, 0.15, 99, torch.Generator().manual_seed(3), bad)
    with pytest.raises(ValueError, match="denoise_target_share"):
        ModelConfig(denoise_target_share=0.0)


def test_the_trainer_masks_with_the_models_denoise_target_share() -> None:
    ds = load_tokenized(synthetic_table(24, vocab_size=64, max_tokens=200, seed=1))
    rows = list(ds.rows("train")[:8])
    tcfg = TrainConfig()

    def batch(share: float) -> dict[str, torch.Tensor]:
        cfg = ModelConfig(
            vocab_size=64, d_model=16, n_heads=2, slow_update_stride=4, denoise_target_share=share
        )
        rng = np.random.default_rng([0, 0, 0, 0])
        return training_batch(ds, rows, 256, rng, {}, cfg, tcfg, torch.device("cpu"))

    every, fewer = batch(1.0), batch(0.25)
    assert torch.equal(every["input_ids"], fewer["input_ids"])
    n_every, n_fewer = int((every["denoise_targets"] >= 0).sum()), int((fewer["denoise_targets"] >= 0).sum())
    assert n_every > 100 and 0 < n_fewer < 0.5 * n_every
