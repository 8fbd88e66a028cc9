// The contract every destination keeps (STYLE.md: conformance suites): put/stat round trip, a
// partner never sees a partial file under its final name, collision modes, verify mismatch.
// Each destination's test file calls describeDestination with a factory for a fresh, empty target.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import type { Destination } from '../../src/destinations/types.js';
import { LadingError } from '../../src/errors/lading-error.js';

export interface DestinationFixture {
  readonly destination: Destination;
  /** Names visible at the destination now (final names and temp names alike), relative to its root. */
  list(): Promise<string[]>;
  /** The bytes stored under `name`. */
  read(name: string): Promise<Buffer>;
  cleanup(): Promise<void>;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const opts = (extra: object = {}) => ({ onCollision: 'fail' as const, signal: new AbortController().signal, ...extra });

export function describeDestination(name: string, factory: () => Promise<DestinationFixture>): void {
  describe(`Destination conformance: ${name}`, () => {
    const withFixture = (body: (f: DestinationFixture) => Promise<void>) => async () => {
      const fixture = await factory();
      try {
        await body(fixture);
      } finally {
        await fixture.destination.close();
        await fixture.cleanup();
      }
    };

    test('put stores the bytes under the final name; the receipt and stat agree', withFixture(async (f) => {
      const body = randomBytes(300_000);
      const receipt = await f.destination.put('dir/a.csv.gz', [body.subarray(0, 100_000), body.subarray(100_000)], opts({ expected: { bytes: body.length, sha256: sha(body) } }));
      assert.deepEqual([receipt.bytes, receipt.sha256, receipt.skipped], [body.length, sha(body), false]);
      assert.ok(receipt.uri.length > 0);
      assert.deepEqual(await f.read('dir/a.csv.gz'), body);
      const stat = await f.destination.stat('dir/a.csv.gz');
      assert.equal(stat?.bytes, body.length);
      if (stat?.sha256 !== undefined) assert.equal(stat.sha256, sha(body));
      assert.equal(await f.destination.stat('dir/missing.csv'), null);
    }));

    test('a lister never sees the final name before the bytes are complete', withFixture(async (f) => {
      const seen: string[][] = [];
      async function* slow() {
        for (let i = 0; i < 5; i++) {
          seen.push(await f.list());
          yield randomBytes(64 * 1024);
        }
        seen.push(await f.list());
      }
      await f.destination.put('leads.csv', slow(), opts());
      assert.ok(seen.every((names) => !names.includes('leads.csv')), `final name visible early: ${JSON.stringify(seen)}`);
      assert.ok((await f.list()).includes('leads.csv'));
    }));

    test('an interrupted body leaves no file under the final name', withFixture(async (f) => {
      async function* broken() {
        yield randomBytes(1000);
        throw new Error('upstream broke');
      }
      await assert.rejects(f.destination.put('x.csv', broken(), opts()));
      assert.ok(!(await f.list()).includes('x.csv'));
    }));

    test('collisions: fail refuses; skip_if_identical skips the same bytes and refuses others; overwrite replaces', withFixture(async (f) => {
      const a = Buffer.from('first version\n');
      const b = Buffer.from('second version\n');
      await f.destination.put('f.csv', [a], opts({ expected: { bytes: a.length, sha256: sha(a) } }));
      await assert.rejects(f.destination.put('f.csv', [b], opts()), (e: unknown) => e instanceof LadingError && e.code === 'DEST_COLLISION');
      const skipped = await f.destination.put('f.csv', [a], opts({ onCollision: 'skip_if_identical', expected: { bytes: a.length, sha256: sha(a) } }));
      assert.equal(skipped.skipped, true);
      await assert.rejects(f.destination.put('f.csv', [b], opts({ onCollision: 'skip_if_identical', expected: { bytes: b.length, sha256: sha(b) } })),
        (e: unknown) => e instanceof LadingError && e.code === 'DEST_COLLISION');
      await f.destination.put('f.csv', [b], opts({ onCollision: 'overwrite' }));
      assert.deepEqual(await f.read('f.csv'), b);
    }));

    test('bytes that do not match what was rendered never get the final name', withFixture(async (f) => {
      const body = Buffer.from('abc');
      await assert.rejects(f.destination.put('v.csv', [body], opts({ expected: { bytes: 3, sha256: sha(Buffer.from('abd')) } })),
        (e: unknown) => e instanceof LadingError && e.code === 'DEST_VERIFY_MISMATCH');
      assert.ok(!(await f.list()).includes('v.csv'));
    }));

    test('remove deletes a delivered file (rollback) and says false for one that is not there', withFixture(async (f) => {
      assert.ok(f.destination.remove, 'every file-store destination can take a delivery back');
      await f.destination.put('gone/r.csv', [Buffer.from('a,b\n')], opts());
      assert.equal(await f.destination.remove('gone/r.csv'), true);
      assert.equal(await f.destination.stat('gone/r.csv'), null);
      assert.equal(await f.destination.remove('gone/r.csv'), false);
    }));

    test('healthcheck passes on a writable target and leaves nothing behind', withFixture(async (f) => {
      const before = await f.list();
      await f.destination.healthcheck(AbortSignal.timeout(20_000));
      assert.deepEqual((await f.list()).sort(), before.sort());
    }));
  });
}
