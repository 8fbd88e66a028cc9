import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inboxJson, inboxText } from '../../../src/store/types.js';

test('an inbox record is stored as its JSON text without the white space around it, or its data serialised', () => {
  // A line as read: escapes and number spellings kept, only the ends go.
  assert.equal(inboxText({ json: '  {"note":"caf\\u00e9", "n":1.50}\t\r' }), '{"note":"caf\\u00e9", "n":1.50}');
  assert.equal(inboxText({ json: '{"id":1}' }), '{"id":1}');
  assert.equal(inboxText({ data: { id: 1, note: 'x' }, key: 'k' }), '{"id":1,"note":"x"}');
});

test('JSON given as UTF-8 bytes is kept as bytes, its ends trimmed of JSON white space only', () => {
  const bytes = Buffer.from('\t {"note":"Zoë ✓"}\r\n');
  const kept = inboxJson({ json: bytes });
  assert.ok(kept instanceof Uint8Array && kept.buffer === bytes.buffer, 'a view of the same bytes, not a copy');
  assert.equal(Buffer.from(kept).toString('utf8'), '{"note":"Zoë ✓"}');
  assert.equal(inboxText({ json: bytes }), '{"note":"Zoë ✓"}');
  const bare = Buffer.from('{"a":1}');
  assert.equal(inboxJson({ json: bare }), bare);
});
