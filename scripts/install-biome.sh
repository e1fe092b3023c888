#!/bin/sh
# Fetches Biome (the linter and formatter for the web page's JavaScript, chalicelib/static/*.js)
# from npm into .cache/biome, only if it is missing: running it again does nothing. Pinned; a
# single native binary with no plugins, configured by biome.json at the root.
set -eu

VERSION=2.6.8
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR="$ROOT/.cache/biome"
BIN="$DIR/node_modules/.bin/biome"

if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -q "$VERSION"; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "install-biome.sh: linting the web page's JavaScript needs npm (Debian: apt-get install npm)" >&2
  exit 1
fi
mkdir -p "$DIR"
echo "installing Biome $VERSION (npm) for the JavaScript lint"
npm install --prefix "$DIR" --no-save --no-audit --no-fund --silent "@biomejs/biome@$VERSION" >/dev/null
"$BIN" --version | grep -q "$VERSION"
