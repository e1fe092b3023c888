#!/bin/sh
# Fetches sharp (the Node.js image library AWS's own image handlers run) from npm into
# .cache/sharp, only if it is missing (scripts/npm-into-cache.sh). Pinned; its libvips comes as
# npm's prebuilt @img/sharp-libvips-* package, so nothing is compiled. Only `make bench` uses
# it (scripts/bench_sharp.mjs).
exec "$(dirname "$0")/npm-into-cache.sh" sharp 0.35.5 "make bench"
