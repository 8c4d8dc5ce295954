import { z } from 'zod';
import { requestApproval } from './domain/approvals';
import { clients, clientsFor, settings } from './shared/clients';
import { lambdaHandler } from './shared/lambda';
import { Created, RotationState } from './shared/schemas';

const Request = z.object({
  taskToken: z.string().min(1),
  gate: z.enum(['ROTATION', 'DELETION']),
  expiresInSeconds: z.number().int().min(1),
  state: RotationState.extend({
    created: Created.optional(),
    distributed: z.object({ distributedAt: z.iso.datetime() }).optional(),
  }),
});

/**
 * Approve Rotation / Approve Deletion: record the pending approval and notify approvers. The
 * deletion gate also reads the old key's last use, in the user's account, for the page's warning.
 */
export const handler = lambdaHandler(Request, async (request) =>
  requestApproval(
    request.gate === 'DELETION' ? { ...clients, iam: (await clientsFor(request.state.account)).iam } : clients,
    settings(),
    request,
  ),
);
