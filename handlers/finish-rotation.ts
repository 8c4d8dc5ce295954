import * as z from './shared/zod';
import { finishRotation } from './domain/finish';
import { clients, settings } from './shared/clients';
import { lambdaHandler } from './shared/lambda';
import { Signature, StateWithNewKey } from './shared/schemas';

const State = z.extend(StateWithNewKey, {
  rotationApproval: z.optional(Signature),
  deletionApproval: z.optional(Signature),
});

/** Finish: notify and return the rotation's summary. */
export const handler = lambdaHandler(State, (state) => finishRotation(clients, settings(), state));
