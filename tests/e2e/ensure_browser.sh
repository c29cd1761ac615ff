#!/usr/bin/env bash
# Makes sure Debian's chromium is there for the browser tests (tests/e2e). As root, a missing one is
# installed with apt-get; otherwise a missing one is reported, and under CI=true that fails.
# Playwright's own browser download is never used.
set -euo pipefail

browser="${CHROMIUM_PATH:-/usr/bin/chromium}"
[ -x "$browser" ] && exit 0

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure_browser: installing Debian's chromium with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
    [ -x "$browser" ] && exit 0
fi

echo "ensure_browser: $browser is missing; install it (apt-get install chromium) to run tests/e2e" >&2
if [ "${CI:-}" = "true" ]; then
    exit 1
fi
exit 0
