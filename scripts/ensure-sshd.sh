#!/usr/bin/env bash
# Makes OpenSSH's server (`/usr/sbin/sshd`) available for the tests: the sftp destination tests
# start a private sshd on a loopback port (test/support/servers/sshd.ts), with its own config,
# host key and authorized_keys in a temp dir. Nothing system-wide is configured or started.
# Call from scripts/test.sh before the tests; bench/run.ts calls it before the SFTP benchmark.
#
#   1. /usr/sbin/sshd exists: nothing to install.
#   2. Running as root with apt-get: install the Debian package openssh-server (without
#      starting the system service: policy-rc.d refuses it for the duration of the install).
#   3. Otherwise: say how to install it and exit 1.
# As root it also creates /run/sshd, the privilege separation directory sshd refuses to start
# without (the Debian service creates it at boot; containers often lack it).
# Progress and reasons go to stderr.
set -euo pipefail

log() { echo "ensure-sshd: $*" >&2; }

SSHD=/usr/sbin/sshd

privsep_dir() {
  if [ "$(id -u)" = "0" ] && [ ! -d /run/sshd ]; then
    mkdir -p /run/sshd && chmod 0755 /run/sshd
  fi
}

if [ -x "$SSHD" ]; then
  privsep_dir
  exit 0
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  log "$SSHD is missing; installing the openssh-server package"
  export DEBIAN_FRONTEND=noninteractive
  # Keep the package's post-install from starting a system sshd on port 22.
  created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
  fi
  trap 'if [ "$created_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends openssh-server >&2
  if [ -x "$SSHD" ]; then
    privsep_dir
    exit 0
  fi
  log "apt-get installed openssh-server but $SSHD is still missing"
  exit 1
fi

log "$SSHD is missing and cannot be installed from here (needs root and apt-get)."
log "install OpenSSH's server (Debian/Ubuntu: sudo apt-get install openssh-server; macOS: sshd ships with the system) and run the tests again."
exit 1
