-- Staged files kept in the store (LADING_STAGING=database, docs/scale-out.md): a file whose
-- delivery failed or was held back, readable by whichever process retries it.
CREATE TABLE staged_files (
  key        TEXT PRIMARY KEY,
  bytes      BLOB NOT NULL,
  sha256     TEXT NOT NULL,
  created_at TEXT NOT NULL
);
