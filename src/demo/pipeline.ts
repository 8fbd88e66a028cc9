/** The demo's pipeline: the seed's partner delivery (DESIGN.md) on a local folder. */
export const demoPipelineYaml = `# Written by \`lading demo\`: the partner delivery from DESIGN.md, delivered to a local folder.
name: demo-leads
source: { type: file, path: leads.ndjson }
validate:
  required: [email, phone]
  rules:
    email: { format: email }
    state: { pattern: "^[A-Z]{2}$", severity: warn }
map:
  - { name: lead_id, source: id }
  - { name: email, source: email, transform: [trim, lowercase] }
  - { name: phone, source: phone, transform: digits_only }
  - { name: state, source: state, transform: uppercase }
  - { name: first_name, source: first_name, transform: trim }
  - { name: last_name, source: last_name, transform: trim }
  - { name: created_at, source: created_at }
output:
  type: file
  format: { type: csv, line_ending: "\\r\\n" }
  compression: gzip
  naming: "leads_{date}_{time}_{batch_id}_{part:3}.csv.gz"
  split: { max_records: 50000 }
  checksum: sha256
  manifest: true
  destination: { type: local, path: out }
`;
