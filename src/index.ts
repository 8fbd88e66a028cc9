// The library API: load or declare a pipeline, open a store, run it.
export { parsePipeline, parsePipelineYaml, loadPipeline, type LoadedPipeline } from './config/load.js';
export { pipelineConfig, type PipelineConfig, type PipelineInput } from './config/pipeline.js';
export { runPipeline, type RunEvent, type RunOptions } from './engine/run.js';
export { openStore, type OpenStoreOptions } from './store/open.js';
export { openSqliteStore, type SqliteStoreOptions } from './store/sqlite/store.js';
export { openPostgresStore, type PostgresStoreOptions } from './store/postgres/store.js';
export type { Store } from './store/types.js';
export type { RunReport, RunStatus, FileArtifact } from './core/report.js';
export { LadingError, ConfigError, ValidationError } from './errors/lading-error.js';
export { codes, type ErrorCode } from './errors/codes.js';
export { systemClock, fixedClock, type Clock } from './core/clock.js';
export { verifyWebhookSignature } from './notify/webhook.js';

import type { PipelineInput } from './config/pipeline.js';

/** Types a pipeline written in TypeScript; parsePipeline validates it like a YAML file. */
export const definePipeline = (pipeline: PipelineInput): PipelineInput => pipeline;
