"""Tiny stand-ins for the registry artifacts, built in tmp_path with the real packages' layout."""

from __future__ import annotations

import dataclasses
import io
import json
import tarfile
from pathlib import Path

import pytest

from hrm_core.data.corpus.fetch import sha256_file
from hrm_core.data.corpus.sources import SOURCES_BY_NAME, CarrierSource

# Real-looking contact data that must never survive into stored text.
REAL_MAIL = """From: Wendell Okafor <Wendell_Okafor@quarry-systems.test>
To: "Jane Q. Public" <jane.public@isp-fixture.test>, fortnightly@lists.quarry-systems.test
Date: Thu, 22 Aug 2002 12:46:18 +0100
Subject: RE: Alexander

Wendell Okafor wrote:
> call me on (202) 555-0143 or write to Wendell_Okafor@quarry-systems.test

Martin, ring me at +44 20 7946 0958 when you can.
Thanks to Jane Q. Public for the photos.

Wendell
"""
REAL_ORIGINALS = ("Wendell_Okafor@quarry-systems.test", "jane.public@isp-fixture.test", "fortnightly@lists.quarry-systems.test",
                  "Wendell Okafor", "(202) 555-0143", "20 7946 0958", "Jane Q. Public")  # fmt: skip


def _tgz(path: Path, members: dict[str, object]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, obj in members.items():
            blob = json.dumps(obj).encode()
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


@pytest.fixture
def fixture_cache(tmp_path: Path) -> tuple[Path, tuple[CarrierSource, ...]]:
    """A corpora cache with small spam-assassin, sotu and spdx tarballs, and sources pinned to them."""
    cache = tmp_path / "corpora"
    cache.mkdir()
    mails = {
        f"package/data/easy-ham-1/0000{i}.abc.json": {
            "id": f"0000{i}",
            "group": "easy-ham-1",
            "text": REAL_MAIL,
        }
        for i in range(3)
    }
    mails["package/data/data.json"] = ["index", "files", "hold", "lists"]
    files = {
        "spam-assassin": mails,
        "sotu": {
            "package/data/1790_george_washington_n.json": {"year": 1790, "text": "Fellow-Citizens " * 50}
        },
        "spdx-license-list": {
            "package/licenses/MIT.json": {"name": "MIT License", "licenseText": "Permission " * 40}
        },
    }
    sources = []
    for name, members in files.items():
        src = SOURCES_BY_NAME[name]
        path = _tgz(cache / src.filename, members)
        sources.append(dataclasses.replace(src, sha256=sha256_file(path)))
    return cache, tuple(sources)
