import * as z from './shared/zod';
import { archiveEnded, archiveSettings } from './domain/archive';
import { endingOf, readExecution } from './domain/execution-record';
import { ddb } from './shared/aws/ddb';
import { s3 } from './shared/aws/s3';
import { sfn } from './shared/aws/sfn';
import { settings } from './shared/settings';
import { InvalidInputError } from './shared/errors';
import { lambdaHandler } from './shared/lambda';

/** EventBridge's "Step Functions Execution Status Change" event; only the ARN is trusted. */
const StatusChange = z.object({
  'detail-type': z.literal('Step Functions Execution Status Change'),
  detail: z.object({
    executionArn: z.string().check(z.startsWith('arn:')),
    status: z.enum(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']),
  }),
});

/** When an execution ends: archive its whole history under Object Lock, and close what it left waiting. */
export const handler = lambdaHandler(StatusChange, async (event) => {
  const config = archiveSettings();
  if (!config) throw new InvalidInputError('KEYROT_ARCHIVE_BUCKET is not set');
  const record = await readExecution(sfn, event.detail.executionArn);
  // What the execution left waiting can never resume it (its pages say so from now on); the
  // record is archived with its approvals' failed sign-ins, which may then expire with the lock.
  const ending = { ...endingOf(record), status: event.detail.status };
  const archived = (await archiveEnded({ s3, ddb }, config, settings(), record, ending))!;
  return { recordKey: archived.recordKey, chainKey: archived.chainKey, seq: archived.entry.seq };
});
