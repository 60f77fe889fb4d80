"""The four document labels, derived from an example's content by explicit rules.

The synthetic generator sets labels from its scenario and `derive_labels` recomputes them from what
the example shows; the two must agree (tested). Other producers (the agentic generator) call
`derive_labels` to reject examples whose labels contradict these rules.

Rules (``span types`` are the types of ``example.spans``; an obfuscated value counts as its hidden type):

sensitivity = 1 iff
  * a high-severity span is present: PAN, SSN, SECRET, DBURI, NDA or MATTER; or
  * a personal-PII combination is present: a NAME span together with an ADDR span, a PHONE span, or a
    personal EMAIL span (a personal-webmail domain, or an address whose domain cannot be read
    because it is obfuscated). A name alone, a phone alone, a work address alone are not sensitive.

exposure = 1 iff the message leaves the organisation: a recipient whose domain is not in
  ``meta.org_domains`` (partner, counsel, payroll, processor or personal webmail), or a link (the
  share, upload target or pull request the content is posted to) whose host is outside
  ``meta.org_domains`` (public shares, public repositories, outside file shares). Recipients without
  an ``@`` (chat channels such as ``#eng-infra``) are internal.

obfuscation = 1 iff content was deliberately hidden: ``meta.obfuscations`` is a non-empty list of
  kinds (base64, hex, homoglyph, zero_width, split_digits, spelled_digits, leetspeak,
  split_across_messages). This cannot be read off spans alone, so the source records it.

context = 1 iff the message is consistent with a legitimate workflow for the sender:
  * a non-sensitive message is context = 1;
  * an obfuscated sensitive message is context = 0 (legitimate workflows do not hide data);
  * otherwise every sensitive element must be allowed for the sender's role to every destination
    class (recipients and links), per `hrm_core.data.workflows.WORKFLOWS`; SECRET and DBURI are only
    legitimate on email or chat (never committed in a pull request or uploaded as a file). Sensitive elements are the
    high-severity span types present, plus ``PII`` when the personal-PII combination fired.
    Destination classes come from `hrm_core.synth.domains.classify_host` (``meta.partner_classes``
    may declare extra outside parties, e.g. ``{"lawfirm.example": "counsel"}``); a message with no
    destination at all counts as internal.
"""

from __future__ import annotations

import re

from hrm_core.data.contract import Example
from hrm_core.data.destinations import link_host, recipient_host
from hrm_core.data.workflows import INTERNAL, PARTNER, element_allowed
from hrm_core.synth.domains import WEBMAIL_DOMAINS, classify_host

HIGH_SEVERITY: frozenset[str] = frozenset({"PAN", "SSN", "SECRET", "DBURI", "NDA", "MATTER"})
PII_COMPANIONS: frozenset[str] = frozenset({"ADDR", "PHONE"})

_EMAIL_DOMAIN = re.compile(r"@([A-Za-z0-9.-]+\.[A-Za-z]{2,})$")


def destination_classes(example: Example) -> set[str]:
    """Classes of every recipient and link host (internal, counsel, payroll, processor, partner, webmail, public)."""
    org = example.meta.org_domains
    partner_classes = getattr(example.meta, "partner_classes", None)
    classes: set[str] = set()
    for r in example.recipients:
        host = recipient_host(r)
        classes.add(INTERNAL if host is None else classify_host(host, org, partner_classes))
    for url in example.links:
        host = link_host(url)
        # An unparseable link is treated as outside: we cannot show it stays inside.
        classes.add(PARTNER if host is None else classify_host(host, org, partner_classes))
    return classes or {INTERNAL}


def _is_personal_email(text: str) -> bool:
    m = _EMAIL_DOMAIN.search(text)
    return m is None or m.group(1).lower() in WEBMAIL_DOMAINS


def span_elements(example: Example) -> list[str | None]:
    """The sensitive element each span of ``example.spans`` belongs to, in order, or None.

    A high-severity span is its own element (``PAN``, ``SSN``, ...). When the personal-PII combination
    fires (a NAME with an ADDR, a PHONE or a personal EMAIL), its NAME, ADDR, PHONE and personal EMAIL
    spans are the element ``PII``. Every other span (a lone name, a work address) is no element.
    """
    types: set[str] = {s.type for s in example.spans}
    personal = [
        s.type == "EMAIL" and _is_personal_email(example.body[s.start : s.end]) for s in example.spans
    ]
    pii = "NAME" in types and bool(types & PII_COMPANIONS or any(personal))
    out: list[str | None] = []
    for s, is_personal in zip(example.spans, personal, strict=True):
        if s.type in HIGH_SEVERITY:
            out.append(s.type)
        elif pii and (s.type in {"NAME", *PII_COMPANIONS} or is_personal):
            out.append("PII")
        else:
            out.append(None)
    return out


def sensitive_elements(example: Example) -> set[str]:
    """High-severity span types present, plus ``PII`` when a NAME comes with ADDR, PHONE or a personal EMAIL."""
    return {e for e in span_elements(example) if e is not None}


def out_of_workflow(example: Example, destinations: set[str] | None = None) -> list[bool]:
    """For each span of ``example.spans``, in order: does it belong to a sensitive element that the
    sender's role may not send to these destinations on this channel (`element_allowed`)? A sensitive,
    unobfuscated message is legitimate (context 1) iff no span is. The scanner asks the same question of
    the spans it detects (its workflow veto on the context score)."""
    destinations = destination_classes(example) if destinations is None else destinations
    return [
        e is not None and not element_allowed(e, example.user.role, destinations, example.channel)
        for e in span_elements(example)
    ]


def derive_labels(example: Example) -> dict[str, int]:
    """Recompute sensitivity, exposure, context and obfuscation from the example (rules in the module docstring)."""
    elements = sensitive_elements(example)
    destinations = destination_classes(example)
    sensitivity = int(bool(elements))
    exposure = int(bool(destinations - {INTERNAL}))
    obfuscation = int(bool(getattr(example.meta, "obfuscations", None)))
    if not sensitivity:
        context = 1
    elif obfuscation:
        context = 0
    else:
        context = int(not any(out_of_workflow(example, destinations)))
    return {"sensitivity": sensitivity, "exposure": exposure, "context": context, "obfuscation": obfuscation}
