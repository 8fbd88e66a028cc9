-- 0005_api_keys: API keys of `lading serve`, the key owner of jobs submitted over REST, and the
-- answers to ingest requests sent with an Idempotency-Key.

-- Only a SHA-256 hash of each key is kept: the key itself is printed once, at creation.
CREATE TABLE api_keys (
  id         TEXT PRIMARY KEY,            -- the <id> in lading_<id>_<secret>
  owner      TEXT NOT NULL,
  scopes     TEXT NOT NULL,               -- JSON array: ingest:<pipeline|*>, jobs:read, jobs:write, admin
  hash       TEXT NOT NULL,               -- hex SHA-256 of the whole key
  created_at TEXT NOT NULL,
  revoked_at TEXT
);

-- The owner of the API key that submitted the run: jobs are visible to keys of the same owner.
ALTER TABLE runs ADD COLUMN submitted_by TEXT;

-- A re-sent ingest request (same pipeline and Idempotency-Key) gets the first answer again and
-- stores nothing; written in the transaction that stores the request's records.
CREATE TABLE ingest_requests (
  pipeline    TEXT NOT NULL,
  request_key TEXT NOT NULL,
  accepted    INTEGER NOT NULL,
  duplicates  INTEGER NOT NULL,
  extra       TEXT,                       -- JSON the API keeps with the answer (the rejected records)
  received_at TEXT NOT NULL,
  PRIMARY KEY (pipeline, request_key)
) WITHOUT ROWID;
