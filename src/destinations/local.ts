import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, mkdir, open, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { defineDestination } from '../core/component.js';
import { classify } from '../errors/classify.js';
import { ladingError } from '../errors/lading-error.js';
import type { Destination, PutOptions, PutReceipt } from './types.js';

export const localConfig = z.object({
  type: z.literal('local'),
  path: z.string().min(1).describe('Folder the files land in; relative paths resolve against the pipeline file\'s folder.'),
  create_dirs: z.boolean().default(true).describe('Create the folder (and sub-folders a naming pattern implies) when missing.'),
}).strict().meta({ id: 'destination.local' });

export type LocalConfig = z.output<typeof localConfig>;

export const local = defineDestination({
  type: 'local',
  summary: 'A folder on this machine: written as <name>.tmp, fsynced, verified, then renamed.',
  schema: localConfig,
  create: (config, ctx) => new LocalDestination(resolve(ctx.baseDir, config.path), config.create_dirs),
});

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export class LocalDestination implements Destination {
  readonly type = 'local';
  readonly description: string;

  constructor(private readonly root: string, private readonly createDirs: boolean) {
    this.description = `local:${root}`;
  }

  async put(name: string, body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: PutOptions): Promise<PutReceipt> {
    const final = join(this.root, name);
    const doing = `writing ${final}`;
    try {
      await this.ensureDir(dirname(final));
      const existing = await this.stat(name);
      if (existing && opts.onCollision !== 'overwrite') {
        const identical = opts.onCollision === 'skip_if_identical' && opts.expected !== undefined
          && existing.bytes === opts.expected.bytes && existing.sha256 === opts.expected.sha256;
        if (!identical) throw this.collision(final);
        return { uri: pathToFileURL(final).href, bytes: existing.bytes, sha256: existing.sha256!, attempts: 1, skipped: true };
      }
      const temp = `${final}.tmp`;
      const written = await this.writeTemp(temp, body, opts.signal);
      if (opts.expected && (written.bytes !== opts.expected.bytes || written.sha256 !== opts.expected.sha256)) {
        await rm(temp, { force: true });
        throw ladingError('DEST_VERIFY_MISMATCH', `${final}: wrote ${written.bytes} bytes sha256 ${written.sha256}, expected ${opts.expected.bytes} bytes sha256 ${opts.expected.sha256}`);
      }
      await opts.onUploaded?.(`${name}.tmp`);
      await this.publish(temp, final, opts.onCollision === 'overwrite');
      return { uri: pathToFileURL(final).href, ...written, attempts: 1, skipped: false };
    } catch (error) {
      throw classify(error, { ioCode: 'DEST_WRITE_FAILED', doing });
    }
  }

  async stat(name: string): Promise<{ bytes: number; sha256?: string } | null> {
    const path = join(this.root, name);
    try {
      const info = await stat(path);
      return { bytes: info.size, sha256: await sha256File(path) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw classify(error, { ioCode: 'DEST_WRITE_FAILED', doing: `reading ${path}` });
    }
  }

  async completePut(name: string, expected: { readonly bytes: number; readonly sha256: string }): Promise<boolean> {
    const final = join(this.root, name);
    const temp = `${final}.tmp`;
    try {
      const left = await this.stat(`${name}.tmp`);
      if (!left || left.bytes !== expected.bytes || left.sha256 !== expected.sha256) return false;
      await this.publish(temp, final, false);
      return true;
    } catch (error) {
      throw classify(error, { ioCode: 'DEST_WRITE_FAILED', doing: `renaming ${temp}` });
    }
  }

  async remove(name: string): Promise<boolean> {
    const path = join(this.root, name);
    try {
      await unlink(path);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw classify(error, { ioCode: 'DEST_WRITE_FAILED', doing: `removing ${path}` });
    }
  }

  async healthcheck(): Promise<void> {
    const probe = join(this.root, `.lading-probe-${randomBytes(6).toString('hex')}`);
    try {
      await this.ensureDir(this.root);
      const handle = await open(probe, 'wx');
      await handle.close();
      await unlink(probe);
    } catch (error) {
      throw classify(error, { ioCode: 'DEST_WRITE_FAILED', doing: `probing ${this.root} for writes` });
    }
  }

  async close(): Promise<void> {}

  private async ensureDir(dir: string): Promise<void> {
    if (this.createDirs) await mkdir(dir, { recursive: true });
  }

  private collision(final: string) {
    return ladingError('DEST_COLLISION', `${final} already exists with different content`);
  }

  /** Writes and fsyncs the temp file, hashing what is written. */
  private async writeTemp(temp: string, body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, signal: AbortSignal) {
    const hash = createHash('sha256');
    let bytes = 0;
    const handle = await open(temp, 'w');
    try {
      for await (const chunk of body) {
        signal.throwIfAborted();
        hash.update(chunk);
        bytes += chunk.byteLength;
        await handle.write(chunk);
      }
      await handle.sync();
    } catch (error) {
      await handle.close();
      await rm(temp, { force: true });
      throw error;
    }
    await handle.close();
    return { bytes, sha256: hash.digest('hex') };
  }

  /**
   * The final name appears only when the bytes are complete and synced. Without overwrite,
   * link() refuses an existing name atomically, so two writers cannot both win.
   */
  private async publish(temp: string, final: string, overwrite: boolean): Promise<void> {
    if (overwrite) {
      await rename(temp, final);
    } else {
      try {
        await link(temp, final);
      } catch (error) {
        await rm(temp, { force: true });
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw this.collision(final);
        throw error;
      }
      await unlink(temp);
    }
    const dir = await open(dirname(final), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
