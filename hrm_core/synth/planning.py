"""Choosing a message's plan, sender role and destinations so that its intended labels are known up front.

Positives are built one of three ways: obfuscated (context 0), through a legitimate workflow of
`labels.WORKFLOWS` (context 1), or deliberately breaking one (a role without that workflow, a
destination the workflow does not allow, or a secret in a pull request / upload; context 0).
"""

from __future__ import annotations

import functools
import random

from hrm_core.data.contract import ROLES
from hrm_core.data.workflows import CODE_FREE_CHANNELS, CODE_FREE_TYPES, INTERNAL, WORKFLOWS
from hrm_core.synth.config import SynthConfig
from hrm_core.synth.destinations import CHANNEL_CLASSES
from hrm_core.synth.hard_negatives import KINDS as HARD_NEGATIVE_KINDS
from hrm_core.synth.scenarios import ELEMENTS, LABEL_ELEMENT, OBFUSCATIONS_FOR, Plan


def random_classes(rng: random.Random, cfg: SynthConfig, channel: str) -> list[str]:
    """Destination classes with no workflow in mind: internal, or an outside class (sometimes with an internal cc)."""
    if rng.random() >= cfg.external_rate:
        return [INTERNAL]
    outside = rng.choice(CHANNEL_CLASSES[channel][1:])
    return [outside, INTERNAL] if rng.random() < 0.3 else [outside]


@functools.lru_cache(maxsize=4096)  # few distinct (role, channel, elements) combinations
def _allowed(role: str, channel: str, label_elements: frozenset[str]) -> frozenset[str] | None:
    """Destination classes where `role` may send all of `label_elements` on `channel`; None if nowhere."""
    workflows = WORKFLOWS[role]
    if not all(e in workflows for e in label_elements):
        return None
    if channel not in CODE_FREE_CHANNELS and label_elements & CODE_FREE_TYPES:
        return None
    allowed = frozenset(CHANNEL_CLASSES[channel])
    for e in label_elements:
        allowed &= workflows[e]
    return allowed or None


def plan_positive(rng: random.Random, cfg: SynthConfig, channel: str) -> tuple[Plan, str, list[str], int]:
    """A positive plan with its sender role, destination classes and intended context label."""
    elements = [rng.choice(ELEMENTS)]
    if rng.random() < cfg.extra_element_rate:
        elements.append(rng.choice([e for e in ELEMENTS if e != elements[0]]))
    label_elements = frozenset(LABEL_ELEMENT[e] for e in elements)
    if rng.random() < cfg.obfuscation_rate:
        plan = Plan("positive", elements, obfuscation=rng.choice(OBFUSCATIONS_FOR[elements[0]]))
        return plan, rng.choice(ROLES), random_classes(rng, cfg, channel), 0
    plan = Plan("positive", elements)
    capable = [(r, a) for r in ROLES if (a := _allowed(r, channel, label_elements)) is not None]
    if capable and rng.random() < cfg.legit_rate:
        role, allowed = rng.choice(capable)
        outside = sorted(allowed - {INTERNAL})
        if outside and rng.random() < cfg.external_rate:
            classes = [rng.choice(outside)] + (
                [INTERNAL] if INTERNAL in allowed and rng.random() < 0.3 else []
            )
        else:
            classes = [INTERNAL] if INTERNAL in allowed else [rng.choice(outside)]
        return plan, role, classes, 1
    # Break the workflow on purpose: a destination it does not allow, or a role that has no such workflow.
    if capable and rng.random() < 0.5:
        role, allowed = rng.choice(capable)
        bad = [c for c in CHANNEL_CLASSES[channel] if c not in allowed]
        if bad:
            classes = [rng.choice(bad)] + ([INTERNAL] if rng.random() < 0.3 else [])
            return plan, role, classes, 0
    roles = [r for r in ROLES if _allowed(r, channel, label_elements) is None]
    if not roles:  # every role could send it somewhere on this channel: break it by destination instead
        role = rng.choice(ROLES)
        allowed = _allowed(role, channel, label_elements) or frozenset()
        return plan, role, [rng.choice([c for c in CHANNEL_CLASSES[channel] if c not in allowed])], 0
    return plan, rng.choice(roles), random_classes(rng, cfg, channel), 0


def plan_for_role(
    rng: random.Random, role: str, channel: str, classes: list[str], legit: bool
) -> tuple[Plan, int] | None:
    """A one-element positive plan for a fixed sender and destination (thread follow-ups); None if impossible."""
    fits = []
    for e in ELEMENTS:
        allowed = _allowed(role, channel, frozenset((LABEL_ELEMENT[e],)))
        ok = allowed is not None and set(classes) <= allowed
        if ok == legit:
            fits.append(e)
    if not fits:
        return None
    return Plan("positive", [rng.choice(fits)]), int(legit)


def plan_negative(rng: random.Random, hard: bool) -> Plan:
    """A negative plan; a hard negative carries one or two decoy kinds and no span."""
    if not hard:
        return Plan("negative")
    return Plan("hard_negative", decoys=rng.sample(HARD_NEGATIVE_KINDS, rng.choice((1, 1, 2))))
