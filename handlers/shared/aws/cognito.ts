import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { MAX_ATTEMPTS, roleClient } from './hooks';

export const cognito = roleClient(new CognitoIdentityProviderClient({ maxAttempts: MAX_ATTEMPTS }));
