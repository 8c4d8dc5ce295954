import * as z from './shared/zod';
import { deleteOldKey } from './domain/old-key';
import { clientsFor } from './shared/clients';
import { lambdaHandler } from './shared/lambda';
import { StateWithNewKey } from './shared/schemas';

const State = z.extend(StateWithNewKey, { deletionApproval: z.optional(z.unknown()) });

/** Delete Old Key: after the grace period, with the same guards as deactivation. */
export const handler = lambdaHandler(State, async (state) => deleteOldKey(await clientsFor(state.account), state));
