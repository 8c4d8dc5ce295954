import { KMSClient } from '@aws-sdk/client-kms';
import { MAX_ATTEMPTS, roleClient } from './hooks';

/** KMS for the approval signing key (Sign in the approval function, GetPublicKey in the checkers). */
export const kms = roleClient(new KMSClient({ maxAttempts: MAX_ATTEMPTS }));
