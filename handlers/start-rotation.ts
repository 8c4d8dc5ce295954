import * as z from './shared/zod';
import { readDueList, recordOutcomes, startAll } from './domain/scan-lists';
import { startRotation, type DueUser } from './domain/start-rotation';
import { s3 } from './shared/aws/s3';
import { sfn } from './shared/aws/sfn';
import { InvalidInputError } from './shared/errors';
import { lambdaHandler } from './shared/lambda';

const Item = z.object({
  key: z.string().check(z.regex(/^scans\/[^/]+\/due-\d+\.json$/)),
  scannedAt: z.iso.datetime({ offset: true }),
  /** How many rotations this iteration starts at once (the map runs one list at a time). */
  startsAtOnce: z.int().check(z.minimum(1), z.maximum(100)),
});

/** Start Rotations (one map item): the day's rotation of every user of one due list, unless already started. */
export const handler = lambdaHandler(Item, async (item) => {
  const stateMachineArn = process.env.KEYROT_STATE_MACHINE_ARN;
  const bucket = process.env.KEYROT_SCAN_BUCKET;
  if (!stateMachineArn || !bucket)
    throw new InvalidInputError('KEYROT_STATE_MACHINE_ARN or KEYROT_SCAN_BUCKET is not set');
  const due = await readDueList(s3, bucket, item.key);
  const when = new Date(item.scannedAt);
  const start = (user: DueUser) => startRotation(sfn, stateMachineArn, user, when);
  return recordOutcomes(s3, bucket, item.key, await startAll(due, start, item.startsAtOnce));
});
