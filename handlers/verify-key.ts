import { verifyNewKey } from './domain/verify';
import { clientsFor } from './shared/clients';
import { lambdaHandler } from './shared/lambda';
import { StateWithNewKey } from './shared/schemas';

/** Verify New Key: GetCallerIdentity signed with the stored new key must name the user. */
export const handler = lambdaHandler(StateWithNewKey, async (state) =>
  verifyNewKey(await clientsFor(state.account), state),
);
