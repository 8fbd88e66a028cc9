import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { registry } from '../../../src/core/registry.js';

const read = (dir: string, ext: string) => readdirSync(dir, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith(ext)).map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');

const kinds = { sources: 'source', sinks: 'output', formats: 'format', codecs: 'codec', destinations: 'destination' } as const;

test('every registered component has a docs page section and a runnable example', () => {
  const pages = readdirSync('docs').filter((f) => f.endsWith('.md') && !['config-reference.md', 'errors.md', 'cli.md', 'benchmarks.md'].includes(f))
    .map((f) => readFileSync(join('docs', f), 'utf8')).join('\n');
  const examples = read('examples', '.yaml');
  for (const [list, kind] of Object.entries(kinds)) {
    for (const def of registry[list as keyof typeof kinds]) {
      const used = new RegExp(`type: ${def.type}\\b|(compression|format): ${def.type}\\b`);
      assert.match(pages, used, `${kind} ${def.type}: no docs page shows it (docs/*.md)`);
      assert.match(examples, used, `${kind} ${def.type}: no example under examples/ uses it`);
    }
  }
});
