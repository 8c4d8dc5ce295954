import { z } from 'zod';
import { archiveExecution, archiveSettings } from './domain/archive';
import { readExecution } from './domain/execution-record';
import { clients } from './shared/clients';
import { InvalidInputError } from './shared/errors';
import { lambdaHandler } from './shared/lambda';

/** EventBridge's "Step Functions Execution Status Change" event; only the ARN is trusted. */
const StatusChange = z.object({
  'detail-type': z.literal('Step Functions Execution Status Change'),
  detail: z.object({
    executionArn: z.string().startsWith('arn:'),
    status: z.enum(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']),
  }),
});

/** When an execution ends: read its whole history from the API and archive it under Object Lock. */
export const handler = lambdaHandler(StatusChange, async (event) => {
  const config = archiveSettings();
  if (!config) throw new InvalidInputError('KEYROT_ARCHIVE_BUCKET is not set');
  const record = await readExecution(clients.sfn, event.detail.executionArn);
  const archived = await archiveExecution(clients, config, record);
  return { recordKey: archived.recordKey, chainKey: archived.chainKey, seq: archived.entry.seq };
});
