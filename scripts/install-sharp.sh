#!/bin/sh
# Fetches sharp (the Node.js image library AWS's own image handlers run) from npm into
# .cache/sharp, only if it is missing: running it again does nothing. Pinned; its libvips
# comes as npm's prebuilt @img/sharp-libvips-* package, so nothing is compiled. Only
# `make bench` uses it (scripts/bench_sharp.mjs); nothing of it is committed or deployed.
set -eu

VERSION=0.35.5
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR="$ROOT/.cache/sharp"
STAMP="$DIR/node_modules/sharp/package.json"

if [ -f "$STAMP" ] && grep -q "\"version\": \"$VERSION\"" "$STAMP"; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "install-sharp.sh: the benchmark's sharp competitor needs Node.js and npm (Debian: apt-get install nodejs npm)" >&2
  exit 1
fi
mkdir -p "$DIR"
echo "installing sharp $VERSION (npm) for make bench"
npm install --prefix "$DIR" --no-save --no-audit --no-fund --silent "sharp@$VERSION" >/dev/null
test -f "$STAMP"
