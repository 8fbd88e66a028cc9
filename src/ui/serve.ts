import { readdir, readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';

/**
 * The dashboard: hand-written ES modules and CSS in ./assets, served as they are (copied next to
 * the compiled server by scripts/copy-assets.mjs, so the package ships them). The page talks to
 * the REST API with the API key the user signs in with; nothing is rendered on the server.
 */

const assetsDir = new URL('./assets/', import.meta.url);

const mediaTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Only the page's own files run or load; API calls go to this origin; no framing. */
export const contentSecurityPolicy = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

function secure(reply: FastifyReply): FastifyReply {
  return reply.header('content-security-policy', contentSecurityPolicy).header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer').header('x-frame-options', 'DENY').header('cache-control', 'no-cache');
}

/** GET / (the page) and GET /ui/{file} (its modules and styles). The files are read once, at registration. */
export async function dashboardPage(app: FastifyInstance): Promise<void> {
  const files = new Map<string, { readonly body: Buffer; readonly type: string }>();
  for (const name of await readdir(assetsDir)) {
    const type = mediaTypes[extname(name)];
    if (type !== undefined) files.set(name, { body: await readFile(new URL(name, assetsDir)), type });
  }
  const page = files.get('index.html')!;

  app.get('/', { schema: { hide: true } }, async (_request, reply) => secure(reply).type(page.type).send(page.body));
  app.get<{ Params: { file: string } }>('/ui/:file', { schema: { hide: true } }, async (request, reply) => {
    const file = files.get(request.params.file);
    if (file === undefined || request.params.file === 'index.html') return reply.callNotFound();
    return secure(reply).type(file.type).send(file.body);
  });
}
