-- Run by output.init_files each time the pipeline runs: it must be safe to run again.
CREATE TABLE IF NOT EXISTS contacts (
  email TEXT PRIMARY KEY,
  name  TEXT NOT NULL,
  age   INTEGER CHECK (age BETWEEN 0 AND 150),
  plan  TEXT NOT NULL
);
