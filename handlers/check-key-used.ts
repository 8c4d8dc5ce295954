import * as z from './shared/zod';
import { checkKeyUsed } from './domain/verify';
import { accountClients } from './shared/aws/account';
import { lambdaHandler } from './shared/lambda';
import { StateWithNewKey } from './shared/schemas';

const State = z.extend(StateWithNewKey, { distributed: z.object({ distributedAt: z.iso.datetime() }) });

/** Check New Key Used: has the consumer switched to the new key yet (last-used mode)? */
export const handler = lambdaHandler(State, async (state) => checkKeyUsed(await accountClients(state.account), state));
