import * as z from './shared/zod';
import { deleteOldKey } from './domain/old-key';
import { accountClients } from './shared/aws/account';
import { kms } from './shared/aws/kms';
import { lambdaHandler } from './shared/lambda';
import { StateWithNewKey } from './shared/schemas';

const State = z.extend(StateWithNewKey, { deletionApproval: z.optional(z.unknown()) });

/** Delete Old Key: after the grace period, with the same guards as deactivation. */
export const handler = lambdaHandler(State, async (state) =>
  deleteOldKey({ ...(await accountClients(state.account)), kms }, state),
);
