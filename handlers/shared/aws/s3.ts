import { S3Client } from '@aws-sdk/client-s3';
import { MAX_ATTEMPTS, roleClient } from './hooks';

// moto on 127.0.0.1 has no bucket subdomains: path-style addressing when the endpoint is overridden.
export const s3 = roleClient(
  new S3Client({ maxAttempts: MAX_ATTEMPTS, forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL) }),
);
