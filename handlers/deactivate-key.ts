import { z } from 'zod';
import { deactivateOldKey } from './domain/old-key';
import { clientsFor } from './shared/clients';
import { lambdaHandler } from './shared/lambda';
import { StateWithNewKey } from './shared/schemas';

const State = StateWithNewKey.extend({ deletionApproval: z.unknown().optional() });

/** Deactivate Old Key: only with a recorded approval and the new key current. */
export const handler = lambdaHandler(State, async (state) => deactivateOldKey(await clientsFor(state.account), state));
