-- 0004_triggers (SQLite's 0006): record priorities and the last fire time of each schedule trigger.

-- Records may carry a priority; a priority_count trigger cuts a batch when enough pending
-- records are at or above its min_priority. NULL = no priority.
ALTER TABLE inbox_records ADD COLUMN priority integer;

-- The last fire time a schedule trigger acted on (cut, or consumed without a cut): after a
-- restart, fires between it and now are the ones the service missed. `trigger` names the
-- schedule by its cron and timezone, so editing the schedule starts it afresh.
CREATE TABLE schedule_fires (
  pipeline  text NOT NULL,
  trigger   text NOT NULL,
  last_fire timestamptz NOT NULL,
  PRIMARY KEY (pipeline, trigger)
);
