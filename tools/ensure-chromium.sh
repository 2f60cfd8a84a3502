#!/usr/bin/env bash
# Make a headless Chromium available for the report rendering tests (Debian's package).
# Tests skip the browser part, with the reason, only where this cannot work.
set -u
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
  || command -v google-chrome >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "Chromium is not installed and cannot be installed here (needs root and apt-get); the browser tests will be skipped."
  exit 0
fi
echo "Installing Chromium from Debian's packages..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends chromium >/dev/null \
  || echo "Chromium install failed; the browser tests will be skipped."
exit 0
