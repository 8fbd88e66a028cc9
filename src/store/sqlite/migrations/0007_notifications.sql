-- 0007_notifications: what the notify channels were asked to send, and the state that
-- de-duplicates them across processes sharing the store.

-- A breached rule stays breached until a run clears it; `consecutive` counts the breaches in a
-- row (PagerDuty's after_consecutive_failures).
CREATE TABLE notify_rules (
  pipeline    TEXT NOT NULL,
  rule        TEXT NOT NULL,
  breached_at TEXT,
  consecutive INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (pipeline, rule)
);

-- Per channel: when this rule was last told (rate limit), and whether an alert went out that
-- still owes a recovery message.
CREATE TABLE notify_channels (
  pipeline     TEXT NOT NULL,
  rule         TEXT NOT NULL,
  channel      TEXT NOT NULL,
  last_sent_at TEXT,
  open         INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (pipeline, rule, channel)
);

-- Every notification a channel was asked for, sent or not; never a credential.
CREATE TABLE notifications (
  id       INTEGER PRIMARY KEY,
  pipeline TEXT NOT NULL,
  run_id   TEXT,
  event    TEXT NOT NULL,          -- alert | recovery | success
  rule     TEXT,
  channel  TEXT NOT NULL,          -- email | slack | webhook | pagerduty
  target   TEXT NOT NULL,
  status   TEXT NOT NULL,          -- sent | failed | suppressed
  code     TEXT,
  message  TEXT NOT NULL,
  at       TEXT NOT NULL
);
CREATE INDEX notifications_by_pipeline ON notifications (pipeline, id);
