/**
 * The ingest writer thread of ingest-thread.ts: its own connection to the store's file, on which
 * it commits API ingest requests exactly as the store would (InboxWrites), so the commit's fsync
 * blocks this thread and not the server's event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openConnection } from './connection.js';
import { InboxWrites } from './inbox-writes.js';
import { unpack, type IngestAnswer, type IngestCall, type IngestThreadSetup } from './ingest-thread.js';
import { toThreadError, type Called } from '../../core/threads.js';

const setup = workerData as IngestThreadSetup;
const writes = new InboxWrites(openConnection(setup.path, setup.options));

parentPort!.on('message', ({ id, requests, receivedAt }: Called<IngestCall>) => {
  let answer: Called<IngestAnswer>;
  try {
    answer = { id, outcomes: writes.requests(requests.map(unpack), receivedAt) };
  } catch (error) {
    // The store classifies it on the main thread: only the message and SQLite's code cross.
    answer = { id, error: toThreadError(error) };
  }
  parentPort!.postMessage(answer);
});
