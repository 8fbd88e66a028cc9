import { registry } from '../core/registry.js';
import { program } from '../cli/main.js';
import { renderCliDoc } from './cli.js';
import { renderConfigDoc, renderJsonSchema } from './config.js';
import { renderErrorsDoc } from './errors.js';

/** Every generated document, by path relative to the repository root. */
export function generatedDocs(): Record<string, string> {
  return {
    'docs/config-reference.md': renderConfigDoc(registry),
    'docs/errors.md': renderErrorsDoc(),
    'docs/cli.md': renderCliDoc(program()),
    'schema/pipeline.schema.json': renderJsonSchema(),
  };
}
