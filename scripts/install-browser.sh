#!/bin/sh
# Installs Debian's Chromium and ChromeDriver for the browser tests (tests/browser), only if
# they are missing: running it again does nothing. Needs root, or sudo without a password.
set -eu

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" = 0 ]; then
  as_root=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root="sudo -n"
else
  echo "install-browser.sh: the browser tests need Debian's chromium and chromium-driver;" >&2
  echo "  as root run: apt-get update && apt-get install -y chromium chromium-driver" >&2
  exit 1
fi

echo "installing chromium and chromium-driver (apt-get) for the browser tests"
$as_root apt-get update -qq
$as_root env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq chromium chromium-driver >/dev/null
command -v chromium >/dev/null && command -v chromedriver >/dev/null
