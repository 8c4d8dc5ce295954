import { SNSClient } from '@aws-sdk/client-sns';
import { MAX_ATTEMPTS, roleClient } from './hooks';

export const sns = roleClient(new SNSClient({ maxAttempts: MAX_ATTEMPTS }));
