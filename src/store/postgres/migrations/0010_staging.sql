-- Staged files kept in the store (LADING_STAGING=database, docs/scale-out.md): a file whose
-- delivery failed or was held back, readable by whichever worker retries it, on any machine.
CREATE TABLE staged_files (
  key        text PRIMARY KEY,
  bytes      bytea NOT NULL,
  sha256     text NOT NULL,
  created_at timestamptz NOT NULL
);
