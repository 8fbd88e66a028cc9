import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inboxText } from '../../../src/store/types.js';

test('an inbox record is stored as its JSON text without the white space around it, or its data serialised', () => {
  // A line as read: escapes and number spellings kept, only the ends go.
  assert.equal(inboxText({ json: '  {"note":"caf\\u00e9", "n":1.50}\t\r' }), '{"note":"caf\\u00e9", "n":1.50}');
  assert.equal(inboxText({ json: '{"id":1}' }), '{"id":1}');
  assert.equal(inboxText({ data: { id: 1, note: 'x' }, key: 'k' }), '{"id":1,"note":"x"}');
});
