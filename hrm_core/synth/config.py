"""`SynthConfig`: every knob of the synthetic generator's mix in one place."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SynthConfig:
    """Mix of the generated corpus. Rates are probabilities per message (threads count each message).

    positive_rate: messages that carry sensitive content (by the rules in `labels.py`).
    hard_negative_rate: messages with decoys that look sensitive but are not (no spans).
    obfuscation_rate: share of positive messages whose sensitive value is deliberately hidden.
    legit_rate: share of plain positives sent through a legitimate workflow (context = 1).
    external_rate: share of messages with at least one destination outside the organisation.
    thread_share: share of messages that belong to multi-message threads (2..max_thread_len).
    split_thread_rate: share of threads where a value is split across two consecutive messages.
    extra_element_rate: chance a positive carries a second sensitive element.
    """

    channel_mix: dict[str, float] = field(
        default_factory=lambda: {"email": 0.4, "chat": 0.25, "pr": 0.15, "upload": 0.2}
    )
    positive_rate: float = 0.5
    hard_negative_rate: float = 0.2
    obfuscation_rate: float = 0.35
    legit_rate: float = 0.5
    external_rate: float = 0.45
    thread_share: float = 0.2
    max_thread_len: int = 6
    split_thread_rate: float = 0.35
    extra_element_rate: float = 0.3

    def __post_init__(self) -> None:
        rates = (
            "positive_rate",
            "hard_negative_rate",
            "obfuscation_rate",
            "legit_rate",
            "external_rate",
            "thread_share",
            "split_thread_rate",
            "extra_element_rate",
        )
        for name in rates:
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {v}")
        if self.positive_rate + self.hard_negative_rate > 1.0:
            raise ValueError("positive_rate + hard_negative_rate must not exceed 1")
        if not 2 <= self.max_thread_len <= 50:
            raise ValueError(f"max_thread_len must be in [2, 50], got {self.max_thread_len}")
        unknown = set(self.channel_mix) - {"email", "chat", "pr", "upload"}
        if (
            unknown
            or not self.channel_mix
            or min(self.channel_mix.values()) < 0
            or sum(self.channel_mix.values()) <= 0
        ):
            raise ValueError(
                f"channel_mix needs non-negative weights over email/chat/pr/upload, got {self.channel_mix}"
            )
