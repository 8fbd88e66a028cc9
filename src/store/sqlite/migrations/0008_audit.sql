-- 0008_audit: operator actions (pause, cancel, retry, skip, resume, flush, keys), who took them and
-- when. Actors are API key ids and owners or `cli:<user>@<host>`; never a key or a secret.
CREATE TABLE audit_log (
  id       INTEGER PRIMARY KEY,
  at       TEXT NOT NULL,
  actor    TEXT NOT NULL,
  key_id   TEXT,
  action   TEXT NOT NULL,
  target   TEXT NOT NULL,
  pipeline TEXT,
  details  TEXT
);
CREATE INDEX audit_log_by_at ON audit_log (at, id);
CREATE INDEX audit_log_by_actor ON audit_log (actor, at);
