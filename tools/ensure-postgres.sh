#!/usr/bin/env bash
# Make PostgreSQL server binaries available for the database tests and the benches (Debian's package).
# Tests and benches skip the PostgreSQL part, with the reason, only where this cannot work.
set -u
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "PostgreSQL is not installed and cannot be installed here (needs root and apt-get); its tests and benches will be skipped."
  exit 0
fi
echo "Installing PostgreSQL from Debian's packages..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq postgresql >/dev/null \
  || echo "PostgreSQL install failed; its tests and benches will be skipped."
# The package may start a cluster on 5432; the tests start their own on a free loopback port.
exit 0
