"""The synthetic DLP example generator: `generate_examples(n, seed, config)` and `write_jsonl`.

Each message is planned first (`planning.py`: what it carries, who sends it, where it goes, and its
intended labels), then rendered (`scenarios.py`) and validated through the data contract. Threads
share participants and topic; some split a card number, SSN or secret across two consecutive
messages ("here is the second half"), so the second message is only understandable with memory of
the first. One `random.Random(seed)` stream drives everything: same n and seed, same bytes.
"""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hrm_core.data.contract import ROLES, SENIORITIES, Example
from hrm_core.data.workflows import INTERNAL
from hrm_core.synth import people
from hrm_core.synth import values as v
from hrm_core.synth.config import SynthConfig
from hrm_core.synth.destinations import destinations
from hrm_core.synth.domains import ORG_DOMAINS
from hrm_core.synth.planning import plan_for_role, plan_negative, plan_positive, random_classes
from hrm_core.synth.scenarios import Plan, render_message, subject_for

_DEPTS: dict[str, tuple[str, ...]] = {
    "LEGAL": ("Legal", "Corporate Legal", "IP & Licensing"),
    "FINANCE": ("Finance", "Accounts Payable", "Treasury"),
    "HR": ("People", "HR Operations", "Payroll"),
    "ENG": ("Platform", "Backend", "Data Engineering", "Mobile"),
    "SECURITY": ("Security", "SecOps", "GRC"),
    "SALES": ("Sales", "Enterprise Sales", "Partnerships"),
    "SUPPORT": ("Support", "Customer Success"),
    "EXEC": ("Office of the CEO", "Leadership"),
    "OTHER": ("Facilities", "Marketing", "Operations"),
}
_MIMES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "txt": "text/plain",
    "pdf": "application/pdf",
}
_SPLIT_TYPES = ("PAN", "SSN", "SECRET")
_LABEL_ORDER = ("sensitivity", "exposure", "context", "obfuscation")


class _Sender:
    """Who sends, from which organisation, to which destination classes, on which channel."""

    __slots__ = ("channel", "classes", "links", "names", "org", "recipients", "role", "user")

    def __init__(self, rng: random.Random, role: str, channel: str, classes: list[str]) -> None:
        self.role, self.channel, self.classes = role, channel, classes
        self.org = rng.choice(ORG_DOMAINS)
        seniority = rng.choice(SENIORITIES[:3]) if role != "EXEC" else "EXEC"
        self.user = {"role": role, "dept": rng.choice(_DEPTS[role]), "seniority": seniority}
        self.recipients, self.links = destinations(rng, channel, self.org, classes)
        self.names = (rng.choice(people.FIRST_NAMES), people.person_name(rng))  # addressee, signature


def _attachments(rng: random.Random, channel: str, subject: str) -> list[dict[str, Any]]:
    if channel == "upload":
        name = subject
    elif channel == "email" and rng.random() < 0.25:
        name = rng.choice(("notes.pdf", "summary.docx", "figures.xlsx", "list.csv"))
    else:
        return []
    return [{"name": name, "mime": _MIMES[name.rsplit(".", 1)[1]], "size": rng.randrange(2_000, 4_000_000)}]


def _row(rng: random.Random, sender: _Sender, plan: Plan, context: int, subject: str) -> dict[str, Any]:
    """One contract-shaped dict (without id) with its intended labels."""
    body, spans, hidden_index = render_message(
        plan, sender.role, sender.channel, sender.org, sender.names, rng
    )
    obfuscations = [plan.obfuscation] if plan.obfuscation else []
    if plan.split is not None:
        obfuscations.append("split_across_messages")
    sensitive = plan.kind == "positive"
    meta: dict[str, Any] = {
        "org_domains": [sender.org],
        "source": "synthetic",
        "scenario": plan.kind,
        "elements": list(plan.elements),
        "obfuscations": obfuscations,
        "obfuscated_span": hidden_index,
        "hard_negative": plan.kind == "hard_negative",
        "hard_negative_kinds": list(plan.decoys),
    }
    return {
        "channel": sender.channel,
        "user": sender.user,
        "recipients": sender.recipients,
        "subject": subject,
        "body": body,
        "attachments": _attachments(rng, sender.channel, subject),
        "links": sender.links,
        "labels": {
            "sensitivity": int(sensitive),
            "exposure": int(any(c != INTERNAL for c in sender.classes)),
            "context": context if sensitive and not obfuscations else int(not sensitive),
            "obfuscation": int(bool(obfuscations)),
        },
        "spans": spans,
        "meta": meta,
    }


def _single(rng: random.Random, cfg: SynthConfig, channel: str) -> dict[str, Any]:
    u = rng.random()
    if u < cfg.positive_rate:
        plan, role, classes, context = plan_positive(rng, cfg, channel)
    else:
        plan, role, classes, context = (
            plan_negative(rng, u < cfg.positive_rate + cfg.hard_negative_rate),
            rng.choice(ROLES),
            random_classes(rng, cfg, channel),
            1,
        )
    sender = _Sender(rng, role, channel, classes)
    return _row(rng, sender, plan, context, subject_for(role, channel, rng))


def _split_fragments(rng: random.Random, span_type: str, org: str) -> tuple[str, str]:
    """A value cut in two visible halves (card groups, SSN area-group / serial, secret halves)."""
    if span_type == "PAN":
        grouped = v.group_digits(v.card_digits(rng), " ").split(" ")
        cut = len(grouped) // 2
        return " ".join(grouped[:cut]), " ".join(grouped[cut:])
    if span_type == "SSN":
        d = v.ssn_digits(rng)
        return f"{d[:3]}-{d[3:5]}", d[5:]
    key = v.secret(rng)
    while "\n" in key:  # PEM blocks are split by line already; keep one-line keys for this case
        key = v.secret(rng)
    cut = len(key) // 2
    return key[:cut], key[cut:]


def _thread(rng: random.Random, cfg: SynthConfig, channel: str, k: int) -> list[dict[str, Any]]:
    """k messages with one sender, destination and topic; maybe a value split over two of them."""
    channel = "email" if channel == "upload" else channel  # uploads are not conversations
    role = rng.choice(ROLES)
    sender = _Sender(rng, role, channel, random_classes(rng, cfg, channel))
    subject = subject_for(role, channel, rng)
    split_at = rng.randrange(k - 1) if rng.random() < cfg.split_thread_rate else -1
    if split_at >= 0:
        split_type = rng.choice(_SPLIT_TYPES)
        halves = _split_fragments(rng, split_type, sender.org)
    rows = []
    for i in range(k):
        reply_subject = subject if i == 0 or channel != "email" else f"Re: {subject}"
        if split_at >= 0 and i in (split_at, split_at + 1):
            part = i - split_at + 1
            plan, context = Plan("positive", split=(split_type, part, halves[part - 1])), 0
        elif rng.random() < cfg.positive_rate:
            chosen = plan_for_role(rng, role, channel, sender.classes, rng.random() < cfg.legit_rate)
            chosen = chosen or plan_for_role(rng, role, channel, sender.classes, False)
            plan, context = chosen if chosen else (plan_negative(rng, False), 1)
        else:
            plan, context = plan_negative(rng, rng.random() < cfg.hard_negative_rate), 1
        row = _row(rng, sender, plan, context, reply_subject)
        row["meta"]["thread_index"] = i
        if plan.split is not None:
            row["meta"]["thread_split"] = {"type": plan.split[0], "part": plan.split[1], "of": 2}
        rows.append(row)
    return rows


def generate_examples(n: int, seed: int = 0, config: SynthConfig | None = None) -> list[Example]:
    """`n` validated synthetic examples, deterministic for (`n`, `seed`, `config`); ids are ``syn-<seed>-<i>``."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    cfg = config or SynthConfig()
    rng = random.Random(seed)
    channels, weights = list(cfg.channel_mix), list(cfg.channel_mix.values())
    mean_len = (2 + cfg.max_thread_len) / 2
    # Chance that a draw starts a thread, so that about `thread_share` of all messages sit in threads.
    p_thread = (
        cfg.thread_share / (mean_len * (1 - cfg.thread_share) + cfg.thread_share)
        if cfg.thread_share < 1
        else 1.0
    )
    rows: list[dict[str, Any]] = []
    thread_no = 0
    while len(rows) < n:
        channel = rng.choices(channels, weights)[0]
        left = n - len(rows)
        if left >= 2 and rng.random() < p_thread:
            thread_id = f"syn-{seed}-t{thread_no}"
            thread_no += 1
            for row in _thread(rng, cfg, channel, min(rng.randint(2, cfg.max_thread_len), left)):
                row["thread_id"] = thread_id
                rows.append(row)
        else:
            rows.append(_single(rng, cfg, channel))
    out = []
    for i, row in enumerate(rows):
        row["id"] = f"syn-{seed}-{i}"
        out.append(Example.model_validate(row))
    return out


def write_jsonl(examples: Iterable[Example], path: str | Path) -> Path:
    """Write one JSON object per line, atomically (temp file in the same directory, then os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            for ex in examples:
                f.write(ex.model_dump_json())
                f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
