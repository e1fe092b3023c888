#!/bin/sh
# Fetches axe-core (the accessibility checker the browser tests run in the page) from npm into
# .cache/axe-core, only if it is missing: running it again does nothing. Pinned; nothing of it
# is committed or served (tests/browser injects axe.min.js through WebDriver).
set -eu

VERSION=4.14.1
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR="$ROOT/.cache/axe-core"
FILE="$DIR/node_modules/axe-core/axe.min.js"

if [ -f "$FILE" ] && grep -q "axe v$VERSION" "$FILE"; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "install-axe.sh: the browser tests' accessibility check needs npm (Debian: apt-get install npm)" >&2
  exit 1
fi
mkdir -p "$DIR"
echo "installing axe-core $VERSION (npm) for the browser tests"
npm install --prefix "$DIR" --no-save --no-audit --no-fund --silent "axe-core@$VERSION" >/dev/null
test -f "$FILE"
