import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../errors/lading-error.js';
import { loadPipeline, type LoadedPipeline } from './load.js';

/** The pipelines a server serves, by name. */
export interface Catalog {
  list(): LoadedPipeline[];
  get(name: string): LoadedPipeline | undefined;
}

/** A fixed set of loaded pipelines; two with the same name are refused, naming both files. */
export function catalogOf(pipelines: readonly LoadedPipeline[]): Catalog {
  const byName = new Map<string, LoadedPipeline>();
  for (const pipeline of pipelines) {
    const name = pipeline.config.name;
    const other = byName.get(name);
    if (other !== undefined) {
      throw new ConfigError('CONFIG_DUPLICATE_PIPELINE', `pipeline name "${name}" is declared by both ${other.origin} and ${pipeline.origin}`);
    }
    byName.set(name, pipeline);
  }
  const sorted = [...byName.values()].sort((a, b) => a.config.name.localeCompare(b.config.name));
  return { list: () => [...sorted], get: (name) => byName.get(name) };
}

const isYaml = (name: string): boolean => name.endsWith('.yaml') || name.endsWith('.yml');

/** Loads pipeline files, and every *.yaml / *.yml directly inside the folders given; all problems of one file are reported together. */
export async function loadCatalog(paths: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<Catalog> {
  const files: string[] = [];
  for (const path of paths) {
    let isFolder: boolean;
    try {
      isFolder = (await stat(path)).isDirectory();
    } catch (error) {
      throw new ConfigError('CONFIG_NOT_FOUND', `cannot read pipeline path ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
    }
    if (isFolder) files.push(...(await readdir(path)).filter(isYaml).sort().map((name) => join(path, name)));
    else files.push(path);
  }
  const loaded: LoadedPipeline[] = [];
  for (const file of files) loaded.push(await loadPipeline(file, env));
  return catalogOf(loaded);
}
