import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePipeline, parsePipelineYaml } from '../../../src/config/load.js';
import { ConfigError } from '../../../src/errors/lading-error.js';
import type { FileSinkConfig } from '../../../src/sinks/file/file.js';

const output = (config: { output: unknown }) => config.output as FileSinkConfig;

const base = `name: partner-a
source: { type: file, path: leads.ndjson }
output:
  type: file
  format: csv
  destination: { type: local, path: out }
`;

function issues(text: string, env: NodeJS.ProcessEnv = {}) {
  try {
    parsePipelineYaml(text, { env, origin: 'p.yaml' });
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.issues;
  }
  assert.fail('expected a ConfigError');
}

test('a minimal pipeline parses with defaults filled in', () => {
  const { config } = parsePipelineYaml(base, { env: {} });
  assert.equal(config.execution.chunk_size, 1000);
  assert.deepEqual(config.output, {
    type: 'file', format: output(config).format, timezone: 'UTC', checksum: 'none', manifest: false,
    on_collision: 'skip_if_identical', send_on_empty: false, destination: { type: 'local', path: 'out', create_dirs: true },
  });
  assert.equal(output(config).format.type, 'csv');
});

test('unknown keys are errors that name the key, its path and line:column', () => {
  const found = issues(base.replace('  format: csv', '  format: csv\n  compresion: gzip'));
  assert.deepEqual(found.map((i) => [i.path, i.location, i.message]), [['output.compresion', 'p.yaml:6:3', 'unknown key "compresion"']]);
});

test('wrong types name the path, what was found and what is expected', () => {
  const found = issues(base.replace('format: csv', 'format: { type: csv, header: "yes" }').replace("name: partner-a", 'name: partner-a\nexecution: { chunk_size: 0 }'));
  const byPath = Object.fromEntries(found.map((i) => [i.path, i]));
  assert.match(byPath['output.format.header']!.message, /expected boolean.*found "yes"/);
  assert.equal(byPath['output.format.header']!.location, 'p.yaml:6:32');
  assert.match(byPath['execution.chunk_size']!.message, /found 0/);
});

test('an unknown component type lists the known ones', () => {
  const found = issues(base.replace('{ type: local, path: out }', '{ type: carrier_pigeon, host: x }'));
  assert.equal(found[0]!.path, 'output.destination.type');
  assert.match(found[0]!.message, /unknown destination type "carrier_pigeon"; expected one of: local, /);
});

test('missing keys say so', () => {
  const found = issues(base.replace('source: { type: file, path: leads.ndjson }\n', ''));
  assert.deepEqual(found.map((i) => [i.path, i.message.split(';')[0]]), [['source', 'missing']]);
});

test('YAML syntax errors carry line and column', () => {
  const found = issues('name: x\nsource: { type: file\n');
  assert.equal(found[0]!.code, 'CONFIG_YAML_SYNTAX');
  assert.match(found[0]!.location!, /^p\.yaml:\d+:\d+$/);
});

test('${env:NAME} is substituted, reported when unset, and kept as a reference in the snapshot', () => {
  const text = base.replace('path: out', 'path: "${env:OUT_DIR}/daily"');
  const { config, snapshot } = parsePipelineYaml(text, { env: { OUT_DIR: '/srv/secret-place' } });
  assert.equal((output(config).destination as unknown as { path: string }).path, '/srv/secret-place/daily');
  assert.ok(!JSON.stringify(snapshot).includes('secret-place'));
  assert.ok(JSON.stringify(snapshot).includes('${env:OUT_DIR}/daily'));
  const found = issues(text, {});
  assert.deepEqual(found.map((i) => [i.code, i.path]), [['CONFIG_ENV_MISSING', 'output.destination.path']]);
});

test('a value from the environment is never echoed in an error', () => {
  const text = base.replace('format: csv', 'format: { type: csv, header: "${env:HDR}" }');
  const found = issues(text, { HDR: 'hunter2' });
  assert.ok(found.every((i) => !i.message.includes('hunter2')));
  assert.match(found[0]!.message, /found \$\{env:HDR\}/);
});

test('a secret written into the file is refused at its key and line; the same secret from ${env:…} is accepted', () => {
  const sftp = (password: string) => base.replace('destination: { type: local, path: out }', `destination:\n    type: sftp\n    host: sftp.partner.example\n    username: u\n    password: "${password}"\n    remote_path: /in`);
  const found = issues(sftp('hunter2-literal'));
  assert.deepEqual(found.map((i) => [i.code, i.path, i.location]), [['CONFIG_SECRET_LITERAL', 'output.destination.password', 'p.yaml:10:15']]);
  assert.ok(found.every((i) => !i.message.includes('hunter2')), 'the secret is not echoed');
  const { snapshot } = parsePipelineYaml(sftp('${env:SFTP_PASSWORD}'), { env: { SFTP_PASSWORD: 'hunter2-literal' } });
  assert.ok(!JSON.stringify(snapshot).includes('hunter2'), 'the stored snapshot keeps the reference, not the value');
});

test('a database URL counts as a secret only when it carries a password', () => {
  const sql = (url: string) => `name: export\nsource: { type: sql, database: { url: "${url}" }, query: "SELECT id FROM t", key: id }\noutput: { type: file, format: csv, destination: { type: local, path: out } }\n`;
  assert.doesNotThrow(() => parsePipelineYaml(sql('sqlite:data/shop.db'), { env: {} }));
  assert.doesNotThrow(() => parsePipelineYaml(sql('postgres://reader@db.internal/shop'), { env: {} }));
  assert.deepEqual(issues(sql('postgres://reader:s3cret@db.internal/shop')).map((i) => [i.code, i.path]), [['CONFIG_SECRET_LITERAL', 'source.database.url']]);
});

test('naming patterns that escape the destination are refused with CONFIG_UNSAFE_PATH', () => {
  const found = issues(base.replace('format: csv', 'format: csv\n  naming: "../{batch_id}.csv"'));
  assert.deepEqual(found.map((i) => [i.code, i.path]), [['CONFIG_UNSAFE_PATH', 'output.naming']]);
});

test('split without {part} in the naming pattern is refused', () => {
  const found = issues(base.replace('format: csv', 'format: csv\n  naming: "x.csv"\n  split: { max_records: 10 }'));
  assert.deepEqual(found.map((i) => i.path), ['output.naming']);
});

test('the same pipeline can be given as a TypeScript object', () => {
  const { config } = parsePipeline({ name: 't', source: { type: 'inline', items: [{ a: 1 }] }, output: { type: 'file', format: 'ndjson', compression: 'gzip', destination: { type: 'local', path: 'o' } } }, { env: {} });
  assert.equal((output(config).compression as unknown as { level: number }).level, 6);
});
