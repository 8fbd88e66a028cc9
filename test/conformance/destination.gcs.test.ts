// The destination contract for gcs, run by the real @google-cloud/storage client against a
// STAND-IN server (test/support/servers/gcs-standin.ts), not Google Cloud Storage: no GCS
// emulator can be had here. The stand-in implements the JSON API calls the client makes, with
// generation preconditions and real size / md5Hash / crc32c; list() shows completed objects only.
import { GcsDestination, gcsConfig } from '../../src/destinations/gcs.js';
import { startGcsStandin } from '../support/servers/gcs-standin.js';
import { describeDestination } from './destination.suite.js';

for (const threshold of ['8MiB', 1] as const) {
  const upload = threshold === 1 ? 'resumable uploads' : 'multipart uploads';
  describeDestination(`gcs (${upload}) against the GCS STAND-IN`, async () => {
    const standin = await startGcsStandin();
    const prefix = 'outbound/partner/';
    const config = gcsConfig.parse({ type: 'gcs', bucket: standin.bucket, prefix: 'outbound/partner', api_endpoint: standin.url, project_id: 'test', resumable_threshold: threshold });
    return {
      destination: new GcsDestination(config, process.cwd()),
      list: async () => [...standin.objects.keys()].filter((n) => n.startsWith(prefix)).map((n) => n.slice(prefix.length)),
      read: async (name) => standin.objects.get(`${prefix}${name}`)!.bytes,
      cleanup: () => standin.stop(),
    };
  });
}
