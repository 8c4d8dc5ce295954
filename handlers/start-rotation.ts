import * as z from './shared/zod';
import { startRotation } from './domain/start-rotation';
import { sfn } from './shared/aws/sfn';
import { InvalidInputError } from './shared/errors';
import { lambdaHandler } from './shared/lambda';
import { UserName } from './shared/schemas';

const Item = z.object({
  userName: UserName,
  account: z.union([z.literal(''), z.string().check(z.regex(/^\d{12}$/))]),
  scannedAt: z.iso.datetime({ offset: true }),
});

/** Start Rotation (one map item): the day's rotation of one DUE user, unless it already started. */
export const handler = lambdaHandler(Item, async (item) => {
  const stateMachineArn = process.env.KEYROT_STATE_MACHINE_ARN;
  if (!stateMachineArn) throw new InvalidInputError('KEYROT_STATE_MACHINE_ARN is not set');
  const due = { userName: item.userName, ...(item.account ? { account: item.account } : {}) };
  const result = await startRotation(sfn, stateMachineArn, due, new Date(item.scannedAt), 'keyrot daily scan');
  return { ...due, ...result };
});
