// Shared by the job-queue peers: reads the leads file and adds `jobs` jobs of `perJob` leads each,
// 1,000 jobs per bulk call, as the queues' own bulk APIs take them. Returns how many were added.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

export async function addJobs(file, jobs, perJob, job, addBulk) {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let batch = [];
  let group = [];
  let added = 0;
  for await (const line of lines) {
    if (added >= jobs) break;
    group.push(JSON.parse(line));
    if (group.length < perJob) continue;
    batch.push(job(perJob === 1 ? group[0] : group));
    group = [];
    added++;
    if (batch.length === 1000) {
      await addBulk(batch);
      batch = [];
    }
  }
  if (batch.length > 0) await addBulk(batch);
  return added;
}
