import { SFNClient } from '@aws-sdk/client-sfn';
import { MAX_ATTEMPTS, roleClient } from './hooks';

export const sfn = roleClient(new SFNClient({ maxAttempts: MAX_ATTEMPTS }));
