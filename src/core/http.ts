// HTTP pieces shared by the http sink and the http_upload destination: header rules, the auth
// and success config, and reading response bodies. In core so destinations need not import a sink.
import type { Dispatcher } from 'undici';
import { z } from 'zod';
import { secret } from '../config/units.js';

export const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Set by lading or by undici; a config may not override them. */
export const reservedHeaders = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect']);
/** Header names whose values are treated as credentials: never shown in a message. */
export const sensitiveHeader = /auth|key|token|secret|cookie|session|signature|password|credential/i;

/** `output.auth`, shared with the http_upload destination. */
export const httpAuthConfig = z.discriminatedUnion('type', [
  z.object({ type: z.literal('none') }).strict(),
  z.object({
    type: z.literal('basic'),
    username: z.string().min(1).describe('User name for HTTP Basic authentication.'),
    password: secret().describe('Password for HTTP Basic authentication; write ${env:NAME}.'),
  }).strict(),
  z.object({
    type: z.literal('bearer'),
    token: secret().min(1).describe('Sent as `Authorization: Bearer <token>`; write ${env:NAME}.'),
  }).strict(),
  z.object({
    type: z.literal('api_key'),
    header: z.string().regex(headerName, 'a header name').describe('Header that carries the key, e.g. X-Api-Key.'),
    value: secret().min(1).describe('The key; write ${env:NAME}.'),
  }).strict(),
]);

export const jsonScalar = z.union([z.string(), z.number(), z.boolean()]);

/** `output.success`, shared with the http_upload destination. */
export const httpSuccessConfig = z.object({
  status: z.array(z.number().int().min(100).max(599)).min(1).optional().describe('Statuses that mean accepted. Default: any 2xx.'),
  json_path: z.string().regex(/^[^.]+(\.[^.]+)*$/, 'a dotted path such as status or result.state').optional()
    .describe('A field of the JSON answer that must confirm success, e.g. `status`; dots for nesting. A body that is not JSON or lacks the field fails with SINK_HTTP_BAD_RESPONSE.'),
  equals: jsonScalar.optional().describe('The value json_path must hold, e.g. `ok`. Without it the field must be present and neither null nor false.'),
}).strict();

/** The headers `auth` sets (lower-case names) and the values that must never appear in a message. */
export function authHeaders(auth: z.output<typeof httpAuthConfig>): { headers: Record<string, string>; secrets: string[] } {
  if (auth.type === 'basic') {
    const encoded = Buffer.from(`${auth.username}:${auth.password}`).toString('base64');
    return { headers: { authorization: `Basic ${encoded}` }, secrets: [auth.password, encoded] };
  }
  if (auth.type === 'bearer') return { headers: { authorization: `Bearer ${auth.token}` }, secrets: [auth.token] };
  if (auth.type === 'api_key') return { headers: { [auth.header.toLowerCase()]: auth.value }, secrets: [auth.value] };
  return { headers: {}, secrets: [] };
}

export async function readText(body: Dispatcher.ResponseData['body'], cap: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= cap) break; // leaving the loop destroys the stream (and that connection)
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function drain(body: Dispatcher.ResponseData['body']): Promise<''> {
  for await (const _ of body as AsyncIterable<Buffer>) {
    // discarded
  }
  return '';
}
