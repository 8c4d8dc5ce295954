import * as z from './shared/zod';
import { deactivateOldKey } from './domain/old-key';
import { accountClients } from './shared/aws/account';
import { kms } from './shared/aws/kms';
import { lambdaHandler } from './shared/lambda';
import { StateWithNewKey } from './shared/schemas';

// The distribution time is what the old key's last use is judged against (Distribute Key's result).
const State = z.extend(StateWithNewKey, {
  deletionApproval: z.optional(z.unknown()),
  distributed: z.object({ distributedAt: z.iso.datetime() }),
});

/** Deactivate Old Key: only with a recorded approval, the new key current and the old key no longer in use. */
export const handler = lambdaHandler(State, async (state) =>
  deactivateOldKey({ ...(await accountClients(state.account)), kms }, state),
);
