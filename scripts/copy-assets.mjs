// tsc compiles only TypeScript: copy the SQL migrations next to the compiled store, and the dashboard's
// hand-written modules and styles next to the compiled server that serves them.
import { cpSync, existsSync } from 'node:fs';

for (const dir of ['store/sqlite/migrations', 'store/postgres/migrations', 'ui/assets']) {
  if (existsSync(`src/${dir}`)) cpSync(`src/${dir}`, `dist/${dir}`, { recursive: true });
}
