import { createKey } from './domain/create-key';
import { clientsFor, settings } from './shared/clients';
import { lambdaHandler } from './shared/lambda';
import { StateWithOldKey } from './shared/schemas';

/** Create Access Key: new key stored as AWSPENDING in the same invocation; returns its id only. */
export const handler = lambdaHandler(StateWithOldKey, async (state) =>
  createKey(await clientsFor(state.account), settings(), state),
);
