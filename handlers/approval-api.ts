import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import * as z from './shared/zod';
import { handleApprovalRequest } from './domain/approval-http';
import type { TaskCallbacks } from './domain/approvals';
import { cognito } from './shared/aws/cognito';
import { ddb } from './shared/aws/ddb';
import { kms } from './shared/aws/kms';
import { secrets } from './shared/aws/secrets';
import { settings } from './shared/settings';
import { lambdaHandler } from './shared/lambda';

/** The fields of a Lambda function URL event (payload 2.0) the approval pages use. */
const FunctionUrlEvent = z.object({
  rawPath: z.string(),
  rawQueryString: z._default(z.string(), ''),
  headers: z._default(z.record(z.string(), z.string()), {}),
  body: z.optional(z.string()),
  isBase64Encoded: z._default(z.boolean(), false),
  requestContext: z.object({ http: z.object({ method: z.string() }) }),
});

const sfn = new SFNClient({ maxAttempts: 4 });
const callbacks: TaskCallbacks = {
  sendTaskSuccess: async (taskToken, output) =>
    void (await sfn.send(new SendTaskSuccessCommand({ taskToken, output }))),
  sendTaskFailure: async (taskToken, error, cause) =>
    void (await sfn.send(new SendTaskFailureCommand({ taskToken, error, cause }))),
};

/** Approval pages and decisions behind the function URL: the same rules as the local server. */
export const handler = lambdaHandler(FunctionUrlEvent, async (event) => {
  const response = await handleApprovalRequest(
    { clients: { ddb, secrets, cognito, kms }, callbacks, config: settings() },
    {
      method: event.requestContext.http.method.toUpperCase(),
      path: event.rawPath,
      query: Object.fromEntries(new URLSearchParams(event.rawQueryString)),
      headers: Object.fromEntries(Object.entries(event.headers).map(([name, value]) => [name.toLowerCase(), value])),
      body: event.isBase64Encoded ? Buffer.from(event.body ?? '', 'base64').toString('utf8') : (event.body ?? ''),
    },
  );
  return { statusCode: response.status, headers: response.headers, body: response.body };
});
