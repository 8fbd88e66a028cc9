-- 0006_audit (SQLite's 0009): operator actions (pause, cancel, retry, skip, resume, flush, keys),
-- who took them and when. Actors are API key ids and owners or `cli:<user>@<host>`; never a key or a secret.
CREATE TABLE audit_log (
  id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at       timestamptz NOT NULL,
  actor    text NOT NULL,
  key_id   text,
  action   text NOT NULL,
  target   text NOT NULL,
  pipeline text,
  details  jsonb
);
CREATE INDEX audit_log_by_at ON audit_log (at, id);
CREATE INDEX audit_log_by_actor ON audit_log (actor, at);
