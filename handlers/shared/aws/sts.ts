import { STSClient } from '@aws-sdk/client-sts';
import { hooked, MAX_ATTEMPTS, roleClient } from './hooks';

/** STS as this function's own role (identity, AssumeRole into member accounts). */
export const sts = roleClient(new STSClient({ maxAttempts: MAX_ATTEMPTS }));

/**
 * `stsFor` makes an STS client that signs with the given key, to prove a key works (or not).
 * Read it from here at call time: tests and the bench replace it (through `clients.stsFor`) to
 * make STS refuse a key.
 */
export const keySigned = {
  stsFor: (credentials: { accessKeyId: string; secretAccessKey: string }): STSClient =>
    // One attempt: the state machine's Retry owns the backoff for eventual consistency.
    hooked(new STSClient({ credentials, maxAttempts: 1 }), { kind: 'key' }),
};
