import { spawn } from 'node:child_process';
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
