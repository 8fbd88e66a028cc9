-- 0003_destinations: SFTP host keys trusted on first use, suspended deliveries, alerts.

-- Host keys seen by SFTP destinations without a configured host_key (trust on first use):
-- the first key is recorded, a later different key is refused.
CREATE TABLE known_hosts (
  host        TEXT PRIMARY KEY,   -- host:port
  key_type    TEXT NOT NULL,
  fingerprint TEXT NOT NULL,      -- SHA256:<base64>, as ssh-keygen -l prints it
  first_seen  TEXT NOT NULL
);

-- Deliveries of a pipeline stop after a failure that will not heal by itself (credentials,
-- permissions, host key) until an operator resumes them; records keep being ingested meanwhile.
CREATE TABLE delivery_state (
  pipeline     TEXT PRIMARY KEY,
  suspended_at TEXT,
  code         TEXT,
  reason       TEXT
);

-- Events for the notify channels (email, Slack, webhook, PagerDuty) of a later issue.
CREATE TABLE alerts (
  id       INTEGER PRIMARY KEY,
  pipeline TEXT NOT NULL,
  run_id   TEXT,
  kind     TEXT NOT NULL,          -- deliveries_suspended | deliveries_resumed | …
  code     TEXT,
  message  TEXT NOT NULL,
  at       TEXT NOT NULL
);
CREATE INDEX alerts_by_pipeline ON alerts (pipeline, id);

-- Each delivered file keeps how many tries its put took and how long the last one ran.
ALTER TABLE files ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;
ALTER TABLE files ADD COLUMN duration_ms INTEGER;
