// A real FTP server (ftp-srv, in-process) on 127.0.0.1, port 0, serving a temp folder; with `tls`
// it speaks FTPS using a self-signed certificate made for the test run by Debian's openssl.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSystem, FtpSrv } from 'ftp-srv';

export interface FtpServer {
  readonly host: string;
  readonly port: number;
  /** `ftp://127.0.0.1:<port>` (or `ftps://` for implicit TLS). */
  readonly url: string;
  /** The local folder the FTP user sees as `/`. */
  readonly root: string;
  readonly username: string;
  readonly password: string;
  /** TLS modes: the PEM of the server's self-signed certificate, to give as ca_file. */
  readonly caFile?: string;
  /** Logins refused so far. */
  readonly refusedLogins: number;
  /** Sessions logged in so far. */
  readonly logins: number;
  /** Ends every open session from the server side (421, then the socket closes), as an idle timeout would. */
  dropSessions(): Promise<void>;
  /** Closes every session and the listener, and removes the root folder (unless it was given). */
  stop(): Promise<void>;
}

export interface FtpServerOptions {
  /** `explicit`: AUTH TLS on the control port; `implicit`: TLS from the first byte. */
  readonly tls?: 'explicit' | 'implicit';
  readonly username?: string;
  readonly password?: string;
  /** Serve this folder instead of a fresh temp folder. */
  readonly root?: string;
  /** Refuses an upload (STOR) of a path with a 550 reply carrying the returned text, as a partner's server refusing a file would. */
  readonly refuseUpload?: (path: string) => string | undefined;
}

interface Certificate {
  readonly certFile: string;
  readonly key: string;
  readonly cert: string;
}

let certificate: Certificate | undefined;

/** One self-signed certificate for 127.0.0.1 per test process (valid one day, IP and DNS names in subjectAltName). */
function selfSigned(): Certificate {
  if (certificate) return certificate;
  const dir = mkdtempSync(join(tmpdir(), 'lading-ftp-cert-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-days', '1',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyFile, '-out', certFile,
  ], { stdio: 'ignore' });
  certificate = { certFile, key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
  return certificate;
}

/** ftp-srv logs every command through bunyan by default; tests want silence. */
const quiet: Record<string, unknown> = {};
for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal']) quiet[level] = () => {};
quiet.child = () => quiet;

const signals = ['SIGTERM', 'SIGINT', 'SIGQUIT'] as const;

export async function startFtpServer(options: FtpServerOptions = {}): Promise<FtpServer> {
  const username = options.username ?? 'partner';
  const password = options.password ?? 'ftp-secret-Pa55';
  const root = options.root ?? mkdtempSync(join(tmpdir(), 'lading-ftp-root-'));
  const tls = options.tls && selfSigned();
  // Passive data ports from a random window, so test files running side by side rarely probe the same ports.
  const pasvMin = 20_000 + Math.floor(Math.random() * 40_000);
  const before = new Map(signals.map((s) => [s, new Set(process.listeners(s))]));
  const server = new FtpSrv({
    url: `${options.tls === 'implicit' ? 'ftps' : 'ftp'}://127.0.0.1:0`,
    pasv_url: '127.0.0.1',
    pasv_min: pasvMin,
    pasv_max: pasvMin + 500,
    anonymous: false,
    tls: tls ? { key: tls.key, cert: tls.cert } : false,
    log: quiet,
  });
  // ftp-srv exits the process on SIGTERM/SIGINT; a test process keeps its own handling.
  for (const s of signals) for (const listener of process.listeners(s)) if (!before.get(s)!.has(listener)) process.removeListener(s, listener);
  let refused = 0;
  let logins = 0;
  server.on('login', ({ connection, username: user, password: pass }, resolve, reject) => {
    if (user === username && pass === password) {
      logins++;
      resolve(options.refuseUpload ? { fs: new RefusingFs(connection, root, options.refuseUpload) } : { root });
    } else {
      refused++;
      reject(new Error('Invalid username or password'));
    }
  });
  await server.listen();
  const { port } = ((server as unknown as { server: Server }).server.address() as AddressInfo);
  let stopped = false;
  return {
    host: '127.0.0.1',
    port,
    url: `${options.tls === 'implicit' ? 'ftps' : 'ftp'}://127.0.0.1:${port}`,
    root,
    username,
    password,
    ...(tls ? { caFile: tls.certFile } : {}),
    get refusedLogins() {
      return refused;
    },
    get logins() {
      return logins;
    },
    async dropSessions() {
      const { connections } = server as unknown as { connections: Record<string, { close(): Promise<unknown> }> };
      await Promise.all(Object.values(connections).map((c) => c.close()));
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.close();
      if (options.root === undefined) rmSync(root, { recursive: true, force: true });
    },
  };
}

/** ftp-srv answers a write that throws with `550 <message>`. */
class RefusingFs extends FileSystem {
  constructor(connection: ConstructorParameters<typeof FileSystem>[0], root: string, private readonly refuse: (path: string) => string | undefined) {
    super(connection, { root, cwd: '/' });
  }

  override write(fileName: string, options?: { append?: boolean; start?: unknown }) {
    const refusal = this.refuse(fileName);
    if (refusal !== undefined) throw new Error(refusal);
    return super.write(fileName, options);
  }
}
