import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { gzip, gzipConfig } from '../../../src/codecs/gzip.js';
import { PartWriter } from '../../../src/sinks/file/part.js';
import { tempDir } from '../../support/tmp.js';

/**
 * Records as a file sink gets them: runs of views lying end to end in one buffer (a parse
 * worker's block), gaps in a run (a record left out), views of other buffers in between, a copy
 * of a neighbour, and empty records. About 600 KiB in all: slabs fill and are cut.
 */
function records(): Uint8Array[] {
  const block = Buffer.from(Array.from({ length: 12_000 }, (_, i) => `${i},row ${i} of the block\n`).join(''));
  const other = Buffer.from(Array.from({ length: 12_000 }, (_, i) => `${i},row ${i} elsewhere\n`).join(''));
  const out: Uint8Array[] = [];
  let [a, b] = [0, 0];
  for (let i = 0; a < block.length; i++) {
    const end = block.indexOf(0x0a, a) + 1;
    if (i % 17 !== 5) out.push(block.subarray(a, end));
    a = end;
    if (i % 7 === 0 && b < other.length) {
      const next = other.indexOf(0x0a, b) + 1;
      out.push(other.subarray(b, next));
      b = next;
    }
    if (i % 11 === 0) out.push(new Uint8Array(0));
    if (i % 13 === 0) out.push(Buffer.from(block.subarray(a, block.indexOf(0x0a, a) + 1))); // the next record's bytes, copied
  }
  return out;
}

async function written(codecs: 'none' | 'gzip'): Promise<{ file: Buffer; part: Awaited<ReturnType<PartWriter['finish']>> }> {
  const path = join(tempDir(), 'part');
  const writer = new PartWriter(1, path, codecs === 'none' ? [] : [gzip.create(gzipConfig.parse({ type: 'gzip' }), {} as never).create()]);
  for (const bytes of records()) {
    await writer.write(bytes);
    writer.records++;
  }
  const part = await writer.finish(Buffer.from('end\n'));
  return { file: readFileSync(path), part };
}

test('a part holds every record\'s bytes in order, however they lie in memory, and reports their hash and sizes', async () => {
  const expected = Buffer.concat([...records(), Buffer.from('end\n')]);
  const plain = await written('none');
  assert.ok(plain.file.equals(expected));
  assert.equal(plain.part.bytes, expected.length);
  assert.equal(plain.part.encodedBytes, expected.length);
  assert.equal(plain.part.sha256, createHash('sha256').update(expected).digest('hex'));

  const zipped = await written('gzip');
  assert.ok(gunzipSync(zipped.file).equals(expected));
  assert.equal(zipped.part.bytes, zipped.file.length);
  assert.equal(zipped.part.encodedBytes, expected.length);
  assert.equal(zipped.part.sha256, createHash('sha256').update(zipped.file).digest('hex'));
});
