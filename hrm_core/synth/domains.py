"""Who is on the other end: fictional organisation domains and the classes of outside parties.

The label rules (`labels.py`) decide exposure and context from these classes, so the generator
(`scenarios.py`) and the rules read the same tables. All domains are fictional (``.example``) except
the personal-webmail providers and the public companies whose role addresses appear as hard negatives.
"""

from __future__ import annotations

# The real-world lists live with the destination classes; the generator and rules read them from here too.
from hrm_core.data.destinations import PUBLIC_SHARE_HOSTS, WEBMAIL_DOMAINS, host_in
from hrm_core.data.workflows import COUNSEL, INTERNAL, PARTNER, PAYROLL, PROCESSOR, PUBLIC, WEBMAIL

# The sending organisation; each example draws one, so no model can learn a single "inside" domain.
ORG_DOMAINS: tuple[str, ...] = (
    "acme-corp.example",
    "northwind.example",
    "globex.example",
    "initech.example",
    "umbrella-labs.example",
    "hooli.example",
    "stark-ind.example",
    "wayne-ent.example",
    "cyberdyne.example",
    "tyrell.example",
    "soylent.example",
    "wonka.example",
    "aperture.example",
    "blueriver.example",
    "vandelay.example",
    "oscorp.example",
    "massive-dynamic.example",
    "pied-piper.example",
    "gringotts.example",
    "contoso.example",
)


# Outside parties with a recognised workflow role (see the context table in labels.py).
COUNSEL_DOMAINS: tuple[str, ...] = (
    "baker-lowe-llp.example",
    "hartwell-partners.example",
    "morrison-reyes.example",
    "quill-law.example",
)
PAYROLL_DOMAINS: tuple[str, ...] = ("paysphere.example", "gusto-payroll.example", "adpay.example")
PROCESSOR_DOMAINS: tuple[str, ...] = ("cardvault-payments.example", "stripepay.example", "adyenne.example")

# Ordinary outside business parties: customers, vendors, prospects.
PARTNER_DOMAINS: tuple[str, ...] = (
    "fabrikam.example",
    "tailspin.example",
    "litware.example",
    "adventure-works.example",
    "woodgrove.example",
    "lucerne-pub.example",
    "proseware.example",
    "wingtip.example",
    "coho-vineyard.example",
    "datum.example",
)

PUBLIC_REPO_HOST = "github.com"

# Role addresses of public companies: published contact points, not personal data (never tagged).
PUBLIC_ROLE_ADDRESSES: tuple[str, ...] = (
    "support@github.com",
    "press@apple.com",
    "info@ikea.com",
    "support@stripe.com",
    "press@microsoft.com",
    "help@slack.com",
    "info@siemens.com",
    "support@atlassian.com",
    "privacy@google.com",
    "sales@oracle.com",
)

_KNOWN_CLASSES: dict[str, str] = {
    **{d: WEBMAIL for d in WEBMAIL_DOMAINS},
    **{d: COUNSEL for d in COUNSEL_DOMAINS},
    **{d: PAYROLL for d in PAYROLL_DOMAINS},
    **{d: PROCESSOR for d in PROCESSOR_DOMAINS},
    **{d: PUBLIC for d in PUBLIC_SHARE_HOSTS},
    PUBLIC_REPO_HOST: PUBLIC,
}


def classify_host(host: str, org_domains: list[str], partner_classes: dict[str, str] | None = None) -> str:
    """The recipient class of a domain or link host, relative to the sender's `org_domains`.

    `partner_classes` (``meta.partner_classes``) lets a source declare e.g. ``{"lawfirm.example": "counsel"}``
    for outside parties the built-in tables do not know.
    """
    host = host.lower()
    if host_in(host, org_domains):
        return INTERNAL
    for table in (partner_classes or {}, _KNOWN_CLASSES):
        for domain, cls in table.items():
            if host == domain or host.endswith("." + domain):
                return cls
    return PARTNER
