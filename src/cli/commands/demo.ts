import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { join, relative, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { generateLeads } from '../../demo/leads.js';
import { demoPipelineYaml } from '../../demo/pipeline.js';
import { parsePositiveInt } from '../context.js';
import { runInForeground } from './run.js';
import { grouped } from '../../core/numbers.js';

async function writeLeads(path: string, count: number): Promise<void> {
  const out = createWriteStream(path);
  for (const lead of generateLeads(count)) {
    if (!out.write(`${JSON.stringify(lead)}\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

export function demoCommand(): Command {
  return new Command('demo')
    .description('Generate synthetic sales leads and run the partner-delivery example on them: validate, map, CSV, gzip, split, checksums, manifest, local folder.')
    .addOption(new Option('-n, --records <n>', 'how many leads to generate').default(100_000).argParser(parsePositiveInt('--records')))
    .option('-d, --dir <dir>', 'folder for the leads, the pipeline and the delivered files', 'lading-demo')
    .option('--json', 'print the final report as JSON')
    .addHelpText('after', '\nAbout 1% of the generated leads carry an invalid email on purpose, so the run ends\ncompleted_with_errors and shows how failures are reported; demo still exits 0 then.')
    .action(async function (this: Command, opts: { records: number; dir: string; json?: boolean }) {
      const dir = resolve(opts.dir);
      await mkdir(dir, { recursive: true });
      const log = (line: string) => { if (!opts.json) process.stdout.write(`${line}\n`); };
      log(`generating ${grouped(opts.records)} synthetic leads → ${relative(process.cwd(), join(dir, 'leads.ndjson'))}`);
      await writeLeads(join(dir, 'leads.ndjson'), opts.records);
      const pipeline = join(dir, 'pipeline.yaml');
      await writeFile(pipeline, demoPipelineYaml);
      log(`running ${relative(process.cwd(), pipeline)}\n`);
      const { report, exitCode } = await runInForeground(this, pipeline, { ...(opts.json ? { json: true } : {}) });
      log(`\nfiles are in ${relative(process.cwd(), join(dir, 'out')) || '.'}/ (data files, .sha256 sidecars, manifest)`);
      log(`next: lading runs · lading runs show ${report.job_id} · lading runs show ${report.job_id} --errors`);
      process.exitCode = exitCode === 3 ? 0 : exitCode;
    });
}
