import * as z from './shared/zod';
import { checkApproval } from './domain/approvals';
import { verificationKey } from './domain/signing';
import { kms } from './shared/aws/kms';
import { settings } from './shared/settings';
import { lambdaHandler } from './shared/lambda';
import { NonEmpty } from './shared/schemas';

const Request = z.object({
  signature: z.unknown(),
  gate: z.enum(['ROTATION', 'DELETION']),
  executionId: NonEmpty,
  keyIds: z.array(z.string()),
});

/** Check Approval: the state after a gate accepts only a KMS-signed APPROVED signature for it (fails closed). */
export const handler = lambdaHandler(Request, async ({ signature, ...expected }) =>
  checkApproval(signature, expected, await verificationKey(kms, settings())),
);
