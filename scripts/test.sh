#!/usr/bin/env bash
# The one test command (README and CI): installs what the tests need on a fresh machine,
# builds, type-checks, checks the generated docs, then runs every test.
# Arguments filter test files by path: scripts/test.sh formats store
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== installing npm packages (npm ci; better-sqlite3 compiles from source when no prebuilt binary can be fetched)"
  npm ci --no-audit --no-fund
fi

echo "== test services"
# A real PostgreSQL for the sql sink/source and PostgreSQL store tests (a running one, else a private cluster), GnuPG
# to decrypt and verify what the pgp codec wrote, sshd for SFTP, and chromium for the dashboard.
LADING_TEST_POSTGRES_URL="$(bash scripts/ensure-postgres.sh)"
export LADING_TEST_POSTGRES_URL
echo "postgres: ${LADING_TEST_POSTGRES_URL%%@*}@…"
bash scripts/ensure-gpg.sh
# OpenSSH's sshd for the SFTP destination tests (each test starts its own on a free port).
bash scripts/ensure-sshd.sh
# Debian's chromium for the dashboard's browser tests (playwright-core drives it; they are skipped, saying why, without it).
LADING_TEST_CHROMIUM="$(bash scripts/ensure-chromium.sh)"
export LADING_TEST_CHROMIUM

echo "== build"
npm run --silent build
echo "== typecheck"
npm run --silent typecheck

echo "== tests"
node scripts/run-tests.mjs "$@"
