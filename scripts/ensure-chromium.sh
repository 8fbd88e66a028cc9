#!/usr/bin/env bash
# Makes Debian's chromium available to the dashboard browser tests (playwright-core drives it;
# no browser is downloaded from Playwright's CDN). Prints the executable's path on stdout.
# Call from scripts/test.sh before the tests.
#
#   1. /usr/bin/chromium exists: print it.
#   2. Running as root with apt-get: install the Debian package chromium, quietly, then print it.
#   3. Otherwise: say why on stderr and exit 0 printing nothing; test/browser skips its tests
#      with that reason (LADING_TEST_CHROMIUM unset or missing).
# Progress and reasons go to stderr.
set -euo pipefail

log() { echo "ensure-chromium: $*" >&2; }

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
  echo "$CHROMIUM"
  exit 0
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  log "$CHROMIUM is missing; installing the chromium package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends chromium >&2
  if [ -x "$CHROMIUM" ]; then
    echo "$CHROMIUM"
    exit 0
  fi
  log "apt-get installed chromium but $CHROMIUM is still missing"
  exit 1
fi

log "$CHROMIUM is missing and cannot be installed from here (needs root and apt-get): the browser tests will be skipped."
log "install it (Debian/Ubuntu: sudo apt-get install chromium) to run them."
exit 0
