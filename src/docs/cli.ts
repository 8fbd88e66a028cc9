import type { Command, Option } from 'commander';

function usage(command: Command, parents: string[]): string {
  return [...parents, command.name(), command.usage()].filter(Boolean).join(' ');
}

const optionRow = (o: Option) => `| \`${o.flags.replace(/\|/g, '\\|')}\` | ${o.description.replace(/\|/g, '\\|')}${o.defaultValue !== undefined ? ` (default: \`${String(o.defaultValue)}\`)` : ''}${o.argChoices ? ` (one of: ${o.argChoices.join(', ')})` : ''} |`;

function section(command: Command, parents: string[], out: string[]): void {
  const name = [...parents, command.name()].join(' ');
  if (parents.length > 0) {
    out.push(`## \`${name}\``, '', command.description(), '', '```', usage(command, parents), '```', '');
    const args = command.registeredArguments;
    if (args.length > 0) {
      out.push('| argument | meaning |', '| --- | --- |', ...args.map((a) => `| \`${a.name()}\` | ${a.description} |`), '');
    }
    const options = command.options.filter((o) => !o.hidden);
    if (options.length > 0) out.push('| option | meaning |', '| --- | --- |', ...options.map(optionRow), '');
  }
  for (const sub of command.commands) section(sub, [...parents, command.name()], out);
}

/** docs/cli.md, generated from the command definitions in src/cli. */
export function renderCliDoc(root: Command): string {
  const out = [
    '# Command line',
    '',
    '<!-- Generated from src/cli by `npm run docs`; do not edit by hand. -->',
    '',
    root.description(),
    '',
    'Global options (before or after the command):',
    '',
    '| option | meaning |',
    '| --- | --- |',
    ...root.options.map(optionRow),
    '',
    'Exit codes: 0 completed, 3 completed_with_errors, 1 failed or cancelled, 2 usage or config error.',
    '',
  ];
  section(root, [], out);
  return `${out.join('\n').trimEnd()}\n`;
}
