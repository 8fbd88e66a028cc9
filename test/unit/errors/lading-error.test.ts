import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classify } from '../../../src/errors/classify.js';
import { ConfigError, LadingError, ValidationError } from '../../../src/errors/lading-error.js';

/** A second copy of the module, as a handler's `import 'lading'` loads beside the bundled CLI. */
const other = (await import(`../../../src/errors/lading-error.js?copy=${Date.now()}`)) as typeof import('../../../src/errors/lading-error.js');

test('an error made by another copy of lading\'s modules is an instance of the class of the same name, and classified as itself', () => {
  assert.notEqual(other.LadingError, LadingError, 'the test loads a second copy');
  const retry = new other.LadingError('SINK_HANDLER_RETRY', 'busy', { retryAfterMs: 50 });
  assert.ok(retry instanceof LadingError);
  assert.ok(!(retry instanceof ConfigError));
  const classified = classify(retry, { ioCode: 'UNCLASSIFIED', doing: 'writing chunk 0' });
  assert.equal(classified, retry);
  assert.equal(classified.transient, true);
  assert.equal(classified.retryAfterMs, 50);

  const config = new other.ConfigError('CONFIG_INVALID', 'bad');
  assert.ok(config instanceof ConfigError);
  assert.ok(config instanceof LadingError);
  assert.ok(!(config instanceof ValidationError));
});

test('instanceof still holds within one copy, and for nothing else', () => {
  assert.ok(new ValidationError('VALIDATE_REQUIRED', 'x') instanceof LadingError);
  assert.ok(new ValidationError('VALIDATE_REQUIRED', 'x') instanceof ValidationError);
  assert.ok(!(new LadingError('VALIDATE_REQUIRED', 'x') instanceof ValidationError));
  for (const value of [new Error('x'), Object.assign(new Error('x'), { name: 'LadingError' }), { code: 'SINK_HANDLER_RETRY' }, null, undefined, 'LadingError', 1]) {
    assert.ok(!(value instanceof LadingError), String(value));
  }
  // A class of the same name that is not lading's.
  class Impostor extends Error {}
  Object.defineProperty(Impostor, 'name', { value: 'LadingError' });
  assert.ok(!(new Impostor('x') instanceof LadingError));
});
