"""Which scanner answers: the bundle asked for, else the lake's champion, else the rules engine.

One rule for `hrm-dlp scan`, `hrm-dlp serve` and anything else that scans on a user's behalf:
  * an explicit bundle (``--model DIR``) must be a bundle: a missing one is the user's mistake and
    raises `NoBundleError` (the CLI answers it with one line and exit status 3);
  * no explicit bundle: the lake's champion (``<lake>/models/champion``) when one was promoted;
  * no champion yet (the gate has refused every model so far, as it does on a fresh install): the
    rules engine (`RulesScanner`), with a one-line notice for the caller to show on stderr.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hrm_core.data.lake import default_lake_root
from hrm_core.release.champion import champion_dir


class NoBundleError(FileNotFoundError):
    """An explicitly requested model bundle is not there."""


@dataclass
class LoadedScanner:
    scanner: Any  # Scanner or RulesScanner: both have scan, scan_batch, warmup, model_version, engine
    source: str  # "bundle" | "champion" | "rules"
    notice: str | None = None  # one line for stderr when the caller should know what it got


def default_model_dir(lake: str | Path | None) -> Path:
    """The champion bundle of the lake (``lake``, else ``$HRM_DLP_LAKE``, else ``./data_lake``)."""
    return champion_dir((Path(lake) if lake else default_lake_root()) / "models")


def is_bundle(path: Path) -> bool:
    return (path / "config.json").is_file()


def load_scanner(model: Path | None, lake: str | Path | None = None, backend: str = "int8") -> LoadedScanner:
    """The scanner for ``model`` (a bundle dir) or, when None, the lake's champion or the rules engine."""
    from hrm_core.serve.scanner import Scanner

    if model is not None:
        if not is_bundle(Path(model)):
            raise NoBundleError(f"no model bundle at {model} (no config.json); pass a bundle directory")
        return LoadedScanner(Scanner.from_bundle(model, backend=backend), "bundle")
    champion = default_model_dir(lake)
    if is_bundle(champion):
        return LoadedScanner(Scanner.from_bundle(champion, backend=backend), "champion")
    from hrm_core.serve.rules_scanner import RulesScanner

    notice = (
        f"no champion model at {champion} yet (the gate has not promoted one): "
        "scanning with the rules engine (regex baseline recognizers)"
    )
    return LoadedScanner(RulesScanner(), "rules", notice)
