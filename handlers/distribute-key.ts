import { distributeKey } from './domain/distribute';
import { clientsFor, settings } from './shared/clients';
import { lambdaHandler } from './shared/lambda';
import { StateWithNewKey } from './shared/schemas';

/** Distribute Key: promote the new version to AWSCURRENT and notify the owner. */
export const handler = lambdaHandler(StateWithNewKey, async (state) =>
  distributeKey(await clientsFor(state.account), settings(), state),
);
