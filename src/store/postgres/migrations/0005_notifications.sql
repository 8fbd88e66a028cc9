-- 0005_notifications (SQLite's 0007): what the notify channels were asked to send, and the state
-- that de-duplicates them across processes sharing the store.

-- A breached rule stays breached until a run clears it; `consecutive` counts the breaches in a
-- row (PagerDuty's after_consecutive_failures).
CREATE TABLE notify_rules (
  pipeline    text NOT NULL,
  rule        text NOT NULL,
  breached_at timestamptz,
  consecutive integer NOT NULL DEFAULT 0,
  PRIMARY KEY (pipeline, rule)
);

-- Per channel: when this rule was last told (rate limit), and whether an alert went out that
-- still owes a recovery message.
CREATE TABLE notify_channels (
  pipeline     text NOT NULL,
  rule         text NOT NULL,
  channel      text NOT NULL,
  last_sent_at timestamptz,
  open         boolean NOT NULL DEFAULT false,
  PRIMARY KEY (pipeline, rule, channel)
);

-- Every notification a channel was asked for, sent or not; never a credential.
CREATE TABLE notifications (
  id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  pipeline text NOT NULL,
  run_id   text,
  event    text NOT NULL CHECK (event IN ('alert', 'recovery', 'success')),
  rule     text,
  channel  text NOT NULL,          -- email | slack | webhook | pagerduty
  target   text NOT NULL,
  status   text NOT NULL CHECK (status IN ('sent', 'failed', 'suppressed')),
  code     text,
  message  text NOT NULL,
  at       timestamptz NOT NULL
);
CREATE INDEX notifications_by_pipeline ON notifications (pipeline, id);
