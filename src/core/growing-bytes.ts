/**
 * Records' bytes written end to end into one buffer that grows as needed. Writing each record's
 * text in as soon as it is made lets the string die young, where a list of strings kept until a
 * block or commit ends lived through collections and was promoted (the parse workers' blocks;
 * `lading ingest`'s slices: docs/benchmarks.md, machines I and W).
 */
export class GrowingBytes {
  /** Not zero-filled: only the first `size` bytes were written. */
  bytes: Buffer;
  size = 0;

  constructor(capacity: number) {
    this.bytes = Buffer.allocUnsafe(Math.max(1024, capacity));
  }

  /** Appends the UTF-8 of `text`. */
  write(text: string): void {
    this.#room(text.length * 3); // UTF-8 takes at most 3 bytes per UTF-16 unit: no need to measure
    this.size += this.bytes.write(text, this.size);
  }

  append(bytes: Uint8Array): void {
    this.#room(bytes.byteLength);
    this.bytes.set(bytes, this.size);
    this.size += bytes.byteLength;
  }

  #room(extra: number): void {
    if (this.size + extra <= this.bytes.byteLength) return;
    const next = Buffer.allocUnsafe(Math.max(this.size + extra, this.bytes.byteLength * 2));
    next.set(this.bytes.subarray(0, this.size));
    this.bytes = next;
  }
}
