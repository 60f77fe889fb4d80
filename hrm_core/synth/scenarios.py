"""Message scenarios: a `Plan` (what the message carries and where it goes) rendered into a body with spans.

Scenario elements are the sensitive things a message can carry: the six high-severity span types and
three personal-PII combinations (a NAME with an ADDR, a PHONE, or a personal-webmail EMAIL). The
plan's intended labels follow from its choices; `labels.derive_labels` must reach the same labels
from the finished example (tested).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from hrm_core.synth import people
from hrm_core.synth import values as v
from hrm_core.synth.body import BodyBuilder
from hrm_core.synth.domains import WEBMAIL_DOMAINS
from hrm_core.synth.hard_negatives import hard_negative_sentence
from hrm_core.synth.obfuscation import KINDS_BY_TYPE, obfuscate

ELEMENTS: tuple[str, ...] = (
    "PAN",
    "SSN",
    "SECRET",
    "DBURI",
    "NDA",
    "MATTER",
    "PII_ADDR",
    "PII_PHONE",
    "PII_EMAIL",
)
# Which label element (see labels.WORKFLOWS) each scenario element produces.
LABEL_ELEMENT: dict[str, str] = {e: ("PII" if e.startswith("PII_") else e) for e in ELEMENTS}
# Span types whose values each element shows; the hiding techniques that fit any of them.
ELEMENT_TYPES: dict[str, tuple[str, ...]] = {
    **{e: (e,) for e in ELEMENTS[:6]},
    "PII_ADDR": ("NAME", "ADDR"),
    "PII_PHONE": ("NAME", "PHONE"),
    "PII_EMAIL": ("NAME", "EMAIL"),
}
OBFUSCATIONS_FOR: dict[str, tuple[str, ...]] = {
    e: tuple(sorted({k for t in ts for k in KINDS_BY_TYPE[t]})) for e, ts in ELEMENT_TYPES.items()
}


@dataclass
class Plan:
    """What one message carries: sensitive elements, an optional hiding technique, decoys, a split part."""

    kind: str  # "positive" | "negative" | "hard_negative"
    elements: list[str] = field(default_factory=list)
    obfuscation: str | None = None
    decoys: list[str] = field(default_factory=list)
    split: tuple[str, int, str] | None = None  # (span type, part 1 or 2, the visible fragment)


# ---- the words around the values -------------------------------------------------------------------------
_FILLER: dict[str, tuple[str, ...]] = {
    "LEGAL": (
        "Following up on the contract review from Tuesday.",
        "Redlines are in the shared folder.",
        "Please confirm before the filing deadline.",
        "Adding this to the deal room checklist.",
    ),
    "FINANCE": (
        "Closing the books for the quarter this week.",
        "The vendor invoice needs approval today.",
        "Reconciliation is almost done.",
        "Expense reports are due Friday.",
    ),
    "HR": (
        "Onboarding starts on Monday.",
        "Benefits enrollment closes at the end of the month.",
        "Updating the employee record as requested.",
        "Payroll cutoff is Thursday noon.",
    ),
    "ENG": (
        "The deploy is blocked on this.",
        "CI is green on the branch now.",
        "Rolling this out to staging first.",
        "The migration ran in 12 minutes on the replica.",
    ),
    "SECURITY": (
        "Rotating credentials after the incident review.",
        "Audit findings are due next week.",
        "Access review for Q3 is open.",
        "Scanning found nothing new overnight.",
    ),
    "SALES": (
        "The prospect wants pricing by Friday.",
        "Demo went well, next step is procurement.",
        "Renewal is up for discussion next month.",
        "Updated the CRM with the call notes.",
    ),
    "SUPPORT": (
        "Customer escalated the ticket again.",
        "Reproduced the issue on the latest build.",
        "Closing the loop on yesterday's outage.",
        "Macro updated for the new refund policy.",
    ),
    "EXEC": (
        "Board deck draft attached for comments.",
        "Let's discuss at the leadership sync.",
        "Priorities for next quarter are below.",
        "Thanks all for the quick turnaround.",
    ),
    "OTHER": (
        "Quick update from my side.",
        "Lunch order goes in at 11.",
        "The office will be closed on Monday.",
        "Let me know if anything is unclear.",
    ),
}
_SUBJECTS: dict[str, tuple[str, ...]] = {
    "LEGAL": ("Contract review", "Filing deadline", "Deal room update", "Counsel follow-up"),
    "FINANCE": ("Q3 close", "Invoice approval", "Card payment", "Reconciliation"),
    "HR": ("Employee record update", "Onboarding paperwork", "Payroll change", "Benefits"),
    "ENG": ("Staging deploy", "Migration plan", "Config for the new service", "Incident follow-up"),
    "SECURITY": ("Credential rotation", "Audit evidence", "Access review", "Incident notes"),
    "SALES": ("Pricing for the prospect", "Renewal terms", "Deal update", "Demo follow-up"),
    "SUPPORT": ("Ticket escalation", "Customer callback", "Refund request", "Outage follow-up"),
    "EXEC": ("Board prep", "Leadership sync", "Quarterly priorities", "Partnership update"),
    "OTHER": ("Quick question", "Office update", "FYI", "Team lunch"),
}
_PR_TITLES = (
    "Fix retry logic in billing worker",
    "Add config for payments sandbox",
    "Bump dependencies",
    "Refactor auth middleware",
    "Add export job",
)
_UPLOAD_FILES = (
    "export.csv",
    "q3_report.xlsx",
    "customer_list.csv",
    "contract_draft.docx",
    "config_backup.txt",
    "notes.pdf",
)

_LEAD_INS: dict[str, tuple[str, ...]] = {
    "PAN": (
        "Card on file: {x}",
        "Please charge {x} for the renewal.",
        "The corporate card is {x}, expiry 09/27.",
        "Use card {x} for the hotel booking.",
    ),
    "SSN": (
        "SSN: {x}",
        "Her social security number is {x}.",
        "Employee SSN {x} for the W-4 update.",
        "SSN on the form should read {x}.",
    ),
    "SECRET": (
        "Here's the key: {x}",
        "export API_KEY={x}",
        'token = "{x}"',
        "Temporary credential until rotation: {x}",
    ),
    "DBURI": (
        "DATABASE_URL={x}",
        "Connection string: {x}",
        "Use {x} for the migration.",
        "Point the job at {x}",
    ),
    "NDA": ('Per the NDA: "{x}"', "Reminder of the clause: {x}", "Section 4 reads: {x}"),
    "MATTER": (
        "Re matter {x}, see the latest draft.",
        "Please bill time to matter {x}.",
        "Docket {x}: hearing moved to next week.",
        "Privileged: strategy notes for {x}.",
    ),
    "PII_ADDR": ("{n} moved; the new home address is {a}.", "Ship the laptop to {n}, {a}.", "{n}, {a}"),
    "PII_PHONE": ("{n}'s cell is {p}.", "You can reach {n} at {p} after hours.", "{n} | {p}"),
    "PII_EMAIL": ("{n}'s personal email is {e}.", "Send it to {n} at {e} instead.", "{n} <{e}>"),
}
_SPLIT_FIRST = (
    "Sending it in two parts. First half: {x}",
    "Part 1 of the number: {x}",
    "first bit: {x} (rest in the next message)",
)
_SPLIT_SECOND = ("Here is the second half: {x}", "and the rest: {x}", "Part 2: {x}")


def subject_for(role: str, channel: str, rng: random.Random) -> str:
    """A subject line (email), PR title (pr), file name (upload) or nothing (chat)."""
    if channel == "email":
        return rng.choice(_SUBJECTS[role])
    if channel == "pr":
        return rng.choice(_PR_TITLES)
    if channel == "upload":
        return rng.choice(_UPLOAD_FILES)
    return ""


def _element_values(element: str, rng: random.Random, org: str) -> dict[str, tuple[str, str]]:
    """Span type and plain text of every value an element needs, keyed by its template slot."""
    if element == "PAN":
        return {"x": ("PAN", v.pan(rng))}
    if element == "SSN":
        return {"x": ("SSN", v.ssn(rng))}
    if element == "SECRET":
        return {"x": ("SECRET", v.secret(rng))}
    if element == "DBURI":
        return {"x": ("DBURI", v.db_uri(rng, org))}
    if element == "NDA":
        return {"x": ("NDA", v.nda_clause(rng))}
    if element == "MATTER":
        return {"x": ("MATTER", v.matter_id(rng))}
    first, last = rng.choice(people.FIRST_NAMES), rng.choice(people.LAST_NAMES)
    slots = {"n": ("NAME", f"{first} {last}" if rng.random() < 0.8 else people.person_name(rng))}
    if element == "PII_ADDR":
        slots["a"] = ("ADDR", people.postal_address(rng))
    elif element == "PII_PHONE":
        slots["p"] = ("PHONE", v.phone(rng))
    else:
        slots["e"] = ("EMAIL", f"{people.mailbox(first, last, rng)}@{rng.choice(WEBMAIL_DOMAINS)}")
    return slots


def _sentence(builder: BodyBuilder, channel: str, template: str, slots: dict[str, tuple[str, str]]) -> None:
    if channel == "pr" and slots.get("x", ("",))[0] in ("SECRET", "DBURI"):
        # In a pull request secrets show up inside the diff.
        builder.text("```diff\n+ ")
        builder.template(template, slots)
        builder.text("\n```\n")
    elif channel == "upload":
        builder.template(template, slots)
        builder.text("\n")
    else:
        builder.template(template, slots)
        builder.text(" " if channel == "chat" else "\n")


def render_message(
    plan: Plan, role: str, channel: str, org: str, names: tuple[str, str], rng: random.Random
) -> tuple[str, list[dict[str, object]], int | None]:
    """Body text, spans, and the index of the obfuscated span (None when nothing is hidden) for `plan`.

    `names` is (addressee's first name, sender's full name) for greetings and signatures, fixed per thread.
    """
    b = BodyBuilder()
    hidden_index = None
    # Names in greetings and signatures are NAME spans; they must not meet a lone phone, or the
    # message would become a personal-PII combination the plan did not intend.
    lone_phone = plan.kind == "negative" and rng.random() < 0.25
    use_names = plan.kind != "hard_negative" and not lone_phone and rng.random() < 0.6
    if channel == "email":
        if use_names:
            b.text("Hi ").value("NAME", names[0]).text(",\n\n")
        else:
            b.text(rng.choice(("Hi team,\n\n", "Hello all,\n\n", "Hi,\n\n")))
    elif channel == "pr":
        b.text("## Summary\n")
    elif channel == "upload":
        b.text(f"Uploaded by {role.lower()} team.\n---\n")
    elif use_names:
        b.text("hey ").value("NAME", names[0]).text(" ")
    filler = _FILLER[role]
    b.text(rng.choice(filler)).text(" " if channel == "chat" else "\n")
    _pad(b, channel, rng)

    for i, element in enumerate(plan.elements):
        slots = _element_values(element, rng, org)
        if plan.obfuscation and i == 0:  # the plan hides its first element
            key = _obfuscation_slot(slots, plan.obfuscation)
            span_type, text = slots[key]
            slots[key] = (span_type, obfuscate(text, plan.obfuscation, rng))
            first_new = len(b.spans)
        _sentence(b, channel, rng.choice(_LEAD_INS[element]), slots)
        if plan.obfuscation and i == 0:
            # Each slot of an element has its own span type, so the type finds the hidden one.
            hidden_index = next(j for j in range(first_new, len(b.spans)) if b.spans[j]["type"] == span_type)
    if plan.split is not None:
        span_type, part, fragment = plan.split
        template = rng.choice(_SPLIT_FIRST if part == 1 else _SPLIT_SECOND)
        first_new = len(b.spans)
        _sentence(b, channel, template, {"x": (span_type, fragment)})
        # The fragment is what this message hides (the other half travels in its neighbour): its tokens
        # are the obfuscation evidence. Left None, the evidence channel marked it a plainly shown value
        # (0) in every split row while the message's label said hidden (1).
        hidden_index = next(j for j in range(first_new, len(b.spans)) if b.spans[j]["type"] == span_type)
    for kind in plan.decoys:
        b.text(hard_negative_sentence(kind, rng)).text(" " if channel == "chat" else "\n")
    if lone_phone:
        b.text("Dial-in for the sync: ").value("PHONE", v.phone(rng)).text(".\n")
    elif plan.kind != "hard_negative" and rng.random() < 0.2:
        colleague = (
            f"{people.mailbox(rng.choice(people.FIRST_NAMES), rng.choice(people.LAST_NAMES), rng)}@{org}"
        )
        b.text("Looping in ").value("EMAIL", colleague).text(" for visibility.\n")
    _pad(b, channel, rng)
    if channel == "email":
        b.text("\nThanks,\n")
        if use_names:
            b.value("NAME", names[1])
    # Spans never end in whitespace, so trimming the tail cannot cut one.
    body = b.build().rstrip()
    return (body if channel == "chat" else body + "\n"), b.spans, hidden_index


# Bland sentences from every role: real messages bury their values in ordinary text, and a model
# that only saw short bodies changes its verdict when a long one arrives (the stability metric).
_BLAND: tuple[str, ...] = tuple(sorted({s for pool in _FILLER.values() for s in pool}))
PAD_RATE = 0.2  # chance, at each of two places in a body, of 1-24 extra bland sentences


def _pad(b: BodyBuilder, channel: str, rng: random.Random) -> None:
    if rng.random() < PAD_RATE:
        for _ in range(rng.randint(1, 24)):
            b.text(rng.choice(_BLAND)).text(" " if channel == "chat" else "\n")


def _obfuscation_slot(slots: dict[str, tuple[str, str]], kind: str) -> str:
    """The slot to hide: the element's main value, or for a PII pair the member the technique fits."""
    for key, (span_type, _) in slots.items():
        if kind in KINDS_BY_TYPE[span_type] and key != "n":
            return key
    return next(k for k, (t, _) in slots.items() if kind in KINDS_BY_TYPE[t])
