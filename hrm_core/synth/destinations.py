"""Where a message goes: recipients and share/PR links for a set of destination classes, per channel."""

from __future__ import annotations

import random

from hrm_core.synth import domains as d
from hrm_core.synth.people import FIRST_NAMES, LAST_NAMES, mailbox

# Classes a channel can reach: a pull request goes to an internal or a public repository only.
CHANNEL_CLASSES: dict[str, tuple[str, ...]] = {
    "email": (d.INTERNAL, d.COUNSEL, d.PAYROLL, d.PROCESSOR, d.PARTNER, d.WEBMAIL, d.PUBLIC),
    "chat": (d.INTERNAL, d.COUNSEL, d.PAYROLL, d.PROCESSOR, d.PARTNER, d.WEBMAIL, d.PUBLIC),
    "pr": (d.INTERNAL, d.PUBLIC),
    "upload": (d.INTERNAL, d.COUNSEL, d.PAYROLL, d.PROCESSOR, d.PARTNER, d.PUBLIC),
}
OUTSIDE_CLASSES: frozenset[str] = frozenset(CHANNEL_CLASSES["email"]) - {d.INTERNAL}

_CLASS_DOMAINS: dict[str, tuple[str, ...]] = {
    d.COUNSEL: d.COUNSEL_DOMAINS,
    d.PAYROLL: d.PAYROLL_DOMAINS,
    d.PROCESSOR: d.PROCESSOR_DOMAINS,
    d.PARTNER: d.PARTNER_DOMAINS,
    d.WEBMAIL: d.WEBMAIL_DOMAINS,
}
_CHANNELS = (
    "#general",
    "#eng-infra",
    "#finance-ops",
    "#people-team",
    "#legal-internal",
    "#sales-deals",
    "#support-escalations",
)
_REPOS = ("billing-service", "web-frontend", "data-pipeline", "infra-terraform", "mobile-app", "auth-gateway")
_TOKEN = "abcdefghijkmnpqrstuvwxyz23456789"


def _person_address(rng: random.Random, domain: str) -> str:
    return f"{mailbox(rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), rng)}@{domain}"


def _share_id(rng: random.Random) -> str:
    return "".join(rng.choices(_TOKEN, k=10))


def _share_link(rng: random.Random, cls: str, org: str) -> str:
    if cls == d.INTERNAL:
        return f"https://files.{org}/s/{_share_id(rng)}"
    if cls == d.PUBLIC:
        host = rng.choice(d.PUBLIC_SHARE_HOSTS)
        return f"https://{host}/s/{_share_id(rng)}"
    return f"https://share.{rng.choice(_CLASS_DOMAINS[cls])}/f/{_share_id(rng)}"


def destinations(
    rng: random.Random, channel: str, org: str, classes: list[str]
) -> tuple[list[str], list[str]]:
    """Recipients and links reaching exactly `classes` (each must be in `CHANNEL_CLASSES[channel]`)."""
    recipients: list[str] = []
    links: list[str] = []
    for cls in classes:
        if channel == "pr":
            if cls == d.INTERNAL:
                links.append(f"https://git.{org}/{rng.choice(_REPOS)}/pull/{rng.randrange(10, 5000)}")
                recipients.append(_person_address(rng, org))  # reviewer
            else:
                links.append(
                    f"https://{d.PUBLIC_REPO_HOST}/{org.split('.')[0]}-oss/{rng.choice(_REPOS)}/pull/{rng.randrange(10, 900)}"
                )
        elif channel == "upload":
            links.append(_share_link(rng, cls, org))
        elif cls == d.INTERNAL:
            if channel == "chat" and rng.random() < 0.5:
                recipients.append(rng.choice(_CHANNELS))
            else:
                recipients.extend(_person_address(rng, org) for _ in range(rng.randrange(1, 3)))
        elif cls == d.PUBLIC:
            links.append(_share_link(rng, cls, org))
        else:
            recipients.append(_person_address(rng, rng.choice(_CLASS_DOMAINS[cls])))
    return recipients, links
