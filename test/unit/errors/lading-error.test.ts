import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
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

test('errors keep their names in a bundle that renamed their classes apart from another module\'s', async () => {
  const { build } = await import('esbuild');
  // A module bundled before the errors declares the same names, so esbuild renames the errors' classes.
  const first = {
    name: 'first',
    setup(b: import('esbuild').PluginBuild) {
      b.onResolve({ filter: /^first$/ }, () => ({ path: 'first', namespace: 'first' }));
      b.onLoad({ filter: /.*/, namespace: 'first' }, () => ({ contents: 'export class SourceError {}\nexport class LadingError {}\nexport const taken = [SourceError, LadingError];', loader: 'js' }));
    },
  };
  const entry = `import { taken } from 'first';
    import * as errors from './lading-error.ts';
    export { taken };
    export const { ladingError, ConfigError, SourceError, LadingError } = errors;`;
  const out = await build({
    stdin: { contents: entry, resolveDir: fileURLToPath(new URL('../../../src/errors/', import.meta.url)), loader: 'ts' },
    bundle: true, format: 'esm', platform: 'node', write: false, logLevel: 'silent', plugins: [first],
  });
  const code = out.outputFiles[0]!.text;
  assert.match(code, /var SourceError2 = class extends LadingError2 /, 'the bundle renamed the errors\' classes');
  const bundled = (await import(`data:text/javascript,${encodeURIComponent(code)}`)) as Pick<typeof import('../../../src/errors/lading-error.js'), 'ladingError' | 'ConfigError' | 'SourceError' | 'LadingError'>;
  const error = bundled.ladingError('SOURCE_MALFORMED_JSON', 'bad line');
  assert.equal(error.name, 'SourceError');
  assert.equal(bundled.SourceError.name, 'SourceError');
  assert.equal(new bundled.ConfigError('CONFIG_INVALID', 'x').name, 'ConfigError');
  // Across the renamed classes, the bundle's errors and this copy's are still one another's.
  assert.ok(error instanceof LadingError);
  assert.ok(new other.SourceError('SOURCE_MALFORMED_JSON', 'x') instanceof bundled.LadingError);
  assert.ok(new other.SourceError('SOURCE_MALFORMED_JSON', 'x') instanceof bundled.SourceError);
  assert.ok(!(new other.LadingError('SOURCE_MALFORMED_JSON', 'x') instanceof bundled.SourceError));
});
