// tsc compiles only TypeScript: copy the SQL migrations next to the compiled store.
import { cpSync, existsSync } from 'node:fs';

for (const dir of ['store/sqlite/migrations', 'store/postgres/migrations']) {
  if (existsSync(`src/${dir}`)) cpSync(`src/${dir}`, `dist/${dir}`, { recursive: true });
}
