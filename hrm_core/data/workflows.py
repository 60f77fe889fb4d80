"""Who may send what where: the workflow policy the context label and the model's input share.

Context asks whether a sensitive message is a normal part of its sender's job (SPEC: "LEGAL sending an
NDA to outside counsel"). That is policy, not text: an organisation decides that HR sends SSNs to its
payroll provider and that engineers never paste credentials into a pull request. `WORKFLOWS` is the
default table (role -> sensitive element -> destination classes where sending it is legitimate); the
label rules (`hrm_core.synth.labels`) and the synthetic planner read it, and DSL version 2 shows the
sender's row of it in the ``<USER>`` line (`workflow_text`) so that a model could match a value against
the allowances it is shown (measured, not the default: `hrm_core.data.dsl`).

Elements are the high-severity span types plus ``PII`` (a name with an address, phone or personal
email). Destination classes are the recipient classes below (`hrm_core.synth.domains.classify_host`
assigns them).
"""

from __future__ import annotations

# Recipient classes, in the order the context table names them.
INTERNAL, COUNSEL, PAYROLL, PROCESSOR, PARTNER, WEBMAIL, PUBLIC = (
    "internal",
    "counsel",
    "payroll",
    "processor",
    "partner",
    "webmail",
    "public",
)
CODE_FREE_TYPES: frozenset[str] = frozenset({"SECRET", "DBURI"})  # only on email / chat
CODE_FREE_CHANNELS: frozenset[str] = frozenset({"email", "chat"})

# role -> sensitive element -> destination classes where sending it is a normal part of the job.
WORKFLOWS: dict[str, dict[str, frozenset[str]]] = {
    "LEGAL": {
        "NDA": frozenset({INTERNAL, COUNSEL}),
        "MATTER": frozenset({INTERNAL, COUNSEL}),
        "PII": frozenset({INTERNAL, COUNSEL}),
    },
    "EXEC": {"NDA": frozenset({INTERNAL, COUNSEL}), "MATTER": frozenset({INTERNAL, COUNSEL})},
    "HR": {"SSN": frozenset({INTERNAL, PAYROLL}), "PII": frozenset({INTERNAL, PAYROLL})},
    "FINANCE": {"PAN": frozenset({INTERNAL, PROCESSOR}), "PII": frozenset({INTERNAL, PROCESSOR})},
    "ENG": {"SECRET": frozenset({INTERNAL}), "DBURI": frozenset({INTERNAL})},
    "SECURITY": {
        "SECRET": frozenset({INTERNAL}),
        "DBURI": frozenset({INTERNAL}),
        "PII": frozenset({INTERNAL}),
    },
    "SALES": {"NDA": frozenset({INTERNAL, COUNSEL, PARTNER}), "PII": frozenset({INTERNAL})},
    "SUPPORT": {"PII": frozenset({INTERNAL})},
    "OTHER": {},
}
_CLASS_ORDER = (INTERNAL, COUNSEL, PAYROLL, PROCESSOR, PARTNER, WEBMAIL, PUBLIC)


def allowances(role: str, channel: str) -> dict[str, frozenset[str]]:
    """The elements ``role`` may send on ``channel`` and the destination classes each may go to.
    SECRET and DBURI are only legitimate on email or chat (never committed or uploaded)."""
    table = WORKFLOWS.get(role, {})
    return {
        e: classes
        for e, classes in table.items()
        if channel in CODE_FREE_CHANNELS or e not in CODE_FREE_TYPES
    }


def element_allowed(element: str, role: str, destinations: set[str], channel: str) -> bool:
    """Is sending ``element`` to every one of ``destinations`` on ``channel`` a normal part of ``role``'s
    job? A sensitive message is legitimate (context 1) iff this holds for each of its elements and
    nothing in it is obfuscated."""
    allowed = allowances(role, channel)
    return element in allowed and destinations <= allowed[element]


def workflow_text(role: str, channel: str) -> str:
    """The sender's allowances as the DSL writes them: ``SSN>internal,payroll PII>internal,payroll``,
    ``-`` when the role may send nothing sensitive on this channel."""
    allowed = allowances(role, channel)
    parts = [
        f"{e}>{','.join(c for c in _CLASS_ORDER if c in classes)}" for e, classes in sorted(allowed.items())
    ]
    return " ".join(parts) or "-"
