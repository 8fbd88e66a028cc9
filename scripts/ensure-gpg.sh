#!/usr/bin/env bash
# Makes GnuPG (`gpg`) available for the tests: the pgp codec tests generate throwaway keys with
# gpg and decrypt and verify lading's output with it. Call from scripts/test.sh before the tests.
#
#   1. `gpg` is on PATH: nothing to do.
#   2. Running as root with apt-get: install the Debian package gnupg (gpg, gpg-agent, gpgconf).
#   3. Otherwise: say how to install it and exit 1.
# Progress and reasons go to stderr.
set -euo pipefail

log() { echo "ensure-gpg: $*" >&2; }

if command -v gpg >/dev/null 2>&1; then
  exit 0
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  log "gpg is missing; installing the gnupg package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends gnupg >&2
  command -v gpg >/dev/null 2>&1 && exit 0
  log "apt-get installed gnupg but gpg is still not on PATH"
  exit 1
fi

log "gpg is missing and cannot be installed from here (needs root and apt-get)."
log "install GnuPG (Debian/Ubuntu: sudo apt-get install gnupg; macOS: brew install gnupg) and run the tests again."
exit 1
