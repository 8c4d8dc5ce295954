import { verifyNewKey } from './domain/verify';
import { accountClients } from './shared/aws/account';
import { keySigned } from './shared/aws/sts';
import { lambdaHandler } from './shared/lambda';
import { StateWithNewKey } from './shared/schemas';

/** Verify New Key: GetCallerIdentity signed with the stored new key must name the user. */
export const handler = lambdaHandler(StateWithNewKey, async (state) =>
  verifyNewKey({ ...(await accountClients(state.account)), stsFor: keySigned.stsFor }, state),
);
