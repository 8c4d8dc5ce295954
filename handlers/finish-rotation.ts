import * as z from './shared/zod';
import { finishRotation } from './domain/finish';
import { sns } from './shared/aws/sns';
import { settings } from './shared/settings';
import { lambdaHandler } from './shared/lambda';
import { Signature, StateWithNewKey } from './shared/schemas';

const State = z.extend(StateWithNewKey, {
  rotationApproval: z.optional(Signature),
  deletionApproval: z.optional(Signature),
});

/** Finish: notify and return the rotation's summary. */
export const handler = lambdaHandler(State, (state) => finishRotation({ sns }, settings(), state));
