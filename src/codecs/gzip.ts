import { constants, createGzip } from 'node:zlib';
import { z } from 'zod';
import { defineCodec } from '../core/component.js';

export const gzipConfig = z.object({
  type: z.literal('gzip'),
  level: z.number().int().min(0).max(9).default(6).describe('Compression level: 1 fastest, 9 smallest, 0 stored.'),
}).strict().meta({ id: 'codec.gzip' });

/**
 * zlib's deflateBound plus the gzip wrapper (18 bytes), the empty stored block a sync flush
 * may add (5) and the final block; an upper bound on what `pending` input bytes can become.
 */
export function gzipBound(pending: number): number {
  return pending + (pending >>> 12) + (pending >>> 14) + (pending >>> 25) + 13 + 18 + 5 + 8;
}

export const gzip = defineCodec({
  type: 'gzip',
  role: 'compression',
  summary: 'gzip compression (RFC 1952), streamed; output is deterministic for the same input and level.',
  schema: gzipConfig,
  create: (config) => ({
    extension: 'gz',
    create() {
      // Output in 64 KiB pieces (zlib's default is 16): a slab of the file sink (256 KiB of
      // text) then comes back in one round trip to the thread pool, not four. The bytes are the same.
      const stream = createGzip({ level: config.level, chunkSize: 64 * 1024 });
      return {
        stream,
        bound: gzipBound,
        sizeBound: gzipBound,
        flush: () => new Promise<void>((resolve) => stream.flush(constants.Z_SYNC_FLUSH, () => resolve())),
      };
    },
  }),
});
