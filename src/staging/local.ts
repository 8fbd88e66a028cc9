import { createReadStream } from 'node:fs';
import { access, rm } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import type { StagingBackend } from './types.js';

/** Files stay under the data dir of the machine that rendered them: only that machine can retry them. */
export const localStaging: StagingBackend = {
  description: 'local',
  owns: (ref) => isAbsolute(ref),
  keep: async (_id, path) => path,
  // Opened on first read: a put that fails before reading leaves no stream open behind.
  read: async function* (ref) {
    yield* createReadStream(ref) as AsyncIterable<Buffer>;
  },
  has: (ref) => access(ref).then(() => true, () => false),
  remove: (ref) => rm(ref, { force: true }),
};
