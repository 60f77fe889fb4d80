"""Tiers 2 and 3: specialist agents that write one message, conversational agents that continue a thread.

Each agent is a system prompt; the task (channel, labels, difficulty) goes in the user turn. Claude
answers through one tool, `emit_message`, whose input schema is the structured message: the code
then finds every returned value in the body itself (see extract.py), so the model never counts
characters. A request is a plain dict of `messages.create` keyword arguments, which is also what
the disk cache hashes and what a batch request carries as `params`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hrm_core.agentic.plan import Task
from hrm_core.data.contract import DOC_HEADS, SPAN_TYPES

EMIT_TOOL_NAME = "emit_message"
OBFUSCATION_TECHNIQUES: tuple[str, ...] = (
    "base64", "hex", "homoglyph", "zero_width", "split_digits", "spelled_digits", "leetspeak",
)  # fmt: skip


@dataclass(frozen=True)
class Specialist:
    """A domain agent: who sends, what they write about, which sensitive values they handle."""

    domain: str
    role: str  # contract user.role
    dept: str
    persona: str
    topics: tuple[str, ...]
    value_types: tuple[str, ...]


SPECIALISTS: dict[str, Specialist] = {
    s.domain: s
    for s in (
        Specialist("legal", "LEGAL", "CORP-LEGAL", "in-house counsel at a mid-size company",
                   ("NDA negotiation", "litigation hold", "matter status for outside counsel", "contract redlines"),
                   ("NDA", "MATTER", "NAME", "EMAIL", "ADDR")),
        Specialist("finance", "FINANCE", "FINANCE-OPS", "an accounts-payable and treasury analyst",
                   ("vendor payment run", "corporate card reconciliation", "chargeback dispute", "wire details"),
                   ("PAN", "NAME", "EMAIL", "PHONE", "ADDR")),
        Specialist("hr", "HR", "PEOPLE-OPS", "an HR business partner",
                   ("payroll correction", "onboarding paperwork", "benefits enrolment", "background check"),
                   ("SSN", "NAME", "ADDR", "PHONE", "EMAIL")),
        Specialist("security", "SECURITY", "SECOPS", "a security operations engineer",
                   ("incident report", "credential rotation", "access review", "phishing triage"),
                   ("SECRET", "DBURI", "EMAIL", "NAME")),
        Specialist("engineering", "ENG", "PLATFORM", "a backend engineer",
                   ("deploy config change", "database migration", "CI failure", "on-call handover"),
                   ("SECRET", "DBURI", "EMAIL", "NAME")),
        Specialist("casual", "OTHER", "GENERAL", "an employee writing about everyday or personal matters",
                   ("lunch plans", "weekend trip", "a friend's new apartment", "team offsite"),
                   ("NAME", "PHONE", "ADDR", "EMAIL")),
    )
}  # fmt: skip

HEAD_MEANINGS: dict[str, str] = {
    "sensitivity": "the body holds PII, secrets, legal-privileged or NDA-covered content",
    "exposure": "it goes outside the organisation (external or personal-webmail recipients, public links, "
    "uploads to outside shares)",
    "context": "it is consistent with a legitimate workflow for this sender",
    "obfuscation": "content is deliberately hidden (base64, hex, homoglyphs, zero-width characters, split "
    "or spelled-out digits, leetspeak)",
}
DIFFICULTY_HINTS: dict[str, str] = {
    "easy": "Make the sensitive values plain and the intent obvious.",
    "medium": "Embed the values in ordinary business prose; the risk should take a careful read to see.",
    "hard": "Make it a hard case: a near-miss negative (values that look sensitive but are public or fake "
    "test data) when sensitivity is 0, or well-hidden values when it is 1.",
}
CHANNEL_HINTS: dict[str, str] = {
    "email": "an email with a subject line",
    "chat": "a short chat message (subject empty, informal)",
    "pr": "a pull-request description or review comment (subject = PR title)",
    "upload": "a file upload with a short description as body (subject = file title, one attachment)",
}

EMIT_TOOL: dict[str, Any] = {
    "name": EMIT_TOOL_NAME,
    "description": "Emit the generated message and the exact sensitive values it contains.",
    "input_schema": {
        "type": "object",
        "properties": {
            "subject": {"type": "string"},
            "body": {"type": "string", "description": "The full message body, 40-250 words."},
            "recipients": {"type": "array", "items": {"type": "string"}, "description": "Email addresses."},
            "attachments": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "mime": {"type": "string"},
                        "size": {"type": "integer"},
                    },
                    "required": ["name"],
                },
            },
            "links": {"type": "array", "items": {"type": "string"}},
            "values": {
                "type": "array",
                "description": "Every sensitive value copied character for character from the body. An "
                "obfuscated value is given in its visible (obfuscated) form with the type of what it hides.",
                "items": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string", "enum": list(SPAN_TYPES)},
                        "value": {"type": "string"},
                    },
                    "required": ["type", "value"],
                },
            },
            "labels": {
                "type": "object",
                "properties": {h: {"type": "integer", "enum": [0, 1]} for h in DOC_HEADS},
                "required": list(DOC_HEADS),
            },
            "obfuscations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "technique": {"type": "string", "enum": list(OBFUSCATION_TECHNIQUES)},
                        "value": {"type": "string"},
                    },
                    "required": ["technique", "value"],
                },
            },
        },
        "required": ["subject", "body", "recipients", "values", "labels", "obfuscations"],
    },
}


def org_domain_for(task: Task) -> str:
    """The sending organisation of a task (drawn from the generator's fictional domains by index)."""
    from hrm_core.synth.domains import ORG_DOMAINS

    return ORG_DOMAINS[task.index % len(ORG_DOMAINS)]


def specialist_system(spec: Specialist) -> str:
    """System prompt of a specialist agent (tier 2)."""
    return (
        f"You write realistic workplace messages as {spec.persona} (role {spec.role}, department {spec.dept}) "
        f"for a data-loss-prevention training set. Typical topics: {', '.join(spec.topics)}. Typical "
        f"sensitive values: {', '.join(spec.value_types)}. All people, companies and numbers are fictional; "
        "card numbers pass the Luhn check, SSNs follow the numbering rules, use .example domains for "
        "organisations. Always answer by calling the emit_message tool, and list in `values` every "
        "sensitive value exactly as it appears in the body."
    )


def conversational_system(spec: Specialist) -> str:
    """System prompt of a conversational agent (tier 3): continues a thread from its previous turns."""
    return (
        specialist_system(spec)
        + " You are continuing an existing conversation: reply to the last message, stay consistent with "
        "names, numbers and facts already mentioned, and move the thread forward."
    )


def task_prompt(task: Task, turn: int, org_domain: str) -> str:
    """The user turn: channel, wanted labels with their meaning, difficulty and a variant seed."""
    c = task.cell
    wanted = "\n".join(
        f"- {h} = {v}: {'yes' if v else 'no'}, {HEAD_MEANINGS[h]}" for h, v in c.labels_dict().items()
    )
    return (
        f"Write {CHANNEL_HINTS[c.channel]} sent from the organisation {org_domain}.\n"
        f"Its labels must be:\n{wanted}\n"
        f"Difficulty: {c.difficulty}. {DIFFICULTY_HINTS[c.difficulty]}\n"
        f"If exposure is 0, every recipient is @{org_domain} and there are no public links; if 1, at least "
        "one recipient or link is outside it.\n"
        f"If obfuscation is 1, list each hidden value in `obfuscations`; if 0, leave it empty.\n"
        f"Variation seed: {task.index}-{turn}-{task.variant} (use it to vary names, topic and tone)."
    )


def _turn_text(prev: dict[str, Any], n: int) -> str:
    return f"Turn {n} (to {', '.join(prev.get('recipients', []))}), subject {prev.get('subject', '')!r}:\n{prev['body']}"


def build_request(
    task: Task,
    turn: int,
    previous_turns: list[dict[str, Any]],
    model: str,
    max_tokens: int,
) -> dict[str, Any]:
    """`messages.create` kwargs for one turn; turn 0 uses the specialist, later turns the conversational agent.

    `previous_turns` are the thread's earlier messages (dicts with subject, body, recipients). No sampling
    parameters: this SDK's Messages API takes none, so variety comes from the variation seed in the prompt.
    """
    spec = SPECIALISTS[task.cell.domain]
    prompt = task_prompt(task, turn, org_domain_for(task))
    if turn > 0:
        history = "\n\n".join(_turn_text(p, i + 1) for i, p in enumerate(previous_turns))
        prompt = (
            f"The thread so far:\n\n{history}\n\nWrite turn {turn + 1}, replying to the last one.\n" + prompt
        )
        system = conversational_system(spec)
    else:
        system = specialist_system(spec)
    return {
        "model": model,
        "max_tokens": max_tokens,
        "system": system,
        "messages": [{"role": "user", "content": prompt}],
        "tools": [EMIT_TOOL],
        "tool_choice": {"type": "tool", "name": EMIT_TOOL_NAME},
    }
