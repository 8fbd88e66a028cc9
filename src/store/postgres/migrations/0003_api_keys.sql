-- 0003_api_keys (SQLite's 0005): API keys of `lading serve`, the key owner of jobs submitted over
-- REST, and the answers to ingest requests sent with an Idempotency-Key.

-- Only a SHA-256 hash of each key is kept: the key itself is printed once, at creation.
CREATE TABLE api_keys (
  id         text PRIMARY KEY,            -- the <id> in lading_<id>_<secret>
  owner      text NOT NULL,
  scopes     jsonb NOT NULL,              -- array: ingest:<pipeline|*>, jobs:read, jobs:write, admin (arrays keep their order in jsonb)
  hash       text NOT NULL,               -- hex SHA-256 of the whole key
  created_at timestamptz NOT NULL,
  revoked_at timestamptz
);

-- The owner of the API key that submitted the run: jobs are visible to keys of the same owner.
ALTER TABLE runs ADD COLUMN submitted_by text;
CREATE INDEX runs_by_submitter ON runs (submitted_by, created_at DESC, id DESC) WHERE submitted_by IS NOT NULL;

-- A re-sent ingest request (same pipeline and Idempotency-Key) gets the first answer again and
-- stores nothing; written in the transaction that stores the request's records (its row is
-- inserted first, so a concurrent re-send waits for that transaction, then replays its answer).
CREATE TABLE ingest_requests (
  pipeline    text NOT NULL,
  request_key text NOT NULL,
  accepted    bigint NOT NULL,
  duplicates  bigint NOT NULL,
  extra       json,                       -- what the API keeps with the answer (the rejected records), as written
  received_at timestamptz NOT NULL,
  PRIMARY KEY (pipeline, request_key)
);
