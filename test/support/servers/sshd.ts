// A real OpenSSH sshd on loopback for the sftp destination tests (STYLE.md: real servers on
// loopback) and the SFTP delivery benchmark (bench/run.ts). Debian's /usr/sbin/sshd
// (scripts/ensure-sshd.sh installs openssh-server when it is missing) runs in the foreground
// with its own config, host key, authorized_keys and PidFile in a temp dir; nothing system-wide
// is configured, started or changed, except that sshd needs its privilege separation directory
// /run/sshd, which is created when missing (as the Debian service does).
//
// Who logs in: the tests run as root, and sshd can only log in users that exist in /etc/passwd.
// Rather than create a throwaway system user, the server lets root in (`PermitRootLogin yes`)
// with a generated key listed in the temp dir's authorized_keys; files land in `root`, a temp
// folder the test names as remote_path. Password authentication is switched on, but root's real
// password is never set or changed (it is locked here), so no password logs in: tests use a
// password only for the wrong-password path.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

const sshdBinary = '/usr/sbin/sshd';

export interface Sshd {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly username: string;
  /** A password that logs in, when the server can offer one: undefined here (root's password is locked and never touched). */
  readonly password: string | undefined;
  /** The client key that logs in as `username` (OpenSSH PEM text). */
  readonly privateKey: string;
  /** The same key as a file, for private_key_file. */
  readonly privateKeyPath: string;
  /** The server's current host key as `ssh-keygen -l` prints it: `SHA256:<base64>`. */
  readonly hostKeyFingerprint: string;
  /** The local folder the tests deliver into (an absolute path, the same on the server). */
  readonly root: string;
  /** TCP connections sshd has accepted since it (re)started, read from its log. */
  readonly connectionsAccepted: number;
  /** Lets another public key (one authorized_keys line) log in. */
  authorize(publicKeyLine: string): void;
  /** Kills every session process: clients see their connection drop; the listener keeps accepting. */
  dropConnections(): Promise<void>;
  /** Stops the listener and every session; the port refuses connections until restart(). */
  halt(): Promise<void>;
  /** Starts sshd again on the same port; with newHostKey it first generates another host key. */
  restart(opts?: { readonly newHostKey?: boolean }): Promise<void>;
  /** Stops sshd and removes its temp dir. */
  stop(): Promise<void>;
}

export interface SshdOptions {
  /** The sftp subsystem command; default `internal-sftp`. `internal-sftp -R` serves read-only (writes get PERMISSION_DENIED). */
  readonly sftpServer?: string;
  /** Extra sshd_config lines, e.g. `Ciphers aes128-ctr`. */
  readonly config?: readonly string[];
}

/** Generates a key pair with ssh-keygen; returns the private key path. */
export function sshKeygen(path: string, opts: { readonly type?: 'ed25519' | 'rsa' | 'ecdsa'; readonly passphrase?: string; readonly comment?: string } = {}): string {
  rmSync(path, { force: true });
  rmSync(`${path}.pub`, { force: true });
  run('ssh-keygen', ['-q', '-t', opts.type ?? 'ed25519', '-N', opts.passphrase ?? '', '-C', opts.comment ?? 'lading-test', '-f', path]);
  return path;
}

/** `SHA256:<base64>` of a public key file, as `ssh-keygen -l` prints it. */
export function fingerprintOf(publicKeyPath: string): string {
  const out = run('ssh-keygen', ['-l', '-E', 'sha256', '-f', publicKeyPath]);
  const match = /\b(SHA256:[A-Za-z0-9+/=]+)/.exec(out);
  if (!match) throw new Error(`ssh-keygen -l printed no fingerprint: ${out}`);
  return match[1]!;
}

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return result.stdout;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Every process below `pid` (sshd forks one monitor per connection, which forks the session). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // pid (comm) state ppid …; comm may hold spaces and parentheses, so read after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const child of children.get(p) ?? []) {
      out.push(child);
      walk(child);
    }
  };
  walk(pid);
  return out;
}

/** Neither gone nor a zombie. A process can exit between any two reads of /proc, so none is trusted alone. */
function isRunning(pid: number): boolean {
  try {
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Starts a private sshd on 127.0.0.1 and a free port; see the file comment for who logs in. */
export async function startSshd(options: SshdOptions = {}): Promise<Sshd> {
  if (!existsSync(sshdBinary)) throw new Error(`${sshdBinary} is missing: run scripts/ensure-sshd.sh (installs openssh-server)`);
  // As root, sshd refuses to start without its privilege separation directory (scripts/ensure-sshd.sh creates it too).
  if (process.getuid?.() === 0 && !existsSync('/run/sshd')) mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const dir = mkdtempSync(join(tmpdir(), 'lading-sshd-'));
  const root = join(dir, 'files');
  mkdirSync(root);
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  const clientKey = join(dir, 'client_key');
  const authorizedKeys = join(dir, 'authorized_keys');
  const configPath = join(dir, 'sshd_config');
  sshKeygen(hostKey, { comment: 'lading-test-host' });
  sshKeygen(clientKey, { comment: 'lading-test-client' });
  writeFileSync(authorizedKeys, readFileSync(`${clientKey}.pub`), { mode: 0o600 });
  const username = userInfo().username;
  let hostKeyFingerprint = fingerprintOf(`${hostKey}.pub`);
  let port = 0;
  let child: ChildProcess | undefined;
  let log = '';

  const writeConfig = () => writeFileSync(configPath, [
    'ListenAddress 127.0.0.1',
    `Port ${port}`,
    `HostKey ${hostKey}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${authorizedKeys}`,
    'UsePAM no',
    'StrictModes no',
    'PermitRootLogin yes',
    'PubkeyAuthentication yes',
    'PasswordAuthentication yes',
    'KbdInteractiveAuthentication no',
    `Subsystem sftp ${options.sftpServer ?? 'internal-sftp'}`,
    'LogLevel VERBOSE',
    // Enough room for the tests' parallel connections.
    'MaxStartups 100',
    'MaxSessions 100',
    ...(options.config ?? []),
    '',
  ].join('\n'));

  /** Starts sshd on `port`; resolves once it listens, rejects with its log when it exits first. */
  const launch = () => new Promise<void>((resolve, reject) => {
    writeConfig();
    log = '';
    const proc = spawn(sshdBinary, ['-D', '-e', '-f', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    // A test process that ends without stop() (a crash, process.exit) must not leave sshd running.
    const reap = () => {
      kill(proc.pid!, 'SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    };
    process.once('exit', reap);
    proc.once('exit', () => process.off('exit', reap));
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (text: string) => {
      log += text;
      if (log.includes(`Server listening on 127.0.0.1 port ${port}`)) resolve();
    });
    proc.once('error', reject);
    proc.once('exit', (code, signal) => reject(new Error(`sshd exited (${code ?? signal}) before listening:\n${log}`)));
  });

  const halt = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    for (const pid of descendants(proc.pid!)) kill(pid, 'SIGKILL');
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    kill(proc.pid!, 'SIGTERM');
    await exited;
  };

  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (error) {
      // Another process may have taken the free port between the probe and sshd's bind.
      if (attempt >= 5 || !log.includes('Address already in use')) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }

  return {
    host: '127.0.0.1',
    get port() {
      return port;
    },
    username,
    password: undefined,
    privateKey: readFileSync(clientKey, 'utf8'),
    privateKeyPath: clientKey,
    get hostKeyFingerprint() {
      return hostKeyFingerprint;
    },
    root,
    get connectionsAccepted() {
      return log.split('\n').filter((line) => line.startsWith('Connection from ')).length;
    },
    authorize(publicKeyLine: string) {
      appendFileSync(authorizedKeys, `${publicKeyLine.trim()}\n`);
    },
    async dropConnections() {
      if (!child?.pid) return;
      const sessions = descendants(child.pid);
      for (const pid of sessions) kill(pid, 'SIGKILL');
      // Wait until the kernel has reaped them, so the drop has happened when this resolves.
      for (let i = 0; i < 200 && sessions.some(isRunning); i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    halt,
    async restart(opts = {}) {
      await halt();
      if (opts.newHostKey) {
        sshKeygen(hostKey, { comment: 'lading-test-host-2' });
        hostKeyFingerprint = fingerprintOf(`${hostKey}.pub`);
      }
      await launch();
    },
    async stop() {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
