import { createHash, randomBytes } from 'node:crypto';
import { GetCommand, PutCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Clients, Settings } from '../shared/clients';
import { InvalidApprovalError, InvalidInputError } from '../shared/errors';
import { logger } from '../shared/logger';
import type { RotationState, Signature } from '../shared/schemas';
import { notify } from './notify';

export type Gate = 'ROTATION' | 'DELETION';

/** The approval as stored server-side. The task token never leaves this record. */
export interface ApprovalRecord {
  approvalId: string;
  taskToken: string;
  executionId: string;
  gate: Gate;
  userName: string;
  keyIds: string[];
  requestedBy: string;
  requestedAt: string;
  expiresAt: string;
  status: 'PENDING' | 'APPROVED' | 'REJECTED';
}

/** What resumes a waiting execution: the SFN API when deployed, the local engine locally. */
export interface TaskCallbacks {
  sendTaskSuccess(taskToken: string, output: string): Promise<void>;
  sendTaskFailure(taskToken: string, error: string, cause: string): Promise<void>;
}

type GateState = RotationState & { created?: { newKeyId: string } };

function table(config: Pick<Settings, 'approvalsTable'>): string {
  if (!config.approvalsTable) throw new InvalidInputError('KEYROT_APPROVALS_TABLE is not configured');
  return config.approvalsTable;
}

/**
 * Approval gates (steps 2 and 7): record the pending approval with its task token and tell
 * the approvers. The notification carries the approval id, never the token.
 */
export async function requestApproval(
  { ddb, sns }: Pick<Clients, 'ddb' | 'sns'>,
  config: Pick<Settings, 'approvalsTable' | 'topicArn'>,
  request: { taskToken: string; gate: Gate; expiresInSeconds: number; state: GateState },
  now: Date = new Date(),
): Promise<{ approvalId: string; expiresAt: string }> {
  const { state, gate } = request;
  const keyIds = [state.detection.oldKeyId, state.created?.newKeyId].filter((id): id is string => !!id);
  const record: ApprovalRecord = {
    approvalId: randomBytes(16).toString('hex'),
    taskToken: request.taskToken,
    executionId: state.executionId,
    gate,
    userName: state.userName,
    keyIds,
    requestedBy: state.requestedBy,
    requestedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + request.expiresInSeconds * 1000).toISOString(),
    status: 'PENDING',
  };
  await ddb.send(new PutCommand({ TableName: table(config), Item: record }));
  const action =
    gate === 'DELETION'
      ? `deactivate and delete the old key ${state.detection.oldKeyId}; the new key ${state.created?.newKeyId} is verified`
      : `create a new key for ${state.userName} to replace ${state.detection.oldKeyId}`;
  await notify({ sns }, config.topicArn, {
    event: `APPROVAL_REQUESTED_${gate}`,
    userName: state.userName,
    subject: `keyrot: approval needed (${gate.toLowerCase()}) for ${state.userName}`,
    message: `Approving will ${action}.\nApproval id: ${record.approvalId}\nExpires: ${record.expiresAt}\nExecution: ${state.executionId}`,
  });
  logger.info('approval requested', { approvalId: record.approvalId, gate, keyIds });
  return { approvalId: record.approvalId, expiresAt: record.expiresAt };
}

/** SHA-256 over the canonical JSON (sorted keys) of a signature's other fields. */
export function signatureDigest(fields: Omit<Signature, 'digest'>): string {
  return createHash('sha256').update(canonicalJson(fields)).digest('hex');
}

/** JSON with object keys sorted at every level, so equal records hash equally. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Pending approvals, optionally of one execution. */
export async function pendingApprovals(
  { ddb }: Pick<Clients, 'ddb'>,
  config: Pick<Settings, 'approvalsTable'>,
  executionId?: string,
): Promise<ApprovalRecord[]> {
  const items: ApprovalRecord[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await ddb.send(new ScanCommand({ TableName: table(config), ExclusiveStartKey: start }));
    items.push(...((page.Items ?? []) as ApprovalRecord[]));
    start = page.LastEvaluatedKey;
  } while (start);
  return items.filter((item) => item.status === 'PENDING' && (!executionId || item.executionId === executionId));
}

/**
 * Record a decision and resume the execution. Single use (a conditional write), refused
 * after expiry and for the requester or the user whose key rotates.
 */
export async function decide(
  { ddb, callbacks }: Pick<Clients, 'ddb'> & { callbacks: TaskCallbacks },
  config: Pick<Settings, 'approvalsTable'>,
  decision: { approvalId: string; signer: string; meaning: Signature['meaning']; reason: string },
  now: Date = new Date(),
): Promise<Signature> {
  const found = await ddb.send(new GetCommand({ TableName: table(config), Key: { approvalId: decision.approvalId } }));
  const record = found.Item as ApprovalRecord | undefined;
  if (!record) throw new InvalidApprovalError(`unknown approval ${decision.approvalId}`);
  if (record.status !== 'PENDING') throw new InvalidApprovalError(`approval ${record.approvalId} was already decided`);
  if (now.toISOString() > record.expiresAt) throw new InvalidApprovalError(`approval ${record.approvalId} expired`);
  if (decision.signer === record.requestedBy || decision.signer === record.userName) {
    throw new InvalidApprovalError(`${decision.signer} may not approve their own rotation`);
  }
  if (!decision.reason.trim()) throw new InvalidApprovalError('a reason is required');

  const fields: Omit<Signature, 'digest'> = {
    approvalId: record.approvalId,
    executionId: record.executionId,
    gate: record.gate,
    user: record.userName,
    keyIds: record.keyIds,
    signer: decision.signer,
    meaning: decision.meaning,
    reason: decision.reason,
    signedAt: now.toISOString(),
  };
  const signature: Signature = { ...fields, digest: signatureDigest(fields) };
  await ddb.send(
    new UpdateCommand({
      TableName: table(config),
      Key: { approvalId: record.approvalId },
      UpdateExpression: 'SET #status = :meaning, signature = :signature',
      ConditionExpression: '#status = :pending',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':meaning': decision.meaning, ':signature': signature, ':pending': 'PENDING' },
    }),
  );
  if (decision.meaning === 'APPROVED') {
    await callbacks.sendTaskSuccess(record.taskToken, JSON.stringify(signature));
  } else {
    const cause = `rejected by ${decision.signer} at ${signature.signedAt}: ${decision.reason}`;
    await callbacks.sendTaskFailure(record.taskToken, 'ApprovalRejected', cause);
  }
  logger.info('approval decided', {
    approvalId: record.approvalId,
    meaning: decision.meaning,
    signer: decision.signer,
  });
  return signature;
}
