#!/usr/bin/env bash
# Install headless Chromium from the distribution's packages for the browser test (tests/test_browser.py).
# Never fatal: prints why it could not and exits 0, so `make test` goes on and the browser test skips
# with its own reason. Idempotent and quick when Chromium is already there.
set -u
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
  echo "chromium present: $CHROMIUM"
  exit 0
fi
for other in chromium-browser google-chrome chrome; do
  if command -v "$other" >/dev/null 2>&1; then
    echo "chromium present: $(command -v "$other")"
    exit 0
  fi
done
if [ "$(id -u)" -ne 0 ]; then
  echo "chromium not installed and not root: run 'sudo apt-get install chromium' (browser test will skip)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium not installed and no apt-get on this system (browser test will skip)"
  exit 0
fi
echo "installing chromium with apt-get (Debian package)"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get update -qq; then
  echo "apt-get update failed: chromium not installed (browser test will skip)"
  exit 0
fi
if ! apt-get install -y -qq --no-install-recommends chromium >/dev/null; then
  echo "apt-get install chromium failed (browser test will skip)"
  exit 0
fi
if [ -x "$CHROMIUM" ]; then
  echo "installed: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
else
  echo "apt-get finished but $CHROMIUM is missing (browser test will skip)"
fi
exit 0
