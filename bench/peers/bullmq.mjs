// Peer for the executor benchmark: BullMQ on a loopback Redis doing the work lading's no-op
// handler does. Usage: node bench/peers/bullmq.mjs <leads.ndjson> <jobs> <leads-per-job>
// Adds the jobs (addBulk, 1,000 at a time) while a concurrency-50 worker processes them with a
// no-op; prints elapsed seconds when every job has completed.
import { Queue, Worker } from 'bullmq';
import { addJobs } from './add-jobs.mjs';

const [file, jobsArg, perJobArg] = process.argv.slice(2);
const jobs = Number(jobsArg);
const perJob = Number(perJobArg);
const connection = { host: process.env.REDIS_HOST ?? '127.0.0.1', port: Number(process.env.REDIS_PORT ?? 6379) };
const name = `lading-bench-${process.pid}`;
const queue = new Queue(name, { connection });
await queue.obliterate({ force: true }).catch(() => {});

const started = performance.now();
let done = 0;
const finished = new Promise((resolve, reject) => {
  const worker = new Worker(name, async () => {}, { connection, concurrency: 50 });
  worker.on('error', reject);
  worker.on('completed', () => {
    if (++done === jobs) resolve(worker);
  });
});
finished.catch((error) => {
  console.error(`bullmq peer failed: ${error.message}`);
  process.exit(1);
});

await addJobs(file, jobs, perJob, (data) => ({ name: 'lead', data, opts: { removeOnComplete: true } }), (batch) => queue.addBulk(batch));
const worker = await finished;
const seconds = (performance.now() - started) / 1000;
await worker.close();
await queue.obliterate({ force: true }).catch(() => {});
await queue.close();
console.log(JSON.stringify({ jobs, per_job: perJob, items: jobs * perJob, seconds }));
// Closed, yet the process lingered 0.1-3 s more (ioredis's connections winding down) before
// exiting: idle time the bench's wall clock would count against the peer. The work is done here.
process.exit(0);
