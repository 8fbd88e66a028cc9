// The destination contract against a real FTP server (ftp-srv on loopback): plain FTP and
// explicit FTPS with a self-signed certificate trusted through ca_file.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { FtpDestination, ftpConfig } from '../../src/destinations/ftp.js';
import { startFtpServer } from '../support/servers/ftp.js';
import { describeDestination } from './destination.suite.js';

for (const tls of [undefined, 'explicit'] as const) {
  describeDestination(tls ? 'ftp (explicit FTPS)' : 'ftp', async () => {
    const server = await startFtpServer(tls ? { tls } : {});
    const config = ftpConfig.parse({
      type: 'ftp', host: server.host, port: server.port, username: server.username, password: server.password,
      remote_path: '/outbound/partner', timeout: '10s',
      ...(tls ? { secure: tls, ca_file: server.caFile } : {}),
    });
    const dir = join(server.root, 'outbound/partner');
    return {
      destination: new FtpDestination(config, process.cwd()),
      list: async () => existsSync(dir)
        ? (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath ?? e.path, e.name)))
        : [],
      read: (name) => readFile(join(dir, name)),
      cleanup: () => server.stop(),
    };
  });
}
