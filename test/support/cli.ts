import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const ladingBin = fileURLToPath(new URL('../../bin/lading.js', import.meta.url));

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built CLI (bin/lading.js → dist) as a child process, as a user would. */
export function lading(args: readonly string[], opts: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ladingBin, ...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

export const lastJsonLine = <T>(text: string): T => JSON.parse(text.trimEnd().split('\n').at(-1)!) as T;

export interface ServerProcess {
  readonly child: ChildProcess;
  /** The base URL the process printed (`listening on http://…`). */
  readonly url: string;
  /** The exit code (null after a signal), once the process has ended. */
  readonly exited: Promise<number | null>;
  /** The last 64 KB the process wrote on stderr (a long-running server logs every request there). */
  stderr(): string;
}

const stderrKept = 64 * 1024;

/** Starts a Node process that serves HTTP and resolves once it printed `listening on <url>`. */
export async function startServer(args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    if (stderr.length > 2 * stderrKept) stderr = stderr.slice(-stderrKept);
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match) resolve(match[1]!);
    });
    void exited.then((code) => reject(new Error(`${args.join(' ')} exited ${code} before listening: ${stderr.slice(-stderrKept)}`)));
  });
  return { child, url, exited, stderr: () => stderr.slice(-stderrKept) };
}

/** `lading serve … --port 0` from the built CLI, as a user runs it. */
export const startServe = (args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ServerProcess> =>
  startServer([ladingBin, 'serve', '--port', '0', ...args], opts);
