import * as z from './shared/zod';
import { detectKeys } from './domain/detect';
import { accountClients } from './shared/aws/account';
import { cognito } from './shared/aws/cognito';
import { ddb } from './shared/aws/ddb';
import { sns } from './shared/aws/sns';
import { settings } from './shared/settings';
import { lambdaHandler } from './shared/lambda';
import { NonEmpty } from './shared/schemas';

const Request = z.object({
  input: z.unknown(),
  executionId: NonEmpty,
  startedAt: z.iso.datetime({ offset: true }),
});

/** Detect: validate the execution input, decide whether the user's key is due and check the preconditions. */
export const handler = lambdaHandler(Request, async (request) =>
  detectKeys(
    async (account) => ({ ...(await accountClients(account)), sns, ddb, cognito }),
    { ...settings(), ...managedScope() },
    request,
  ),
);

/** The managed path and tag the stack gives every function (the same scope as its IAM grants). */
function managedScope(): { userPath?: string; userTag?: string } {
  return {
    ...(process.env.KEYROT_USER_PATH ? { userPath: process.env.KEYROT_USER_PATH } : {}),
    ...(process.env.KEYROT_USER_TAG ? { userTag: process.env.KEYROT_USER_TAG } : {}),
  };
}
