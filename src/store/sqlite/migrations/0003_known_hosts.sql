-- 0003_known_hosts: host keys seen by SFTP destinations without a configured host_key
-- (trust on first use): the first key is recorded, a later different key is refused.
CREATE TABLE known_hosts (
  host        TEXT PRIMARY KEY,   -- host:port
  key_type    TEXT NOT NULL,
  fingerprint TEXT NOT NULL,      -- SHA256:<base64>, as ssh-keygen -l prints it
  first_seen  TEXT NOT NULL
);
