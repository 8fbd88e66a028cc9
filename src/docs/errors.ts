import { codes } from '../errors/codes.js';

const cell = (text: string) => text.replace(/\|/g, '\\|');

/** docs/errors.md, generated from the catalogue in errors/codes.ts. */
export function renderErrorsDoc(): string {
  const rows = Object.entries(codes).map(([code, s]) =>
    `| \`${code}\` | ${s.type} | ${s.category} | ${s.stage} | ${s.http} | ${cell(s.message)} | ${cell(s.fix)} |`);
  return [
    '# Error codes',
    '',
    '<!-- Generated from src/errors/codes.ts by `npm run docs`; do not edit by hand. -->',
    '',
    'Every error lading reports carries a stable `code`. The code decides, in one place, whether the',
    'error is **transient** (retried with backoff) or **permanent** (the item fails at once, or the run',
    'fails). Codes are never renamed or reused; they appear in reports (`error_type`, `code`), in the',
    'store and, later, as metric labels.',
    '',
    '| code | error_type | category | stage | HTTP | meaning | how to fix |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}
