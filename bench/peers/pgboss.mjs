// Peer for the executor benchmark: pg-boss 10 on the same PostgreSQL doing the work lading's no-op
// handler does. Usage: node bench/peers/pgboss.mjs <database-url> <leads.ndjson> <jobs> <leads-per-job>
// (or <database-url> --prepare, run once untimed, to create pg-boss's schema in the database).
// Adds the jobs (insert, 1,000 at a time) while 50 workers (work() called 50 times, batchSize 1:
// pg-boss 10's way to 50 jobs in flight) process them with a no-op; prints elapsed seconds when
// the database holds every job as completed.
// A pg-boss 10 worker waits out its polling interval (at least 0.5 s) after every fetch, even one
// that found a job; each handler calls notifyWorker() on its own worker so that it fetches again at
// once while jobs are there, as a BullMQ worker does. A worker with nothing to fetch polls every 0.5 s.
import PgBoss from 'pg-boss';
import { addJobs } from './add-jobs.mjs';

const [url, fileArg, jobsArg, perJobArg] = process.argv.slice(2);
const boss = new PgBoss({ connectionString: url, schedule: false, supervise: false, pollingIntervalSeconds: 0.5 });
const failed = (error) => {
  console.error(`pg-boss peer failed: ${error.message}`);
  process.exit(1);
};
boss.on('error', failed);
await boss.start();
if (fileArg === '--prepare') {
  await boss.stop({ graceful: false, wait: true });
  process.exit(0);
}

const file = fileArg;
const jobs = Number(jobsArg);
const perJob = Number(perJobArg);
const name = `lading-bench-${process.pid}`;
await boss.createQueue(name);
const db = boss.getDb();
const count = async (state) => Number((await db.executeSql(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND state = $2`, [name, state])).rows[0].n);

const started = performance.now();
let handled = 0;
let allHandled;
const handledAll = new Promise((resolve) => (allHandled = resolve));
for (let i = 0; i < 50; i++) {
  let id;
  id = await boss.work(name, { batchSize: 1, pollingIntervalSeconds: 0.5 }, async (batch) => {
    handled += batch.length;
    if (handled >= jobs) allHandled();
    if (id) boss.notifyWorker(id);
  });
}

const added = await addJobs(file, jobs, perJob, (data) => ({ name, data: Array.isArray(data) ? { leads: data } : data }), (batch) => boss.insert(batch));
if (added !== jobs) failed(new Error(`the leads file holds ${added} jobs' worth, not ${jobs}`));

// The handler has run for every job; the workers complete them without awaiting it, so the figure is
// taken when the database holds every job as completed.
await handledAll;
for (;;) {
  const completed = await count('completed');
  if (completed === jobs) break;
  if (completed > jobs) failed(new Error(`${completed} jobs completed, more than the ${jobs} added`));
  const failures = await count('failed');
  if (failures > 0) failed(new Error(`${failures} jobs failed`));
  await new Promise((resolve) => setTimeout(resolve, 20));
}
const seconds = (performance.now() - started) / 1000;
await boss.stop({ graceful: false, wait: true });
console.log(JSON.stringify({ jobs, per_job: perJob, items: jobs * perJob, seconds }));
// Stopped, yet the process lingered 1.5-3 s more (pg-boss's timers and pool) before exiting:
// idle time the bench's wall clock would count against the peer. The work is done here.
process.exit(0);
