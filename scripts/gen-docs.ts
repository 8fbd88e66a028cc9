// Regenerates docs/config-reference.md, docs/errors.md, docs/cli.md and schema/pipeline.schema.json
// from the code; test/unit/docs fails when they drift.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { generatedDocs } from '../src/docs/generate.js';

for (const [path, text] of Object.entries(generatedDocs())) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  console.log(`wrote ${path}`);
}
