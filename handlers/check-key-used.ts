import * as z from './shared/zod';
import { checkKeyUsed } from './domain/verify';
import { clientsFor } from './shared/clients';
import { lambdaHandler } from './shared/lambda';
import { StateWithNewKey } from './shared/schemas';

const State = z.extend(StateWithNewKey, { distributed: z.object({ distributedAt: z.iso.datetime() }) });

/** Check New Key Used: has the consumer switched to the new key yet (last-used mode)? */
export const handler = lambdaHandler(State, async (state) => checkKeyUsed(await clientsFor(state.account), state));
