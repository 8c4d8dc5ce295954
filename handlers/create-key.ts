import { createKey } from './domain/create-key';
import { accountClients } from './shared/aws/account';
import { settings } from './shared/settings';
import { lambdaHandler } from './shared/lambda';
import { StateWithOldKey } from './shared/schemas';

/** Create Access Key: new key stored as AWSPENDING in the same invocation; returns its id only. */
export const handler = lambdaHandler(StateWithOldKey, async (state) =>
  createKey(await accountClients(state.account), settings(), state),
);
