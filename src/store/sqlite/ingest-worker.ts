/**
 * The ingest writer thread of ingest-thread.ts: its own connection to the store's file, on which
 * it commits API ingest requests exactly as the store would (InboxWrites), so the commit's fsync
 * blocks this thread and not the server's event loop.
 */
import { workerData } from 'node:worker_threads';
import { openConnection } from './connection.js';
import { InboxWrites } from './inbox-writes.js';
import { commitTogether, type IngestAnswer, type IngestCall, type IngestThreadSetup } from './ingest-thread.js';
import { answerWaitingCalls } from '../../core/threads.js';

const setup = workerData as IngestThreadSetup;
const writes = new InboxWrites(openConnection(setup.path, setup.options));

// The store classifies a failure on the main thread: only the message and SQLite's code cross.
// Every group already handed over when one is read is committed with it, in one transaction: the
// thread takes whatever the event loop sent while it committed the last, so groups are as large
// as the load makes them (docs/benchmarks.md, machine Y).
answerWaitingCalls<IngestCall, IngestAnswer>((calls) => commitTogether(calls, (requests, receivedAt) => writes.requests(requests, receivedAt)));
