import * as z from './shared/zod';
import { requestApproval } from './domain/approvals';
import { accountClients } from './shared/aws/account';
import { ddb } from './shared/aws/ddb';
import { secrets } from './shared/aws/secrets';
import { sns } from './shared/aws/sns';
import { settings } from './shared/settings';
import { lambdaHandler } from './shared/lambda';
import { Created, NonEmpty, RotationState } from './shared/schemas';

const Request = z.object({
  taskToken: NonEmpty,
  gate: z.enum(['ROTATION', 'DELETION']),
  expiresInSeconds: z.int().check(z.minimum(1)),
  state: z.extend(RotationState, {
    created: z.optional(Created),
    distributed: z.optional(z.object({ distributedAt: z.iso.datetime() })),
  }),
});

/**
 * Approve Rotation / Approve Deletion: record the pending approval and notify approvers. The
 * deletion gate also reads the old key's last use, in the user's account, for the page's warning.
 */
export const handler = lambdaHandler(Request, async (request) =>
  requestApproval(
    {
      ddb,
      sns,
      secrets,
      ...(request.gate === 'DELETION' ? { iam: (await accountClients(request.state.account)).iam } : {}),
    },
    settings(),
    request,
  ),
);
