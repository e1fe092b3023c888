#!/bin/sh
# Fetches axe-core (the accessibility checker the browser tests run in the page) from npm into
# .cache/axe-core, only if it is missing (scripts/npm-into-cache.sh). Pinned; tests/browser
# injects its axe.min.js through WebDriver.
exec "$(dirname "$0")/npm-into-cache.sh" axe-core 4.14.1 "the browser tests"
