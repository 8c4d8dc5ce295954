import { z } from 'zod';
import { requestApproval } from './domain/approvals';
import { clients, settings } from './shared/clients';
import { lambdaHandler } from './shared/lambda';
import { Created, RotationState } from './shared/schemas';

const Request = z.object({
  taskToken: z.string().min(1),
  gate: z.enum(['ROTATION', 'DELETION']),
  expiresInSeconds: z.number().int().min(1),
  state: RotationState.extend({ created: Created.optional() }),
});

/** Approve Rotation / Approve Deletion: record the pending approval and notify approvers. */
export const handler = lambdaHandler(Request, (request) => requestApproval(clients, settings(), request));
