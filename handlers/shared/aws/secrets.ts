import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { MAX_ATTEMPTS, roleClient } from './hooks';

export const secrets = roleClient(new SecretsManagerClient({ maxAttempts: MAX_ATTEMPTS }));
