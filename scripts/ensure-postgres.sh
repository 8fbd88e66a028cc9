#!/usr/bin/env bash
# Makes a PostgreSQL server reachable for the tests and prints its URL on stdout (only that):
#
#   export LADING_TEST_POSTGRES_URL="$(scripts/ensure-postgres.sh)"
#
# In order:
#   1. LADING_TEST_POSTGRES_URL is set and answers: print it.
#   2. A private cluster this script started earlier still answers: print its URL.
#   3. A server on 127.0.0.1:5432 lets user postgres in without a password:
#      print postgres://postgres@127.0.0.1:5432/postgres.
#   4. Start a private cluster: initdb + pg_ctl in a folder under $TMPDIR, trust auth, loopback
#      only, a free port, fsync off (test data only). As root, PostgreSQL is installed from
#      Debian when missing and the cluster runs as the postgres user. It keeps running for later
#      test runs; stop it with: scripts/ensure-postgres.sh --stop
# Progress and reasons go to stderr; exit status 1 when no server can be had.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
state="${TMPDIR:-/tmp}/lading-test-postgres"
log() { echo "ensure-postgres: $*" >&2; }

# Whether the URL answers a query within a few seconds: psql when installed, else node-postgres.
answers() {
  if command -v psql >/dev/null 2>&1; then
    PGCONNECT_TIMEOUT=3 psql "$1" -Atqc 'select 1' >/dev/null 2>&1
  else
    (cd "$root" && URL="$1" node -e '
      const c = new (require("pg").Client)({ connectionString: process.env.URL, connectionTimeoutMillis: 3000 });
      c.connect().then(() => c.query("select 1")).then(() => c.end(), () => process.exit(1));' >/dev/null 2>&1)
  fi
}

bindir() {
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then pg_config --bindir; return; fi
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ]; then echo "$dir"; return; fi
  done
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; fi
}

# Runs a server binary as the cluster's owner: the postgres user when we are root (initdb refuses root).
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "${1:-}" = "--stop" ]; then
  bin="$(bindir)"
  if [ -n "$bin" ] && [ -f "$state/data/PG_VERSION" ]; then as_owner "$bin/pg_ctl" -D "$state/data" -m fast stop >&2 || true; fi
  rm -rf "$state"
  exit 0
fi

if [ -n "${LADING_TEST_POSTGRES_URL:-}" ]; then
  if answers "$LADING_TEST_POSTGRES_URL"; then echo "$LADING_TEST_POSTGRES_URL"; exit 0; fi
  log "LADING_TEST_POSTGRES_URL is set but does not answer; looking for another server"
fi

if [ -f "$state/url" ] && answers "$(cat "$state/url")"; then cat "$state/url"; exit 0; fi

local_url="postgres://postgres@127.0.0.1:5432/postgres"
if answers "$local_url"; then echo "$local_url"; exit 0; fi

bin="$(bindir)"
if [ -z "$bin" ]; then
  if [ "$(id -u)" != 0 ]; then log "no PostgreSQL server found and initdb is not installed (run as root to install it, or set LADING_TEST_POSTGRES_URL)"; exit 1; fi
  log "installing postgresql from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql >&2
  bin="$(bindir)"
  if [ -z "$bin" ]; then log "postgresql installed but initdb not found"; exit 1; fi
fi

# A stale cluster from an earlier run (server gone, folder left): start over.
if [ -d "$state" ]; then
  [ -f "$state/data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$state/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$state"
fi
mkdir -p "$state"
port="$(cd "$root" && node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')"
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir "$state" --shell /usr/sbin/nologin postgres
  chown postgres "$state"
fi
log "starting a private cluster in $state on 127.0.0.1:$port"
as_owner "$bin/initdb" -D "$state/data" -U postgres -A trust -E UTF8 --no-locale >"$state/initdb.log" 2>&1 \
  || { log "initdb failed:"; cat "$state/initdb.log" >&2; exit 1; }
as_owner "$bin/pg_ctl" -D "$state/data" -l "$state/data/server.log" -w -t 30 \
  -o "-p $port -k $state/data -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >&2 \
  || { log "the server did not start:"; cat "$state/data/server.log" >&2 || true; exit 1; }

url="postgres://postgres@127.0.0.1:$port/postgres"
if ! answers "$url"; then log "the private cluster started but does not answer at $url"; exit 1; fi
echo "$url" >"$state/url"
echo "$url"
