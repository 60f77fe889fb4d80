#!/usr/bin/env bash
# A new user's first run: a fresh clone beside ../shared (default ../hrm-dlp-fresh), `make demo`, then the
# README's scan, pre-commit and serve examples, each with its exit status. Usage: scripts/first_run_transcript.sh [DEST]
set -u
SRC=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel); DEST="${1:-$SRC/../hrm-dlp-fresh}"
rm -rf "$DEST" && git clone -q "$SRC" "$DEST" && cd "$DEST"
echo "\$ git log --oneline -1"; git log --oneline -1
echo "\$ time make demo"
( time make demo ) 2>&1 | grep -v "WARNING: Location\|^  \|^$\|pip-build-env\|editable_wheel\|!!\|\*\*\*\*" ; echo "[exit ${PIPESTATUS[0]}]"
run() { echo "\$ $*"; eval "$@"; echo "[exit $?]"; }
run '.venv/bin/hrm-dlp scan --text "card 4111 1111 1111 1111" --fail-on block'
printf '%s\n' '{"id": "a", "body": "lunch at noon?"}' '{"id": "b", "channel": "email", "recipients": ["me@gmail.com"], "body": "my ssn is 078-05-1120, card 4111 1111 1111 1111"}' > messages.jsonl
run '.venv/bin/hrm-dlp scan messages.jsonl'
run '.venv/bin/hrm-dlp scan messages.jsonl --fail-on warn'
git checkout -q -b demo-hook && printf 'AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEYQ"\nDATABASE_URL = "postgres://app:S3cr3tPw@db.internal:5432/prod"\n' > settings_local.py && git add settings_local.py
run 'git diff --cached | .venv/bin/hrm-dlp scan --text - --fail-on warn >/dev/null'
run 'git diff --cached | .venv/bin/hrm-dlp scan --text "$(cat)" --fail-on warn | head -c 600; echo'
.venv/bin/hrm-dlp serve --port 8765 > serve.out 2> serve.err & SERVE=$!
for i in $(seq 1 60); do curl -s -o /dev/null http://127.0.0.1:8765/healthz && break; sleep 0.5; done
run "curl -s http://127.0.0.1:8765/healthz; echo"
run "curl -s -X POST http://127.0.0.1:8765/scan -H 'content-type: application/json' -d '{\"body\": \"card 4111 1111 1111 1111\", \"recipients\": [\"x@gmail.com\"]}'; echo"
kill $SERVE; wait $SERVE 2>/dev/null
echo "\$ (serve's stderr)"; cat serve.err
