#!/bin/sh
# Installs one pinned npm package into .cache/NAME, only if that version is missing: running it
# again does nothing. For tools the tests and benchmarks run beside the service (axe-core,
# sharp); nothing of .cache is committed, served or deployed.
#
#     scripts/npm-into-cache.sh NAME VERSION WHAT-NEEDS-IT
set -eu

NAME=$1
VERSION=$2
NEEDED_BY=$3
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR="$ROOT/.cache/$NAME"
STAMP="$DIR/node_modules/$NAME/package.json"

if [ -f "$STAMP" ] && grep -q "\"version\": \"$VERSION\"" "$STAMP"; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "npm-into-cache.sh: $NAME (for $NEEDED_BY) needs npm (Debian: apt-get install nodejs npm)" >&2
  exit 1
fi
mkdir -p "$DIR"
echo "installing $NAME $VERSION (npm) for $NEEDED_BY"
npm install --prefix "$DIR" --no-save --no-audit --no-fund --silent "$NAME@$VERSION" >/dev/null
test -f "$STAMP"
