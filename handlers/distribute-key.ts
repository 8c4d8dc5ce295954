import { distributeKey } from './domain/distribute';
import { clients, settings } from './shared/clients';
import { lambdaHandler } from './shared/lambda';
import { StateWithNewKey } from './shared/schemas';

/** Distribute Key: promote the new version to AWSCURRENT and notify the owner. */
export const handler = lambdaHandler(StateWithNewKey, (state) => distributeKey(clients, settings(), state));
