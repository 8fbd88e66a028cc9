import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { generatedDocs } from '../../../src/docs/generate.js';
import { codes } from '../../../src/errors/codes.js';

for (const [path, text] of Object.entries(generatedDocs())) {
  test(`${path} matches the code (run npm run docs to regenerate)`, () => {
    assert.equal(readFileSync(path, 'utf8'), text);
  });
}

test('every error code is documented', () => {
  const doc = readFileSync('docs/errors.md', 'utf8');
  for (const code of Object.keys(codes)) assert.ok(doc.includes(`\`${code}\``), code);
});
