// The destination contract against a real S3-compatible server: s3rver on loopback, one per test,
// with the files under a key prefix. list() shows completed objects only, as S3's ListObjectsV2 does.
import { S3Destination, s3Config } from '../../src/destinations/s3.js';
import { startS3 } from '../support/servers/s3.js';
import { describeDestination } from './destination.suite.js';

describeDestination('s3 (s3rver)', async () => {
  const server = await startS3();
  const prefix = 'outbound/partner/';
  const config = s3Config.parse({
    type: 's3', bucket: server.bucket, prefix: 'outbound/partner', endpoint: server.url, force_path_style: true,
    access_key_id: server.accessKeyId, secret_access_key: server.secretAccessKey,
  });
  return {
    destination: new S3Destination(config),
    list: async () => (await server.list(prefix)).map((key) => key.slice(prefix.length)),
    read: (name) => server.read(`${prefix}${name}`),
    cleanup: () => server.stop(),
  };
});
