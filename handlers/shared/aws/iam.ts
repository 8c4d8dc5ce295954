import { IAMClient } from '@aws-sdk/client-iam';
import { MAX_ATTEMPTS, roleClient } from './hooks';

export const iam = roleClient(new IAMClient({ maxAttempts: MAX_ATTEMPTS }));
