import { STSClient } from '@aws-sdk/client-sts';
import { hooked, MAX_ATTEMPTS, roleClient } from './hooks';

/** STS as this function's own role (identity, AssumeRole into member accounts). */
export const sts = roleClient(new STSClient({ maxAttempts: MAX_ATTEMPTS }));

/** An STS client that signs with the given key; used to prove a key works (or not). */
export const stsFor = (credentials: { accessKeyId: string; secretAccessKey: string }) =>
  // One attempt: the state machine's Retry owns the backoff for eventual consistency.
  hooked(new STSClient({ credentials, maxAttempts: 1 }), { kind: 'key' });
