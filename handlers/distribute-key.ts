import { distributeKey } from './domain/distribute';
import { accountClients } from './shared/aws/account';
import { sns } from './shared/aws/sns';
import { settings } from './shared/settings';
import { lambdaHandler } from './shared/lambda';
import { StateWithNewKey } from './shared/schemas';

/** Distribute Key: promote the new version to AWSCURRENT and notify the owner. */
export const handler = lambdaHandler(StateWithNewKey, async (state) =>
  distributeKey({ ...(await accountClients(state.account)), sns }, settings(), state),
);
