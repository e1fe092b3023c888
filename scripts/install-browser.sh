#!/bin/sh
# Installs Debian's Chromium and ChromeDriver for the browser tests, only if missing.
set -eu
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "error: the browser tests need Debian's chromium and chromium-driver;" \
       "install them (as root: apt-get install -y chromium chromium-driver)" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
