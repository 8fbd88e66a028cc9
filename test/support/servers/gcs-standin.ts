// STAND-IN, NOT GOOGLE CLOUD STORAGE. No GCS emulator can be had here (fake-gcs-server is a Go
// binary outside the package registries), so this small node:http server answers ONLY the JSON
// API calls @google-cloud/storage makes for the gcs destination, so that the real client library
// runs against it:
//   GET    /storage/v1/b/{bucket}                          bucket metadata
//   GET    /storage/v1/b/{bucket}/o?prefix=&pageToken=     list (completed objects only)
//   GET    /storage/v1/b/{bucket}/o/{object}[?alt=media]   object metadata, or its bytes
//   DELETE /storage/v1/b/{bucket}/o/{object}               with ifGenerationMatch
//   POST   /upload/storage/v1/b/{bucket}/o?uploadType=multipart|media|resumable
//   PUT    /upload/storage/v1/b/{bucket}/o?upload_id=…     resumable session: data, status query
// What it keeps honest: an object exists only once its upload request (or the last request of a
// resumable session) has arrived complete; ifGenerationMatch / ifGenerationNotMatch preconditions
// answer 412 as GCS does; every write makes a new generation; metadata carries size, md5Hash and
// crc32c (Castagnoli, computed here independently of the client) of the bytes actually received.
// What it does not do: authentication (any or no token is accepted; tests script a 403 with
// `deny`), ACLs, composite objects, versioning, customer-supplied encryption keys, XML API.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface StandinObject {
  readonly name: string;
  readonly bytes: Buffer;
  readonly generation: number;
  readonly contentType: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly created: Date;
}

export interface StandinRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  /** Set once the answer is sent. */
  status?: number;
  /** Set when the client cut the request off before its body ended. */
  aborted?: boolean;
}

export interface GcsStandin {
  /** `http://127.0.0.1:<port>`, for the destination's `api_endpoint`. */
  readonly url: string;
  readonly bucket: string;
  readonly requests: StandinRequest[];
  /** Completed objects, by name. */
  readonly objects: Map<string, StandinObject>;
  /** Resumable sessions not finished (or abandoned). */
  readonly sessions: Map<string, { name: string; received: number }>;
  /** Buckets that answer every request with 403 forbidden (scripted: the stand-in has no auth). */
  readonly deny: Set<string>;
  /** Request body bytes received so far, counted as they arrive (all requests). */
  readonly bytesReceived: number;
  /** When set, stored bytes are altered (the last byte flipped) before the object is created: a store that corrupts. */
  corrupt: boolean;
  stop(): Promise<void>;
}

// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as GCS reports it: big-endian, base64.
const crcTable = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32c(data: Uint8Array): string {
  let crc = 0xffffffff;
  for (const byte of data) crc = crcTable[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  const out = Buffer.alloc(4);
  out.writeUInt32BE((crc ^ 0xffffffff) >>> 0);
  return out.toString('base64');
}

class Answer extends Error {
  constructor(readonly status: number, readonly reason: string, message: string) {
    super(message);
  }
}

export async function startGcsStandin(options: { bucket?: string } = {}): Promise<GcsStandin> {
  const bucket = options.bucket ?? 'bucket';
  const objects = new Map<string, StandinObject>();
  const sessions = new Map<string, { name: string; bucket: string; contentType: string; metadata: Record<string, string>; preconditions: URLSearchParams; chunks: Buffer[]; received: number }>();
  const requests: StandinRequest[] = [];
  const sockets = new Set<Socket>();
  let generations = Date.now() * 1000;
  let bytesReceived = 0;
  let url = '';

  const resource = (o: StandinObject) => ({
    kind: 'storage#object',
    id: `${bucket}/${o.name}/${o.generation}`,
    selfLink: `${url}/storage/v1/b/${bucket}/o/${encodeURIComponent(o.name)}`,
    mediaLink: `${url}/download/storage/v1/b/${bucket}/o/${encodeURIComponent(o.name)}?generation=${o.generation}&alt=media`,
    name: o.name,
    bucket,
    generation: String(o.generation),
    metageneration: '1',
    contentType: o.contentType,
    storageClass: 'STANDARD',
    size: String(o.bytes.byteLength),
    md5Hash: createHash('md5').update(o.bytes).digest('base64'),
    crc32c: crc32c(o.bytes),
    etag: createHash('md5').update(`${o.generation}`).digest('base64').slice(0, 12),
    timeCreated: o.created.toISOString(),
    updated: o.created.toISOString(),
    ...(Object.keys(o.metadata).length > 0 ? { metadata: o.metadata } : {}),
  });

  /** GCS's generation preconditions; 0 means "no live object". */
  function check(name: string, query: URLSearchParams): void {
    const live = objects.get(name);
    const match = query.get('ifGenerationMatch');
    if (match !== null && Number(match) !== (live?.generation ?? 0)) {
      throw new Answer(412, 'conditionNotMet', 'At least one of the pre-conditions you specified did not hold.');
    }
    const notMatch = query.get('ifGenerationNotMatch');
    if (notMatch !== null && Number(notMatch) === (live?.generation ?? 0)) {
      throw new Answer(304, 'notModified', 'Not modified');
    }
  }

  function create(name: string, data: Buffer, contentType: string, metadata: Record<string, string>, query: URLSearchParams): StandinObject {
    check(name, query);
    const bytes = state.corrupt && data.byteLength > 0 ? Buffer.concat([data.subarray(0, -1), Buffer.from([data[data.byteLength - 1]! ^ 0xff])]) : data;
    const object = { name, bytes, generation: ++generations, contentType, metadata, created: new Date() };
    objects.set(name, object);
    return object;
  }

  function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
    if (body === undefined) {
      res.writeHead(status, headers).end();
      return;
    }
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers }).end(JSON.stringify(body));
  }

  /** Splits a multipart/related body: a JSON part with the metadata, then the media. */
  function multipart(body: Buffer, contentType: string): { json: Record<string, unknown>; media: Buffer; mediaType: string } {
    const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
    if (!boundary) throw new Answer(400, 'invalid', 'multipart/related without a boundary');
    const delimiter = Buffer.from(`--${boundary}`);
    const parts: Buffer[] = [];
    let at = body.indexOf(delimiter);
    while (at !== -1) {
      const next = body.indexOf(delimiter, at + delimiter.length);
      if (next === -1) break;
      parts.push(body.subarray(at + delimiter.length + 2, next - 2)); // skip CRLF after the delimiter and before the next
      at = next;
    }
    if (parts.length !== 2 || body.indexOf(Buffer.from(`--${boundary}--`)) === -1) throw new Answer(400, 'invalid', 'a multipart upload needs exactly a metadata part and a media part, and the closing delimiter');
    const split = (part: Buffer) => {
      const end = part.indexOf('\r\n\r\n');
      const head = part.subarray(0, end).toString('utf8');
      return { type: /content-type:\s*([^\r\n]+)/i.exec(head)?.[1] ?? 'application/octet-stream', data: part.subarray(end + 4) };
    };
    const meta = split(parts[0]!);
    const media = split(parts[1]!);
    return { json: JSON.parse(meta.data.toString('utf8')) as Record<string, unknown>, media: media.data, mediaType: media.type };
  }

  const stringMap = (value: unknown): Record<string, string> =>
    Object.fromEntries(Object.entries(typeof value === 'object' && value !== null ? value : {}).map(([k, v]) => [k, String(v)]));

  async function handle(req: IncomingMessage, res: ServerResponse, body: () => Promise<Buffer>): Promise<void> {
    const target = new URL(req.url ?? '/', 'http://standin');
    const query = target.searchParams;
    const path = target.pathname;
    const method = req.method ?? 'GET';
    const named = /^\/(upload\/)?storage\/v1\/b\/([^/]+)(?:\/o(?:\/(.+))?)?$/.exec(path);
    if (!named) throw new Answer(404, 'notFound', `Not Found: ${method} ${path}`);
    const [, upload, bucketName, encoded] = named;
    const b = decodeURIComponent(bucketName!);
    if (state.deny.has(b)) throw new Answer(403, 'forbidden', `caller does not have storage.objects access to the Google Cloud Storage bucket ${b}.`);
    if (b !== bucket) throw new Answer(404, 'notFound', 'The specified bucket does not exist.');
    const objectName = encoded === undefined ? undefined : decodeURIComponent(encoded);

    if (upload) {
      if (method === 'POST') {
        const name = query.get('name') ?? undefined;
        const type = query.get('uploadType');
        if (type === 'multipart') {
          const { json, media, mediaType } = multipart(await body(), req.headers['content-type'] ?? '');
          const objectName2 = name ?? (typeof json.name === 'string' ? json.name : undefined);
          if (!objectName2) throw new Answer(400, 'required', 'Required: name');
          const ct = typeof json.contentType === 'string' ? json.contentType : mediaType;
          return send(res, 200, resource(create(objectName2, media, ct, stringMap(json.metadata), query)));
        }
        if (type === 'media') {
          if (!name) throw new Answer(400, 'required', 'Required: name');
          return send(res, 200, resource(create(name, await body(), req.headers['content-type'] ?? 'application/octet-stream', {}, query)));
        }
        if (type === 'resumable') {
          const json = JSON.parse((await body()).toString('utf8') || '{}') as Record<string, unknown>;
          const objectName2 = name ?? (typeof json.name === 'string' ? json.name : undefined);
          if (!objectName2) throw new Answer(400, 'required', 'Required: name');
          // GCS evaluates a resumable upload's preconditions when it completes, not here.
          const id = randomBytes(12).toString('hex');
          const contentType = (req.headers['x-upload-content-type'] as string | undefined) ?? (typeof json.contentType === 'string' ? json.contentType : 'application/octet-stream');
          sessions.set(id, { name: objectName2, bucket: b, contentType, metadata: stringMap(json.metadata), preconditions: query, chunks: [], received: 0 });
          return send(res, 200, undefined, { location: `${url}/upload/storage/v1/b/${encodeURIComponent(b)}/o?uploadType=resumable&name=${encodeURIComponent(objectName2)}&upload_id=${id}` });
        }
        throw new Answer(400, 'invalid', `unsupported uploadType ${type}`);
      }
      if (method === 'PUT') {
        const id = query.get('upload_id') ?? '';
        const session = sessions.get(id);
        if (!session) throw new Answer(404, 'notFound', 'No such upload session.');
        // Content-Range: "bytes */*" or "bytes */N" asks for the status; "bytes S-E/N" or "bytes S-*/N|*" carries data.
        const range = /^bytes (\*|(\d+)-(\d+|\*))\/(\*|\d+)$/.exec(String(req.headers['content-range'] ?? 'bytes */*'));
        if (!range) throw new Answer(400, 'invalid', 'bad Content-Range');
        const total = range[4] === '*' ? undefined : Number(range[4]);
        const incomplete = () => send(res, 308, undefined, session.received > 0 ? { range: `bytes=0-${session.received - 1}` } : {});
        if (range[1] === '*') {
          if (total !== undefined && session.received === total) return finish(res, id, session);
          return incomplete();
        }
        const start = Number(range[2]);
        if (start !== session.received) throw new Answer(400, 'invalid', `chunk starts at ${start}, the session holds ${session.received} bytes`);
        const data = await body();
        session.chunks.push(data);
        session.received += data.byteLength;
        // A request that arrived whole with an open-ended range ("S-*/*") ends the upload, as GCS treats it.
        const last = total !== undefined ? session.received >= total : range[3] === '*';
        if (total !== undefined && session.received > total) throw new Answer(400, 'invalid', `received ${session.received} bytes, more than the ${total} declared`);
        return last ? finish(res, id, session) : incomplete();
      }
    }

    if (objectName === undefined) {
      if (method === 'GET' && path.endsWith('/o')) {
        const prefix = query.get('prefix') ?? '';
        const max = Number(query.get('maxResults') ?? 1000);
        const names = [...objects.keys()].filter((n) => n.startsWith(prefix)).sort();
        const from = Number(query.get('pageToken') ?? 0);
        const page = names.slice(from, from + max);
        return send(res, 200, {
          kind: 'storage#objects', items: page.map((n) => resource(objects.get(n)!)),
          ...(from + max < names.length ? { nextPageToken: String(from + max) } : {}),
        });
      }
      if (method === 'GET') return send(res, 200, { kind: 'storage#bucket', id: bucket, name: bucket, location: 'US', storageClass: 'STANDARD' });
      throw new Answer(405, 'methodNotAllowed', `${method} ${path}`);
    }

    const live = objects.get(objectName);
    const generation = query.get('generation');
    if (!live || (generation !== null && Number(generation) !== live.generation)) throw new Answer(404, 'notFound', `No such object: ${bucket}/${objectName}`);
    if (method === 'GET') {
      check(objectName, query);
      if (query.get('alt') === 'media') {
        res.writeHead(200, { 'content-type': live.contentType, 'content-length': String(live.bytes.byteLength), 'x-goog-generation': String(live.generation),
          'x-goog-hash': `crc32c=${crc32c(live.bytes)},md5=${createHash('md5').update(live.bytes).digest('base64')}` }).end(live.bytes);
        return;
      }
      return send(res, 200, resource(live));
    }
    if (method === 'DELETE') {
      check(objectName, query);
      objects.delete(objectName);
      return send(res, 204);
    }
    throw new Answer(405, 'methodNotAllowed', `${method} ${path}`);
  }

  function finish(res: ServerResponse, id: string, session: { name: string; contentType: string; metadata: Record<string, string>; preconditions: URLSearchParams; chunks: Buffer[] }): void {
    const object = create(session.name, Buffer.concat(session.chunks), session.contentType, session.metadata, session.preconditions);
    sessions.delete(id);
    send(res, 200, resource(object));
  }

  const server = createServer((req, res) => {
    const recorded: StandinRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
    requests.push(recorded);
    res.on('finish', () => {
      recorded.status = res.statusCode;
    });
    req.on('aborted', () => {
      recorded.aborted = true;
    });
    // The body is read only when a handler asks; a request cut off before its end never creates anything.
    const body = () => new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => {
        bytesReceived += c.byteLength;
        chunks.push(c);
      });
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('aborted', () => reject(new Error('request aborted')));
      req.on('error', reject);
    });
    handle(req, res, body).catch((error: unknown) => {
      if (res.headersSent || res.destroyed) return;
      if (error instanceof Answer) {
        if (error.status === 304) return send(res, 304);
        return send(res, error.status, { error: { code: error.status, message: error.message, errors: [{ domain: 'global', reason: error.reason, message: error.message }] } });
      }
      send(res, 500, { error: { code: 500, message: String(error), errors: [{ domain: 'global', reason: 'backendError', message: String(error) }] } });
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const state: GcsStandin = {
    url, bucket, requests, objects, deny: new Set(), corrupt: false,
    get bytesReceived() {
      return bytesReceived;
    },
    get sessions() {
      return new Map([...sessions].map(([id, s]) => [id, { name: s.name, received: s.received }]));
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return state;
}
