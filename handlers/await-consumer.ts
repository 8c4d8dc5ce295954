import * as z from './shared/zod';
import { requestConfirmation } from './domain/confirmation';
import { ddb } from './shared/aws/ddb';
import { sns } from './shared/aws/sns';
import { settings } from './shared/settings';
import { lambdaHandler } from './shared/lambda';
import { NonEmpty, StateWithNewKey } from './shared/schemas';

const Request = z.object({
  taskToken: NonEmpty,
  expiresInSeconds: z.int().check(z.minimum(1)),
  state: StateWithNewKey,
});

/** Wait For Consumer (callback validation): record the pending confirmation and tell the owner how to confirm. */
export const handler = lambdaHandler(Request, (request) => requestConfirmation({ ddb, sns }, settings(), request));
