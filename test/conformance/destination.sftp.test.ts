import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before } from 'node:test';
import { sftpConfig, SftpDestination } from '../../src/destinations/sftp.js';
import { openSqliteStore, type SqliteStore } from '../../src/store/sqlite/store.js';
import { startSshd, type Sshd } from '../support/servers/sshd.js';
import { describeDestination } from './destination.suite.js';

// The shared destination contract against a real OpenSSH sshd on loopback (test/support/servers/sshd.ts).
let sshd: Sshd;
let store: SqliteStore;
let storeDir: string;

before(async () => {
  sshd = await startSshd();
  storeDir = mkdtempSync(join(tmpdir(), 'lading-dest-sftp-store-'));
  store = await openSqliteStore(join(storeDir, 'lading.db'));
});
after(async () => {
  await store?.close();
  await sshd?.stop();
  if (storeDir) rmSync(storeDir, { recursive: true, force: true });
});

let n = 0;
describeDestination('sftp', async () => {
  // Each test gets a fresh folder on the server; the listing is read straight from the disk sshd writes to.
  const root = join(sshd.root, `case-${++n}`);
  const config = sftpConfig.parse({
    type: 'sftp', host: sshd.host, port: sshd.port, username: sshd.username, private_key: sshd.privateKey,
    host_key: sshd.hostKeyFingerprint, remote_path: root,
  });
  return {
    destination: new SftpDestination(config, { baseDir: process.cwd(), store }),
    list: async () => {
      try {
        return (await readdir(root, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => relative(root, join(e.parentPath ?? e.path, e.name)));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw error;
      }
    },
    read: (name) => readFile(join(root, name)),
    cleanup: async () => rmSync(root, { recursive: true, force: true }),
  };
});
