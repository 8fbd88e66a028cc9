/**
 * The report reader thread of read-thread.ts: its own connection to the store's file, on which it
 * runs the reconciliation exactly as the store would (reconcile.ts).
 */
import { workerData } from 'node:worker_threads';
import { answerCalls } from '../../core/threads.js';
import { openConnection, statementCache } from './connection.js';
import type { ReadAnswer, ReadCall, ReadThreadSetup } from './read-thread.js';
import { reconcileOn } from './reconcile.js';

const setup = workerData as ReadThreadSetup;
const stmt = statementCache(openConnection(setup.path, { busyTimeoutMs: setup.busyTimeoutMs }));

answerCalls<ReadCall, ReadAnswer>(({ reconcile }) => ({ reconciliation: reconcileOn(stmt, reconcile) }));
