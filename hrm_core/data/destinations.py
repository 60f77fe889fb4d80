"""Where a message goes, in world-general terms: internal, personal webmail, public share, or external.

Shared by the DSL (each recipient and link carries its class, so the model reads exposure off one token
instead of comparing domains character by character), the synthetic generator's label rules and the
regex baseline. The lists are real-world providers, not the generator's fictional parties.
"""

from __future__ import annotations

import re

# Personal webmail: never a legitimate destination for sensitive content. The generator samples these.
WEBMAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "proton.me", "icloud.com",
    "aol.com", "gmx.de", "mail.ru", "yandex.com", "web.de", "fastmail.com",
)  # fmt: skip

# Public file shares and paste sites: a link there publishes the content.
PUBLIC_SHARE_HOSTS: tuple[str, ...] = (
    "dropbox.com", "drive.google.com", "wetransfer.com", "pastebin.com", "gist.github.com", "mega.nz",
)  # fmt: skip

# Providers the generator does not draw from but every detector should know (the regex baseline too).
OTHER_WEBMAIL_DOMAINS: tuple[str, ...] = (
    "126.com",
    "163.com",
    "gmx.com",
    "gmx.net",
    "googlemail.com",
    "hey.com",
    "live.com",
    "mail.com",
    "me.com",
    "msn.com",
    "protonmail.com",
    "qq.com",
    "tutanota.com",
    "yandex.ru",
    "ymail.com",
    "zoho.com",
)
OTHER_PUBLIC_SHARE_HOSTS: tuple[str, ...] = (
    "1drv.ms",
    "anonfiles.com",
    "box.com",
    "controlc.com",
    "docs.google.com",
    "dpaste.org",
    "file.io",
    "ghostbin.com",
    "gofile.io",
    "hastebin.com",
    "justpaste.it",
    "mediafire.com",
    "onedrive.live.com",
    "paste.ee",
    "sendspace.com",
    "transfer.sh",
    "we.tl",
)
KNOWN_WEBMAIL: frozenset[str] = frozenset(WEBMAIL_DOMAINS + OTHER_WEBMAIL_DOMAINS)
KNOWN_PUBLIC_SHARES: frozenset[str] = frozenset(PUBLIC_SHARE_HOSTS + OTHER_PUBLIC_SHARE_HOSTS)

DESTINATION_CLASSES: tuple[str, ...] = ("internal", "webmail", "public", "external")
_URL_HOST = re.compile(r"^[a-z][a-z0-9+.-]*://([^/:?#@]+)", re.IGNORECASE)


def host_in(host: str, domains: list[str] | tuple[str, ...]) -> bool:
    """True when `host` is one of `domains` or a subdomain of one (``git.acme.example`` is in ``acme.example``)."""
    host = host.lower()
    return any(host == d or host.endswith("." + d) for d in domains)


def recipient_host(recipient: str) -> str | None:
    """The domain of an address (``bob@corp.example`` -> ``corp.example``); None for ``#channels``."""
    at = recipient.rfind("@")
    return recipient[at + 1 :].strip().lower() if at >= 0 else None


def link_host(url: str) -> str | None:
    """The host of a URL, or None when it does not parse as scheme://host."""
    m = _URL_HOST.match(url)
    return m.group(1).lower() if m else None


def destination_class(
    host: str | None, org_domains: list[str] | tuple[str, ...], *, is_link: bool = False
) -> str:
    """One of DESTINATION_CLASSES. A recipient without a domain (a ``#channel``) is internal; a link that
    does not parse is external, since nothing shows it stays inside."""
    if host is None:
        return "external" if is_link else "internal"
    if host_in(host, org_domains):
        return "internal"
    if host_in(host, tuple(KNOWN_WEBMAIL)):
        return "webmail"
    if host_in(host, tuple(KNOWN_PUBLIC_SHARES)):
        return "public"
    return "external"
