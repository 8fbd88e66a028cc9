import { readFile, readdir } from 'node:fs/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { LocalDestination } from '../../src/destinations/local.js';
import { describeDestination } from './destination.suite.js';

describeDestination('local', async () => {
  const root = mkdtempSync(join(tmpdir(), 'lading-dest-local-'));
  return {
    destination: new LocalDestination(root, true),
    list: async () => (await readdir(root, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => relative(root, join(e.parentPath ?? e.path, e.name))),
    read: (name) => readFile(join(root, name)),
    cleanup: async () => rmSync(root, { recursive: true, force: true }),
  };
});
