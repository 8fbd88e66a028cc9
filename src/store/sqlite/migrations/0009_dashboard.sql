-- 0009_dashboard: the dashboard's throughput chart sums chunk commits of the last hours across runs.
CREATE INDEX run_chunks_by_committed ON run_chunks (committed_at);
