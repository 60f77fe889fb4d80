#!/usr/bin/env bash
# Fetch the pinned carrier corpora (../shared/CORPORA.md) into $HRM_DLP_LAKE/corpora (default ./data_lake).
# Called by `make install`. Cached files with the right SHA-256 are kept (no network, < 1 s); a source that
# cannot be fetched is skipped with one line. This script never fails: the demo runs without carriers.
# HRM_DLP_SKIP_CORPORA=1 skips it entirely. Usage: scripts/fetch_corpora.sh [PYTHON]
PY="${1:-.venv/bin/python}"
if [ "${HRM_DLP_SKIP_CORPORA:-0}" = "1" ]; then
  echo "corpora: skipped (HRM_DLP_SKIP_CORPORA=1)"
  exit 0
fi
# Each source has its own timeout inside; this outer bound caps the whole step.
# (-c, not -m: the package imports the module, and runpy would warn about running it a second time)
timeout 600 "$PY" -c 'import sys; from hrm_core.data.corpus.fetch import main; sys.exit(main(sys.argv[1:]))' \
  --timeout "${HRM_DLP_CORPORA_TIMEOUT:-120}" \
  || echo "corpora: fetch step did not finish (exit $?); carriers are optional, continuing"
exit 0
