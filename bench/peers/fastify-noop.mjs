// The ingest benchmark's peer: Fastify with the same body limit as `lading serve` and nothing
// behind its routes, so what separates the two is lading's work (auth, validation, the store's
// commit before the answer). POST /lead answers 202 to one JSON record (parsed by Fastify, as
// lading's is); POST /bulk JSON.parses every NDJSON line, then answers 202.
import Fastify from 'fastify';

const app = Fastify({ bodyLimit: 10_000_000 });
app.addContentTypeParser('application/x-ndjson', { parseAs: 'string' }, (_request, body, done) => done(null, body));
app.post('/lead', async (_request, reply) => reply.code(202).send({ accepted: 1 }));
app.post('/bulk', async (request, reply) => {
  let accepted = 0;
  for (const line of request.body.split('\n')) {
    if (line.trim().length === 0) continue;
    JSON.parse(line);
    accepted++;
  }
  return reply.code(202).send({ accepted });
});
const url = await app.listen({ host: '127.0.0.1', port: 0 });
console.log(`listening on ${url}`);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
