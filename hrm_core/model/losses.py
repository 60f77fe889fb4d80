"""Multi-task DLP loss (seed 002 §5): BCE(doc) + CE(BIO) + 0.3·denoise + 0.2·shuffle + probe.

Null labels are masked out everywhere: a doc label of -1 (the source does not label that head), a BIO
tag of -100 (ignore) and an unknown `types_present` entry (-1) contribute nothing. A BIO tag of -2
(`PARTIAL_O`: a token of a partially annotated row outside its labelled spans) is a set label: "O or
a tag of a type this row does not annotate", scored as -log of the probability of that set. With
``token_evidence`` (the attn_max readout), per-token evidence logits are supervised where the data knows
the answer (`EVIDENCE_LABELS`): exposure on destination-class tokens (`features.destination_evidence`),
obfuscation on the hidden value vs the plainly shown ones (`features.obfuscation_evidence`), and, when
the model reads context through a min over tokens (``ModelConfig.context_evidence``), context on the
values that make a message sensitive: allowed for this sender and destination or not
(`features.context_evidence`). Deep
supervision averages the loss over every segment's outputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from hrm_core.data.contract import DOC_HEADS
from hrm_core.model.hrm import HRMDLP, ModelConfig, ModelOutput
from hrm_core.tokens.features import PARTIAL_O


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # `values * 0` keeps the graph connected when nothing is labelled, so DDP and backward still work.
    if not bool(mask.any()):
        return (values * 0).sum()
    return values[mask].mean()


def doc_bce(
    doc_logits: torch.Tensor,
    labels: torch.Tensor,
    smoothing: float = 0.05,
    head_weights: Sequence[float] = (),
) -> torch.Tensor:
    """BCE over doc heads [B, H] with label smoothing; labels -1 are null and masked out. ``head_weights``
    (one per head; empty: all 1) scale each head's terms before the mean over labelled entries."""
    mask = labels >= 0
    target = labels.clamp(min=0).float() * (1 - smoothing) + 0.5 * smoothing
    per = F.binary_cross_entropy_with_logits(doc_logits.float(), target, reduction="none")
    if head_weights:
        per = per * torch.tensor(head_weights, dtype=per.dtype, device=per.device)
    return _masked_mean(per, mask)


def allowed_partial_tags(types_present: torch.Tensor, n_tags: int) -> torch.Tensor:
    """[B, n_tags] bool: the tags a `PARTIAL_O` token of each row may take: O, and B-/I- of every type
    the row does not annotate (``types_present == -1``)."""
    unannotated = types_present < 0  # [B, n_types]
    return torch.cat([torch.ones_like(unannotated[:, :1]), unannotated.repeat_interleave(2, dim=1)], 1)[
        :, :n_tags
    ]


def bio_ce(
    span_logits: torch.Tensor,
    tags: torch.Tensor,
    types_present: torch.Tensor | None = None,
    partial_weight: float = 1.0,
) -> torch.Tensor:
    """Token CE [B, T, n_tags] vs tags [B, T]; -100 is masked out; -2 (`PARTIAL_O`) scores the set of
    tags the row allows there (`allowed_partial_tags`; needs ``types_present`` [B, n_types]):
    -log(p(O) + w * p(an allowed non-O tag)) with w = ``partial_weight``. w = 1 is the plain set label;
    w < 1 says an unlabelled token is more likely O than a value nobody annotated (names are rare among
    the tokens of running text), so the set label does not make every capitalised word a free NAME."""
    logits = span_logits.float()
    per = F.cross_entropy(logits.flatten(0, 1), tags.clamp(min=0).long().flatten(), reduction="none").view_as(
        tags
    )
    mask = tags >= 0
    if types_present is not None and bool((tags == PARTIAL_O).any()):
        allowed = allowed_partial_tags(types_present, logits.shape[-1])[:, None, :]  # [B, 1, n_tags]
        log_z = torch.logsumexp(logits, -1)
        bonus = torch.zeros_like(allowed, dtype=logits.dtype)
        bonus[..., 1:] = math.log(partial_weight) if partial_weight > 0 else torch.finfo(logits.dtype).min
        log_allowed = torch.logsumexp(
            (logits + bonus).masked_fill(~allowed, torch.finfo(logits.dtype).min), -1
        )
        partial = tags == PARTIAL_O
        per = torch.where(partial, log_z - log_allowed, per)
        mask = mask | partial
    return _masked_mean(per, mask)


# Per-token evidence labels (batch column -> the doc head whose evidence logits they supervise).
EVIDENCE_LABELS = {"dest_evidence": "exposure", "obf_evidence": "obfuscation", "ctx_evidence": "context"}


def evidence_columns(cfg: ModelConfig) -> dict[str, str]:
    """The `EVIDENCE_LABELS` a model is trained on: context only when it reads its evidence through a min
    (a max would let one allowed value outvote the one that is not)."""
    return {c: h for c, h in EVIDENCE_LABELS.items() if h != "context" or cfg.context_evidence}


def evidence_bce(token_evidence: torch.Tensor, labels: torch.Tensor, head: int) -> torch.Tensor:
    """BCE of the per-token evidence logits of doc head ``head`` [B, T] vs labels [B, T] (-1: none)."""
    logits = token_evidence[..., head].float()
    per = F.binary_cross_entropy_with_logits(logits, labels.clamp(min=0).float(), reduction="none")
    return _masked_mean(per, labels >= 0)


def probe_bce(
    probe_logits: torch.Tensor, types_present: torch.Tensor, doc_labels: torch.Tensor
) -> torch.Tensor:
    """The memory probe predicts [span types present ‖ doc labels] from the 256-d memory vector."""
    target = torch.cat([types_present, doc_labels], dim=-1)  # [B, 10 + 4]
    per = F.binary_cross_entropy_with_logits(
        probe_logits.float(), target.clamp(min=0).float(), reduction="none"
    )
    return _masked_mean(per, target >= 0)


def shuffle_bce(shuffle_logit: torch.Tensor, shuffled: torch.Tensor) -> torch.Tensor:
    """Section-shuffle detection: was the DSL section order permuted?"""
    return F.binary_cross_entropy_with_logits(shuffle_logit.float(), shuffled.float())


def denoise_ce(model: HRMDLP, token_features: torch.Tensor, denoise_targets: torch.Tensor) -> torch.Tensor:
    """Predict the original id at masked positions (targets -100 elsewhere); logits only where masked."""
    mask = denoise_targets >= 0  # [B, T]
    if not bool(mask.any()):
        return (token_features * 0).sum()
    logits = model.denoise_logits(token_features[mask])  # [N, V]
    return F.cross_entropy(logits.float(), denoise_targets[mask].long())


def mask_tokens(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    prob: float,
    mask_id: int,
    generator: torch.Generator,
    target_share: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace `prob` of the real tokens by `mask_id`; returns (masked ids, targets with -100 elsewhere).

    With ``target_share`` < 1 only that share of the masked tokens, drawn at random, become targets: the
    input is corrupted as much, the denoise loss (logits over the whole vocabulary) is computed on fewer
    positions (`ModelConfig.denoise_target_share`). At 1 no second draw is made, so the masks and targets
    are the ones the same generator always gave."""
    if not 0.0 < target_share <= 1.0:
        raise ValueError(f"target_share must be in (0, 1], got {target_share}")
    draw = torch.rand(input_ids.shape, generator=generator, device="cpu").to(input_ids.device)
    chosen = (draw < prob) & attention_mask.bool()
    masked = input_ids.masked_fill(chosen, mask_id)
    scored = chosen
    if target_share < 1.0:
        keep = torch.rand(input_ids.shape, generator=generator, device="cpu").to(input_ids.device)
        scored = chosen & (keep < target_share)
    targets = input_ids.masked_fill(~scored, -100)
    return masked, targets


def dlp_loss(
    model: HRMDLP, out: ModelOutput, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, dict[str, float]]:
    """Total loss averaged over deep-supervision segments, and its parts (floats, for logging).

    `batch` keys: doc_labels [B,4], bio [B,T], types_present [B,10], shuffled [B], and optionally
    denoise_targets [B,T] (from `mask_tokens`) and dest_evidence [B,T] (-1 where unlabelled).
    """
    cfg = model.cfg
    segments = out.segments or [out]
    total = torch.zeros((), device=out.doc_logits.device)
    parts: dict[str, float] = {
        "doc": 0.0, "bio": 0.0, "probe": 0.0, "shuffle": 0.0, "denoise": 0.0, "evidence": 0.0,
    }  # fmt: skip
    # The denoise term is averaged over the segments that compute it (`ModelConfig.denoise_segments`).
    n_denoise = min(cfg.denoise_segments or len(segments), len(segments))
    for i, seg in enumerate(segments):
        terms = {
            "doc": doc_bce(
                seg.doc_logits, batch["doc_labels"], cfg.doc_label_smoothing, cfg.doc_head_weights
            ),
            "bio": bio_ce(seg.span_logits, batch["bio"], batch["types_present"], cfg.partial_o_weight),
            "probe": cfg.probe_weight
            * probe_bce(seg.probe_logits, batch["types_present"], batch["doc_labels"]),
            "shuffle": cfg.shuffle_weight * shuffle_bce(seg.shuffle_logit, batch["shuffled"]),
        }
        if seg.token_evidence is not None:
            evidence = [
                evidence_bce(seg.token_evidence, batch[column], DOC_HEADS.index(head))
                for column, head in evidence_columns(cfg).items()
                if column in batch
            ]
            if evidence:
                terms["evidence"] = cfg.evidence_weight * torch.stack(evidence).sum()
        if "denoise_targets" in batch and i < n_denoise:
            terms["denoise"] = (
                (len(segments) / n_denoise)
                * cfg.denoise_weight
                * denoise_ce(model, seg.token_features, batch["denoise_targets"])
            )
        for k, v in terms.items():
            total = total + v / len(segments)
            parts[k] += float(v.detach()) / len(segments)
    parts["total"] = float(total.detach())
    return total, parts
