import { z } from 'zod';
import { detectKeys } from './domain/detect';
import { clientsFor, settings } from './shared/clients';
import { lambdaHandler } from './shared/lambda';

const Request = z.object({
  input: z.unknown(),
  executionId: z.string().min(1),
  startedAt: z.iso.datetime({ offset: true }),
});

/** Detect: validate the execution input and decide whether the user's key is due (in its account). */
export const handler = lambdaHandler(Request, async (request) => detectKeys(clientsFor, settings(), request));
