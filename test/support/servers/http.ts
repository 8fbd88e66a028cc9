import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request as the server received it. */
export interface Recorded {
  /** 1-based, in arrival order. */
  readonly n: number;
  readonly method: string;
  /** Path and query string, as sent: `/products/A%201?x=1`. */
  readonly path: string;
  /** Lower-case names, as Node gives them. */
  readonly headers: IncomingHttpHeaders;
  /** The raw body text. */
  readonly text: string;
  /** The body's bytes, as received (for binary uploads). */
  readonly raw: Buffer;
  /**
   * The body parsed by its content type: JSON → the value; NDJSON → an array of the lines'
   * values; otherwise (or when it does not parse) the raw text.
   */
  readonly body: unknown;
  /** 1-based number of the TCP connection that carried it (keep-alive reuse shows as repeats). */
  readonly connection: number;
}

/** What the server does with a request. */
export type Answer =
  | {
      /** Default 200. */
      readonly status?: number;
      readonly headers?: Readonly<Record<string, string>>;
      /** A string is sent as is; anything else as JSON (with content-type application/json). */
      readonly body?: unknown;
      /** Wait this long (real time) before answering. */
      readonly delayMs?: number;
    }
  /** Never answer; the socket stays open until the client gives up or the server stops. */
  | { readonly hang: true }
  /** Send the status line and headers, then never send the body. */
  | { readonly hangBody: true; readonly status?: number }
  /** Destroy the socket without answering (the client sees a reset / "other side closed"). */
  | { readonly destroy: true }
  /** Write these bytes to the socket instead of an HTTP answer, then close it. */
  | { readonly raw: string | Uint8Array };

/** Decides the answer to the n-th request (1-based). */
export type Script = (request: Recorded, n: number) => Answer | Promise<Answer>;

export interface RecordingServer {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly url: string;
  readonly port: number;
  /** Every request received so far, in order. */
  readonly requests: Recorded[];
  /** TCP connections accepted so far. */
  readonly connections: number;
  /** Body bytes received so far, over all requests, counting the one still arriving (for streaming tests). */
  readonly received: number;
  /** Closes every connection (hanging ones too) and the server. */
  stop(): Promise<void>;
}

/** A script answering the n-th request with answers[n-1]; the last answer repeats. */
export const sequence = (...answers: Answer[]): Script => (_req, n) => answers[Math.min(n, answers.length) - 1] ?? {};

function parse(text: string, contentType: string | undefined): unknown {
  try {
    if (contentType?.includes('ndjson')) return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as unknown);
    if (contentType?.includes('json')) return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
  return text;
}

function respond(res: ServerResponse, answer: Answer): void {
  if ('hang' in answer) return;
  if ('destroy' in answer) {
    res.socket?.destroy();
    return;
  }
  if ('raw' in answer) {
    res.socket?.end(answer.raw);
    return;
  }
  if ('hangBody' in answer) {
    res.writeHead(answer.status ?? 200, { 'content-type': 'application/json', 'content-length': '1000' });
    res.flushHeaders();
    return;
  }
  const body = answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
  const headers: Record<string, string> = {
    ...(answer.body !== undefined && typeof answer.body !== 'string' ? { 'content-type': 'application/json' } : {}),
    ...answer.headers,
  };
  res.writeHead(answer.status ?? 200, headers).end(body);
}

/**
 * A real HTTP server on 127.0.0.1, port 0, that records every request and answers as `script`
 * says (default: 200 with an empty body). For sink and executor tests: 429 with Retry-After then
 * 503 then 200 (`sequence(…)`), a server that never answers, resets, garbage, 200 {"status":"error"}.
 */
export async function startRecordingServer(script: Script = () => ({})): Promise<RecordingServer> {
  const requests: Recorded[] = [];
  const sockets = new Set<Socket>();
  const connectionIds = new WeakMap<Socket, number>();
  let connections = 0;
  let received = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      chunks.push(chunk);
    });
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const text = raw.toString('utf8');
      const recorded: Recorded = {
        n: requests.length + 1, method: req.method ?? '', path: req.url ?? '', headers: req.headers, text, raw,
        body: parse(text, req.headers['content-type']), connection: connectionIds.get(req.socket) ?? 0,
      };
      requests.push(recorded);
      void (async () => {
        try {
          const answer = await script(recorded, recorded.n);
          if ('delayMs' in answer && answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
          respond(res, answer);
        } catch (error) {
          res.writeHead(500).end(`script failed: ${String(error)}`);
        }
      })();
    });
  });
  server.on('connection', (socket) => {
    connections++;
    connectionIds.set(socket, connections);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    get connections() {
      return connections;
    },
    get received() {
      return received;
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
