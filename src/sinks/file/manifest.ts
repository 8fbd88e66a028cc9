import type { FileArtifact } from '../../core/report.js';

export type ManifestFormat = 'json' | 'csv' | 'text';

export interface ManifestInput {
  readonly pipeline: string;
  readonly batchId: string;
  readonly runId: string;
  readonly created: Date;
  readonly files: readonly FileArtifact[];
}

const csvCell = (value: string): string => (/[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value);
const base = (name: string): string => name.split('/').at(-1)!;

/**
 * The manifest written after the data files: JSON by default; `csv` and `text` are the control
 * or trailer files partners ask for (one line per file with its record count and sha256, then a
 * total line).
 */
export function renderManifest(m: ManifestInput, format: ManifestFormat): string {
  const total = m.files.reduce((n, f) => n + f.records, 0);
  if (format === 'json') {
    return `${JSON.stringify({
      pipeline: m.pipeline, batch_id: m.batchId, run_id: m.runId, created: m.created.toISOString(), record_count: total,
      files: m.files.map(({ name, bytes, records, sha256, partition }) => ({ name: base(name), bytes, records, sha256, ...(partition === undefined ? {} : { partition }) })),
    }, null, 2)}\n`;
  }
  if (format === 'csv') {
    const rows = m.files.map((f) => [base(f.name), String(f.records), String(f.bytes), f.sha256].map(csvCell).join(','));
    return `${['file,records,bytes,sha256', ...rows, `TOTAL,${total},${m.files.reduce((n, f) => n + f.bytes, 0)},`].join('\r\n')}\r\n`;
  }
  return `${[...m.files.map((f) => `${base(f.name)} ${f.records} ${f.sha256}`), `TOTAL ${m.files.length} files ${total} records batch ${m.batchId}`].join('\n')}\n`;
}
