#!/bin/sh
# Fetches Biome (the linter and formatter for the web page's JavaScript, chalicelib/static/*.js)
# from npm into .cache/@biomejs/biome, only if it is missing (scripts/npm-into-cache.sh).
# Pinned; a single native binary with no plugins, configured by biome.json at the root.
exec "$(dirname "$0")/npm-into-cache.sh" @biomejs/biome 2.6.8 "the JavaScript lint"
