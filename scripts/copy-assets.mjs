// tsc compiles only TypeScript: copy the SQL migrations next to the compiled store, and the dashboard's
// hand-written modules and styles next to the compiled server that serves them. Each copy replaces
// the folder, so a renamed or removed migration cannot linger in dist/ and be applied twice.
import { cpSync, existsSync, rmSync } from 'node:fs';

for (const dir of ['store/sqlite/migrations', 'store/postgres/migrations', 'ui/assets']) {
  rmSync(`dist/${dir}`, { recursive: true, force: true });
  if (existsSync(`src/${dir}`)) cpSync(`src/${dir}`, `dist/${dir}`, { recursive: true });
}
