import { z } from 'zod';
import { requestConfirmation } from './domain/confirmation';
import { clients, settings } from './shared/clients';
import { lambdaHandler } from './shared/lambda';
import { StateWithNewKey } from './shared/schemas';

const Request = z.object({
  taskToken: z.string().min(1),
  expiresInSeconds: z.number().int().min(1),
  state: StateWithNewKey,
});

/** Wait For Consumer (callback validation): record the pending confirmation and tell the owner how to confirm. */
export const handler = lambdaHandler(Request, (request) => requestConfirmation(clients, settings(), request));
