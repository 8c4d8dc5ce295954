import { randomBytes } from 'node:crypto';
import { GetCommand, PutCommand, UpdateCommand, paginateQuery } from '@aws-sdk/lib-dynamodb';
import { BY_EXECUTION, PENDING, PENDING_PARTITION } from '../shared/approval-indexes';
import type { Clients, Settings } from '../shared/clients';
import { ApprovalExpiredError, ForgedSignatureError, InvalidApprovalError, InvalidInputError } from '../shared/errors';
import { logger } from '../shared/logger';
import { GATE_STATES, Signature, type KeySummary, type RotationState } from '../shared/schemas';
import { approvalLink, loadLinkKey } from './approval-links';
import type { SignInEvidence } from './execution-record';
import { notify } from './notify';
import { oldKeyUse, type OldKeyUse } from './old-key-use';
import { principalOf } from './requester';
import type { FailedSignIn } from './sign-in-throttle';
import { manifestProblem, signManifest, type VerificationKey } from './signing';

export type Gate = keyof typeof GATE_STATES;

/** The approval as stored server-side. The task token never leaves this record. */
export interface ApprovalRecord {
  approvalId: string;
  taskToken: string;
  executionId: string;
  gate: Gate;
  state: (typeof GATE_STATES)[Gate];
  userName: string;
  keyIds: string[];
  /** Age and last use of the keys as detection saw them, for the approver to read. */
  keys: KeySummary[];
  oldKeyId: string;
  newKeyId: string | null;
  /**
   * The deletion gate's look at the old key's last use since the new key was distributed,
   * as of `checkedAt` (or why it could not be read): the page warns when a consumer has not moved.
   */
  oldKeyUse?: (OldKeyUse & { checkedAt: string }) | { error: string; checkedAt: string };
  requestedBy: string;
  requestedAt: string;
  expiresAt: string;
  /**
   * SUPERSEDED: the gate's step was retried and asked again; only the newest request counts.
   * EXPIRED: a decision was signed in the same instant the step timed out, so it resumed
   * nothing; the signature stays on the record as evidence of the attempt.
   * ABORTED, ENDED: the execution stopped or ended before a decision; `closedBecause` says how.
   */
  status: 'PENDING' | 'APPROVED' | 'REJECTED' | 'SUPERSEDED' | 'EXPIRED' | 'ABORTED' | 'ENDED';
  /** `PENDING_PARTITION` while PENDING, absent after: the sparse Pending index holds only waiting approvals. */
  pending?: typeof PENDING_PARTITION;
  /** DynamoDB time to live (epoch seconds), set when the execution is archived and never while PENDING. */
  ttl?: number;
  closedBecause?: string;
  supersededBy?: string;
  /** Failed sign-ins on this approval (the first LISTED_FAILURES; the count has every one). */
  failedSignIns?: FailedSignIn[];
  failedSignInCount?: number;
  /** Sign-ins refused by the throttle before any password was checked. */
  throttledSignIns?: number;
  signature?: Signature;
}

/** What resumes a waiting execution: the SFN API when deployed, the local engine locally. */
export interface TaskCallbacks {
  sendTaskSuccess(taskToken: string, output: string): Promise<void>;
  sendTaskFailure(taskToken: string, error: string, cause: string): Promise<void>;
}

/** Who signs: the account that authenticated, and what keyrot's approver directory holds for it. */
export interface Signer {
  username: string;
  /** The pool's immutable id for the account: what separation of duties compares. */
  sub: string;
  /** The printed name an administrator set in the directory (never the pool's own `name`). */
  name: string;
  /** The IAM principal the directory links the approver to, when an administrator set one. */
  principalArn?: string;
}

type GateState = RotationState & { created?: { newKeyId: string }; distributed?: { distributedAt: string } };

/** The approvals table's name, or why it cannot be used. */
export function table(config: Pick<Settings, 'approvalsTable'>): string {
  if (!config.approvalsTable) throw new InvalidInputError('KEYROT_APPROVALS_TABLE is not configured');
  return config.approvalsTable;
}

/** The sentence an approver reads: what approving this gate will do. */
export function consequence(record: Pick<ApprovalRecord, 'gate' | 'userName' | 'oldKeyId' | 'newKeyId'>): string {
  return record.gate === 'DELETION'
    ? `deactivate the old access key ${record.oldKeyId} of ${record.userName} now and delete it after the grace ` +
        `period; the new key ${record.newKeyId} is already in use and verified with STS`
    : `create a new access key for ${record.userName}, store it in Secrets Manager, and start replacing ` +
        `${record.oldKeyId}`;
}

/** The sentence that warns an approver that the old key was used after the new key was distributed. */
export function oldKeyWarning(record: Pick<ApprovalRecord, 'oldKeyUse'>): string | undefined {
  const use = record.oldKeyUse;
  if (!use || 'error' in use || !use.usedAfterDistribution) return undefined;
  return (
    `the old key ${use.keyId} was used at ${use.lastUsedAt}, after the new key was distributed at ` +
    `${use.distributedAt} (IAM, as of ${use.checkedAt}): a consumer has not moved to the new key. ` +
    `keyrot will not deactivate a key still in use: it waits up to an hour, then rolls back`
  );
}

/** The old key's last use for the deletion gate; an IAM failure is recorded, not raised (Deactivate checks again). */
async function lookUpOldKeyUse(iam: Clients['iam'], state: GateState, now: Date): Promise<ApprovalRecord['oldKeyUse']> {
  const checkedAt = now.toISOString();
  if (!state.detection.oldKeyId || !state.distributed) return undefined;
  try {
    return { ...(await oldKeyUse({ iam }, state.detection.oldKeyId, state.distributed.distributedAt)), checkedAt };
  } catch (error) {
    logger.warn('could not read the old key last use', { oldKeyId: state.detection.oldKeyId });
    return { error: error instanceof Error ? error.name : 'unknown error', checkedAt };
  }
}

/**
 * Approval gates (steps 2 and 7): record the pending approval with its task token and tell
 * the approvers. The notification carries a link with the approval id and an HMAC over it,
 * never the token. At the deletion gate, with `iam` (the user's account), the old key's last
 * use since the distribution is recorded for the page's warning.
 */
export async function requestApproval(
  { ddb, sns, secrets, iam }: Pick<Clients, 'ddb' | 'sns' | 'secrets'> & { iam?: Clients['iam'] },
  config: Pick<Settings, 'approvalsTable' | 'topicArn' | 'approvalBaseUrl' | 'linkKeySecret'>,
  request: { taskToken: string; gate: Gate; expiresInSeconds: number; state: GateState },
  now: Date = new Date(),
): Promise<{ approvalId: string; expiresAt: string }> {
  const { state, gate } = request;
  const oldKeyId = state.detection.oldKeyId ?? '';
  const newKeyId = state.created?.newKeyId ?? null;
  const use = gate === 'DELETION' && iam ? await lookUpOldKeyUse(iam, state, now) : undefined;
  const record: ApprovalRecord = {
    approvalId: randomBytes(16).toString('hex'),
    taskToken: request.taskToken,
    executionId: state.executionId,
    gate,
    state: GATE_STATES[gate],
    userName: state.userName,
    keyIds: [oldKeyId, newKeyId].filter((id): id is string => !!id),
    keys: state.detection.keys,
    oldKeyId,
    newKeyId,
    ...(use ? { oldKeyUse: use } : {}),
    requestedBy: state.requestedBy,
    requestedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + request.expiresInSeconds * 1000).toISOString(),
    status: 'PENDING',
    pending: PENDING_PARTITION,
  };
  // A retried gate (its Lambda died after recording) gets a new task token: the older request
  // for this execution and gate can never resume it, so it is closed before the new one exists.
  for (const stale of await pendingApprovals({ ddb }, config, state.executionId)) {
    if (stale.gate === gate)
      await closePending({ ddb }, config, stale.approvalId, 'SUPERSEDED', { supersededBy: record.approvalId });
  }
  await ddb.send(new PutCommand({ TableName: table(config), Item: record }));
  const link = approvalLink(config.approvalBaseUrl, record.approvalId, await loadLinkKey(secrets, config));
  const warning = oldKeyWarning(record);
  await notify({ sns }, config.topicArn, {
    event: `APPROVAL_REQUESTED_${gate}`,
    userName: state.userName,
    subject: `keyrot: approval needed (${gate.toLowerCase()}) for ${state.userName}`,
    message: [
      ...(warning ? [`WARNING: ${warning}.`] : []),
      `${state.requestedBy} asks for your decision. Approving will ${consequence(record)}.`,
      `Review and sign: ${link}`,
      `Expires: ${record.expiresAt}`,
      `Execution: ${state.executionId}`,
    ].join('\n'),
  });
  logger.info('approval requested', { approvalId: record.approvalId, gate, keyIds: record.keyIds });
  return { approvalId: record.approvalId, expiresAt: record.expiresAt };
}

/**
 * The state after a gate, and every destructive step: accept only a well-formed APPROVED
 * signature whose KMS signature verifies with `key` (ForgedSignature otherwise) and which names
 * this execution, this gate and these keys (InvalidApproval otherwise). Anything else fails closed.
 */
export function checkApproval(
  signature: unknown,
  expected: { executionId: string; gate: Gate; keyIds: string[] },
  key: VerificationKey,
): Signature {
  const parsed = Signature.safeParse(signature);
  if (!parsed.success) throw new InvalidApprovalError('the approval gate returned a malformed signature');
  const fields = parsed.data;
  const forged = manifestProblem(fields, key);
  if (forged) throw new ForgedSignatureError(`approval ${fields.approvalId} refused: ${forged}`);
  const problems = [
    fields.executionId !== expected.executionId && 'it was signed for another execution',
    fields.state !== GATE_STATES[expected.gate] && 'it was signed at another gate',
    expected.keyIds.some((id) => !fields.keyIds.includes(id)) && 'it does not name these keys',
    fields.meaning !== 'APPROVED' && `its meaning is ${fields.meaning}`,
  ].filter(Boolean);
  if (problems.length > 0)
    throw new InvalidApprovalError(`approval ${fields.approvalId} refused: ${problems.join('; ')}`);
  return parsed.data;
}

/** One approval record, or undefined. */
export async function getApproval(
  { ddb }: Pick<Clients, 'ddb'>,
  config: Pick<Settings, 'approvalsTable'>,
  approvalId: string,
): Promise<ApprovalRecord | undefined> {
  const found = await ddb.send(new GetCommand({ TableName: table(config), Key: { approvalId }, ConsistentRead: true }));
  return found.Item as ApprovalRecord | undefined;
}

/** An execution's record as the ByExecution index holds it (approvals, and its confirmation without a gate). */
export type ExecutionRecordKey = Pick<ApprovalRecord, 'approvalId' | 'executionId' | 'expiresAt'> & {
  status: string;
  gate?: Gate;
};

/** An execution's approvals and confirmation, optionally only those in one status: a Query, paged. */
async function recordsOf(
  { ddb }: Pick<Clients, 'ddb'>,
  config: Pick<Settings, 'approvalsTable'>,
  executionId: string,
  status?: ApprovalRecord['status'],
): Promise<ExecutionRecordKey[]> {
  const items: ExecutionRecordKey[] = [];
  const pages = paginateQuery(
    { client: ddb },
    {
      TableName: table(config),
      IndexName: BY_EXECUTION.name,
      KeyConditionExpression: `#execution = :execution${status ? ' AND #status = :status' : ''}`,
      ExpressionAttributeNames: { '#execution': 'executionId', ...(status ? { '#status': 'status' } : {}) },
      ExpressionAttributeValues: { ':execution': executionId, ...(status ? { ':status': status } : {}) },
    },
  );
  for await (const page of pages) items.push(...((page.Items ?? []) as ExecutionRecordKey[]));
  return items;
}

/** The pending approvals of one execution. */
export async function pendingApprovals(
  { ddb }: Pick<Clients, 'ddb'>,
  config: Pick<Settings, 'approvalsTable'>,
  executionId: string,
): Promise<ExecutionRecordKey[]> {
  return recordsOf({ ddb }, config, executionId, 'PENDING');
}

/** A waiting approval as the Pending index holds it: what `keyrot approvals` shows, never the task token. */
export type WaitingApproval = Pick<
  ApprovalRecord,
  | 'approvalId'
  | 'executionId'
  | 'gate'
  | 'state'
  | 'status'
  | 'userName'
  | 'keyIds'
  | 'requestedBy'
  | 'requestedAt'
  | 'expiresAt'
  | 'failedSignIns'
  | 'failedSignInCount'
  | 'throttledSignIns'
>;

/**
 * The approvals that can still be decided (PENDING, expiring after `now`), soonest expiry
 * first, a page of at most `pageSize` at a time: a Query on the sparse Pending index.
 */
export async function* waitingApprovals(
  { ddb }: Pick<Clients, 'ddb'>,
  config: Pick<Settings, 'approvalsTable'>,
  now: Date = new Date(),
  pageSize = 100,
): AsyncGenerator<WaitingApproval[]> {
  const pages = paginateQuery(
    { client: ddb, pageSize },
    {
      TableName: table(config),
      IndexName: PENDING.name,
      KeyConditionExpression: '#pending = :pending AND #expiresAt > :now',
      ExpressionAttributeNames: { '#pending': PENDING.partitionKey, '#expiresAt': PENDING.sortKey },
      ExpressionAttributeValues: { ':pending': PENDING_PARTITION, ':now': now.toISOString() },
    },
  );
  for await (const page of pages) {
    const items = (page.Items ?? []) as (WaitingApproval & { pending?: string })[];
    if (items.length) yield items.map(({ pending: _pending, ...approval }) => approval);
  }
}

/**
 * Move an approval out of PENDING (or another status `from`), once: a conditional write, so
 * of two decisions (or a decision and a superseding request) exactly one wins. False when it
 * was no longer in that status.
 */
async function closePending(
  { ddb }: Pick<Clients, 'ddb'>,
  config: Pick<Settings, 'approvalsTable'>,
  approvalId: string,
  status: Exclude<ApprovalRecord['status'], 'PENDING'>,
  fields: Record<string, unknown>,
  from: ApprovalRecord['status'] = 'PENDING',
): Promise<boolean> {
  const names = Object.keys(fields);
  try {
    await ddb.send(
      new UpdateCommand({
        TableName: table(config),
        Key: { approvalId },
        // Out of the sparse Pending index in the same write that takes it out of PENDING.
        UpdateExpression: `SET #status = :status${names.map((name) => `, #${name} = :${name}`).join('')} REMOVE #pending`,
        ConditionExpression: '#status = :pending',
        ExpressionAttributeNames: {
          '#status': 'status',
          '#pending': PENDING.partitionKey,
          ...Object.fromEntries(names.map((n) => [`#${n}`, n])),
        },
        ExpressionAttributeValues: {
          ':status': status,
          ':pending': from,
          ...Object.fromEntries(names.map((n) => [`:${n}`, fields[n]])),
        },
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof Error && error.name === 'ConditionalCheckFailedException') return false;
    throw error;
  }
}

/** Seconds in a day, for TTL arithmetic. */
const DAY_SECONDS = 86_400;

/**
 * Close what an ended execution left waiting (its pending approvals), which can never resume
 * it: ABORTED for a stopped execution, else ENDED, each saying why. With `archived` (the
 * execution's history is in the evidence archive, locked for `retentionDays`), every record of
 * the execution gets a time to live as long as that lock, so DynamoDB deletes it only once the
 * archive alone holds the evidence; the write is conditional, so TTL never lands on a record
 * still PENDING. Returns the ids closed. Called where the execution's record is archived,
 * deployed and local.
 */
export async function closeApprovalsOf(
  { ddb }: Pick<Clients, 'ddb'>,
  config: Pick<Settings, 'approvalsTable'>,
  ended: { executionArn: string; status: string; cause?: string },
  archived?: { retentionDays: number },
  now: Date = new Date(),
): Promise<string[]> {
  if (!config.approvalsTable) return [];
  const status = ended.status === 'ABORTED' ? 'ABORTED' : 'ENDED';
  const closedBecause =
    status === 'ABORTED'
      ? `the rotation was aborted${ended.cause ? ` (${ended.cause})` : ''} at ${now.toISOString()}`
      : `the rotation ended (${ended.status}) at ${now.toISOString()} without waiting for this decision`;
  const ttl = archived ? Math.floor(now.getTime() / 1000) + archived.retentionDays * DAY_SECONDS : undefined;
  const closed: string[] = [];
  for (const record of await recordsOf({ ddb }, config, ended.executionArn)) {
    if (record.status === 'PENDING') {
      const fields = { closedBecause, ...(ttl ? { ttl } : {}) };
      if (await closePending({ ddb }, config, record.approvalId, status, fields)) closed.push(record.approvalId);
    } else if (ttl) await expireAfter({ ddb }, config, record.approvalId, ttl);
  }
  if (closed.length) logger.info('closed approvals of an ended execution', { status, closed });
  return closed;
}

/**
 * The failed sign-ins at an execution's approvals, for the archive (the history does not hold
 * them): one entry per approval that had any, in the order the index returns them.
 */
export async function signInEvidenceOf(
  { ddb }: Pick<Clients, 'ddb'>,
  config: Pick<Settings, 'approvalsTable'>,
  executionArn: string,
): Promise<SignInEvidence[]> {
  if (!config.approvalsTable) return [];
  const evidence: SignInEvidence[] = [];
  for (const key of await recordsOf({ ddb }, config, executionArn)) {
    if (!key.gate) continue; // the confirmation has no sign-in
    const record = await getApproval({ ddb }, config, key.approvalId);
    if (!record || !(record.failedSignInCount || record.throttledSignIns)) continue;
    evidence.push({
      approvalId: record.approvalId,
      gate: record.gate,
      status: record.status,
      failed: (record.failedSignIns ?? []).map(({ at, identity, attempt, why }) => ({
        at,
        identity,
        attempt,
        ...(why ? { why } : {}),
      })),
      failedCount: record.failedSignInCount ?? record.failedSignIns?.length ?? 0,
      throttled: record.throttledSignIns ?? 0,
    });
  }
  return evidence;
}

/** Give a record its time to live, unless it is PENDING (a pending approval must never expire unseen). */
async function expireAfter(
  { ddb }: Pick<Clients, 'ddb'>,
  config: Pick<Settings, 'approvalsTable'>,
  approvalId: string,
  ttl: number,
): Promise<void> {
  try {
    await ddb.send(
      new UpdateCommand({
        TableName: table(config),
        Key: { approvalId },
        UpdateExpression: 'SET #ttl = :ttl',
        ConditionExpression: 'attribute_exists(approvalId) AND #status <> :pending',
        ExpressionAttributeNames: { '#ttl': 'ttl', '#status': 'status' },
        ExpressionAttributeValues: { ':ttl': ttl, ':pending': 'PENDING' },
      }),
    );
  } catch (error) {
    if (!(error instanceof Error && error.name === 'ConditionalCheckFailedException')) throw error;
  }
}

/** Why a signer may not sign this approval, or undefined when they may. */
export function refusal(
  record: ApprovalRecord,
  signer: Signer,
  config: Pick<Settings, 'approvers'>,
  now: Date,
): string | undefined {
  if (record.status === 'SUPERSEDED') {
    return 'this request was replaced by a newer one for the same step: use the newest link';
  }
  if (record.status === 'ABORTED' || record.status === 'ENDED')
    return `this approval is closed: ${record.closedBecause}`;
  if (record.status !== 'PENDING' && record.status !== 'EXPIRED') {
    return `this approval was already decided (${record.status.toLowerCase()})`;
  }
  if (record.status === 'EXPIRED' || now.toISOString() > record.expiresAt) {
    return `this approval expired at ${record.expiresAt}`;
  }
  return signerRefusal(record, signer, config);
}

/**
 * Why this signer may not sign this approval whatever its status (separation of duties and the
 * approver list), or undefined. The signing page answers these as it answers a wrong password:
 * after a correct password they would otherwise tell an attacker that the password was right.
 */
export function signerRefusal(
  record: Pick<ApprovalRecord, 'requestedBy' | 'userName'>,
  signer: Signer,
  config: Pick<Settings, 'approvers'>,
): string | undefined {
  // Stable identities only (the pool's sub, the immutable user name, the IAM principal the
  // directory links): a printed name is text anyone with the right to set it could copy.
  const same = (a: string, b: string) => a.trim().toLowerCase() === b.trim().toLowerCase();
  const identities = [signer.sub, signer.username, signer.principalArn].filter((id): id is string => !!id);
  // The requester is an ARN STS gave (an assumed-role session is its role).
  const requester = principalOf(record.requestedBy);
  if (identities.some((id) => same(id, record.requestedBy) || principalOf(id) === requester))
    return 'you requested this rotation, so you may not approve it';
  const principalUser = /^arn:aws[\w-]*:iam::\d{12}:user\/(?:.*\/)?([^/]+)$/.exec(signer.principalArn ?? '')?.[1];
  if ([signer.username, principalUser].some((id) => id !== undefined && same(id, record.userName)))
    return 'this is your own access key, so you may not approve it';
  if (!config.approvers.some((allowed) => same(allowed, signer.username))) {
    return `${signer.username} is not on the approver list for keyrot`;
  }
  return undefined;
}

/** The SFN API's errors for a task token that no longer waits. */
const TOKEN_GONE = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

/**
 * Record a decision and resume the execution: single use (a conditional write), refused
 * after expiry, for the requester, for the user whose key rotates, and for approvers not on
 * the allow-list. Approving sends the signature record; rejecting fails the task.
 */
export async function decide(
  { ddb, kms, callbacks }: Pick<Clients, 'ddb' | 'kms'> & { callbacks: TaskCallbacks },
  config: Pick<Settings, 'approvalsTable' | 'approvers' | 'signingKeyId'>,
  decision: { approvalId: string; signer: Signer; meaning: Signature['meaning']; reason: string },
  now: Date = new Date(),
): Promise<Signature> {
  const record = await getApproval({ ddb }, config, decision.approvalId);
  if (!record) throw new InvalidApprovalError(`unknown approval ${decision.approvalId}`);
  const refused = refusal(record, decision.signer, config, now);
  if (refused) throw new InvalidApprovalError(refused);
  const reason = decision.reason.trim();
  if (!reason) throw new InvalidApprovalError('a reason is required');

  // Signed before the single-use write: a signature that is not on the record resumes nothing.
  const signature = await signManifest(kms, config, {
    approvalId: record.approvalId,
    executionId: record.executionId,
    state: record.state,
    user: record.userName,
    keyIds: record.keyIds,
    signer: decision.signer.name,
    signerId: decision.signer.username,
    signerSub: decision.signer.sub,
    meaning: decision.meaning,
    reason,
    signedAt: now.toISOString(),
  });
  if (!(await closePending({ ddb }, config, record.approvalId, decision.meaning, { signature }))) {
    throw new InvalidApprovalError('this approval was already decided');
  }
  try {
    if (decision.meaning === 'APPROVED') {
      await callbacks.sendTaskSuccess(record.taskToken, JSON.stringify(signature));
    } else {
      // The cause carries the whole signature, so the history shows who rejected and why (11.50).
      const cause = JSON.stringify({
        errorType: 'ApprovalRejected',
        errorMessage: `rejected by ${signature.signer} (${signature.signerId}) at ${signature.signedAt}: ${reason}`,
        signature,
      });
      await callbacks.sendTaskFailure(record.taskToken, 'ApprovalRejected', cause);
    }
  } catch (error) {
    // The step timed out between the expiry check and now: the decision took no effect.
    if (!(error instanceof Error && TOKEN_GONE.has(error.name))) throw error;
    await closePending({ ddb }, config, record.approvalId, 'EXPIRED', {}, decision.meaning);
    logger.warn('decision arrived after the step timed out', { approvalId: record.approvalId, error: error.name });
    throw new ApprovalExpiredError(
      `this approval's step timed out before your decision reached it (${error.name}); nothing was changed`,
    );
  }
  logger.info('approval decided', {
    approvalId: record.approvalId,
    meaning: decision.meaning,
    signer: signature.signerId,
  });
  return signature;
}

/**
 * Sign every approval an execution waits for with one decision, without a page or a
 * password: the path of `--auto-approve`, the tests and the benchmark. The same rules apply
 * (allow-list, requester, expiry, single use).
 */
export async function decideAllPending(
  deps: Pick<Clients, 'ddb' | 'kms'> & { callbacks: TaskCallbacks },
  config: Pick<Settings, 'approvalsTable' | 'approvers' | 'signingKeyId'>,
  executionId: string,
  decision: { signer: Signer; meaning: Signature['meaning']; reason: string },
): Promise<Signature[]> {
  const signatures: Signature[] = [];
  for (const approval of await pendingApprovals(deps, config, executionId)) {
    signatures.push(await decide(deps, config, { approvalId: approval.approvalId, ...decision }));
  }
  return signatures;
}
