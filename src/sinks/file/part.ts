import { createHash, type Hash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { CodecStream } from '../../codecs/types.js';

/**
 * Records are gathered into slabs this large before they enter the codecs: one zlib call per
 * slab, not per record. 256 KiB rather than 64: each call is a round trip to the thread pool,
 * which on a busy machine costs the event loop more than the bytes do (docs/benchmarks.md).
 */
const slabBytes = 256 * 1024;

export interface StagedPart {
  readonly number: number;
  readonly path: string;
  readonly records: number;
  readonly bytes: number;
  readonly sha256: string;
  /** Bytes the format produced, before the codecs: with `bytes`, the compression ratio. */
  readonly encodedBytes: number;
}

/**
 * One output file being rendered into the staging folder: records → codecs → hash + byte count
 * → file. Knows, at every point, an upper bound of its final size, so split by max_bytes can
 * keep every part within the limit as the partner receives it (after compression).
 */
export class PartWriter {
  records = 0;
  private encoded = 0;
  /** The slab's pieces before the current run. */
  private slab: Uint8Array[] = [];
  private slabLength = 0;
  /**
   * Records whose bytes lie end to end in one buffer (a parse worker's block, Buffer's pool)
   * stay one run, and enter the slab as one view of it: a slab of one run is not copied.
   */
  private run: Uint8Array | undefined;
  private runEnd = 0;
  /** Input bytes whose output size is not yet known exactly (not flushed through the codecs). */
  private pending = 0;
  private out = 0;
  private readonly hash: Hash = createHash('sha256');
  private readonly file: WriteStream;
  private readonly head: Writable;
  private failure: Error | undefined;

  constructor(readonly number: number, readonly path: string, private readonly codecs: readonly CodecStream[]) {
    this.file = createWriteStream(path);
    this.file.on('error', (error) => this.fail(error));
    const streams = codecs.map((c) => c.stream);
    for (const [i, stream] of streams.entries()) {
      stream.on('error', (error) => this.fail(error));
      if (i + 1 < streams.length) stream.pipe(streams[i + 1]!);
    }
    const tail = streams.at(-1);
    if (tail) {
      tail.on('data', (chunk: Buffer) => {
        if (!this.emit(chunk)) {
          tail.pause();
          this.file.once('drain', () => tail.resume());
        }
      });
    }
    this.head = streams[0] ?? this.file;
  }

  /** Output bytes known so far plus the worst case for `extra` more input bytes. */
  bound(extra: number): number {
    let unknown = this.pending + extra;
    for (const codec of this.codecs) unknown = codec.bound(unknown + codec.stream.readableLength);
    return this.out + unknown;
  }

  /** Worst-case size of a file holding only `bytes` input bytes: whether a record fits any part at all. */
  boundAlone(bytes: number): number {
    let size = bytes;
    for (const codec of this.codecs) size = codec.sizeBound(size);
    return size;
  }

  /** True while some output size is only bounded, not known: a flush would make it exact. */
  get uncertain(): boolean {
    return this.pending > 0;
  }

  /** A promise only when a full slab went to the codecs: most records cost no promise and no await. */
  write(bytes: Uint8Array): Promise<void> | undefined {
    this.check();
    if (this.run !== undefined && bytes.buffer === this.run.buffer && bytes.byteOffset === this.runEnd) {
      this.runEnd += bytes.byteLength;
    } else {
      this.endRun();
      this.run = bytes;
      this.runEnd = bytes.byteOffset + bytes.byteLength;
    }
    this.slabLength += bytes.byteLength;
    this.pending += bytes.byteLength;
    this.encoded += bytes.byteLength;
    return this.slabLength >= slabBytes ? this.pushSlab() : undefined;
  }

  /** Makes the output size exact: everything written so far has left the codecs. */
  async flush(): Promise<void> {
    await this.pushSlab();
    for (const codec of this.codecs) await codec.flush();
    this.pending = 0;
    this.check();
  }

  async finish(closing: Uint8Array): Promise<StagedPart> {
    if (closing.byteLength > 0) await this.write(closing);
    await this.pushSlab();
    const closed = once(this.file, 'close');
    if (this.codecs.length > 0) {
      const tail = this.codecs.at(-1)!.stream;
      const ended = once(tail, 'end');
      this.head.end();
      await ended;
      this.file.end();
    } else {
      this.file.end();
    }
    await closed;
    this.check();
    return { number: this.number, path: this.path, records: this.records, bytes: this.out, sha256: this.hash.digest('hex'), encodedBytes: this.encoded };
  }

  async abort(): Promise<void> {
    for (const codec of this.codecs) codec.stream.destroy();
    this.file.destroy();
    await rm(this.path, { force: true });
  }

  private endRun(): void {
    if (this.run === undefined) return;
    const { buffer, byteOffset } = this.run;
    this.slab.push(this.runEnd === byteOffset + this.run.byteLength ? this.run : new Uint8Array(buffer, byteOffset, this.runEnd - byteOffset));
    this.run = undefined;
  }

  private async pushSlab(): Promise<void> {
    this.endRun();
    if (this.slabLength === 0) return;
    const data = this.slab.length === 1 ? this.slab[0]! : Buffer.concat(this.slab, this.slabLength);
    this.slab = [];
    this.slabLength = 0;
    const ok = this.codecs.length === 0 ? this.emit(data) : this.head.write(data);
    if (!ok) await once(this.head, 'drain');
    if (this.codecs.length === 0) this.pending = 0;
    this.check();
  }

  /** Bytes as the partner receives them: hashed, counted, written. */
  private emit(chunk: Uint8Array): boolean {
    this.hash.update(chunk);
    this.out += chunk.byteLength;
    return this.file.write(chunk);
  }

  private fail(error: Error): void {
    this.failure ??= error;
  }

  private check(): void {
    if (this.failure) throw this.failure;
  }
}
