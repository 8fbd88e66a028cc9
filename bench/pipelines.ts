// The pipelines the benchmarks run (bench/run.ts, bench/ingest-load.ts): every case uses this
// mapping and output, and differs only in its source or destination.

/** The benchmark pipeline, `source` and `destination` as YAML flow mappings. */
export const benchPipeline = (name: string, source: string, destination: string): string => `name: ${name}
source: ${source}
map:
  - { name: lead_id, source: id }
  - { name: email, source: email, transform: [trim, lowercase] }
  - { name: phone, source: phone, transform: digits_only }
  - { name: state, source: state, transform: uppercase }
  - { name: first_name, source: first_name }
  - { name: last_name, source: last_name }
  - { name: created_at, source: created_at }
output:
  type: file
  format: csv
  compression: { type: gzip, level: 6 }
  naming: "leads.{ext}"
  on_collision: overwrite
  destination: ${destination}
`;

/** What the ingest pipelines check of every record before the 202 (appended to benchPipeline's YAML). */
export const ingestValidation = 'validate:\n  required: [email, phone]\n  rules:\n    email: { format: email }\n';
