#!/usr/bin/env bash
# Make a Prometheus server binary available for the data-source tests (Debian's package).
# Tests skip the Prometheus part, with the reason, only where this cannot work.
set -u
if command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ]; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "Prometheus is not installed and cannot be installed here (needs root and apt-get); its tests will be skipped."
  exit 0
fi
echo "Installing Prometheus from Debian's packages..."
export DEBIAN_FRONTEND=noninteractive
# --no-install-recommends keeps the exporters out; the package's own service is not used by the tests
# (they start their own server on a free loopback port).
apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
  || echo "Prometheus install failed; its tests will be skipped."
exit 0
