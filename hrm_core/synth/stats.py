"""`summarize`: the figures a reader checks on a generated corpus (span types, label balance, mix)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from hrm_core.data.contract import CHANNELS, DOC_HEADS, SPAN_TYPES, Example


def summarize(examples: Sequence[Example]) -> dict[str, Any]:
    """Counts and shares over `examples`: spans per type, examples containing each type, label prevalence
    (over examples where the head is labelled), obfuscation, hard-negative and thread shares, channel mix."""
    n = len(examples)
    span_counts: Counter[str] = Counter()
    containing: Counter[str] = Counter()
    positives: Counter[str] = Counter()
    labelled: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    obfuscated = hard = threaded = 0
    for ex in examples:
        types = [s.type for s in ex.spans]
        span_counts.update(types)
        containing.update(set(types))
        channels[ex.channel] += 1
        for head in DOC_HEADS:
            value = getattr(ex.labels, head)
            if value is not None:
                labelled[head] += 1
                positives[head] += value
        meta = ex.meta.model_extra or {}
        obfuscated += bool(meta.get("obfuscations"))
        hard += bool(meta.get("hard_negative"))
        threaded += ex.thread_id is not None

    def share(k: int) -> float:
        return round(k / n, 4) if n else 0.0

    return {
        "n": n,
        "span_counts": {t: span_counts[t] for t in SPAN_TYPES},
        "span_example_share": {t: share(containing[t]) for t in SPAN_TYPES},
        "label_prevalence": {
            h: round(positives[h] / labelled[h], 4) if labelled[h] else None for h in DOC_HEADS
        },
        "obfuscation_share": share(obfuscated),
        "hard_negative_share": share(hard),
        "thread_share": share(threaded),
        "channel_mix": {c: share(channels[c]) for c in CHANNELS},
    }
