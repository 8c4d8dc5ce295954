import { createHash } from 'node:crypto';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Clients, Settings } from '../shared/clients';
import { InvalidInputError } from '../shared/errors';
import { logger } from '../shared/logger';
import type { StateWithNewKey } from '../shared/schemas';
import type { TaskCallbacks } from './approvals';
import { notify } from './notify';
import { readSignedRequest, replayToSts, SignedRequest, stsEndpoint } from './sts-proof';

/**
 * Callback validation (the task-token mode): the consumer proves it holds the new key by a
 * signed STS GetCallerIdentity request, which keyrot replays to STS as-is (as Vault's IAM
 * auth method does). The secret never travels; the task token never leaves the record.
 */

const MAX_PROOF_BYTES = 16 * 1024;

/** A pending confirmation, kept in the approvals table beside the approvals (kind and id prefix tell them apart). */
export interface ConfirmationRecord {
  /** The table's key: `confirm-` and 32 hex digits derived from the execution. */
  approvalId: string;
  kind: 'CONFIRMATION';
  taskToken: string;
  executionId: string;
  userName: string;
  userArn: string;
  secretId: string;
  oldKeyId: string;
  newKeyId: string;
  requestedAt: string;
  expiresAt: string;
  status: 'WAITING' | 'CONFIRMED' | 'EXPIRED';
  proof?: Proof;
}

/** What a confirmation resumes the execution with, and keeps as evidence. */
export interface Proof {
  confirmationId: string;
  keyId: string;
  arn: string;
  signedAt: string;
  confirmedAt: string;
}

/**
 * The confirmation id of an execution: derived, so a retried Wait For Consumer replaces its
 * record (and its dead token) and `keyrot confirm <execution>` finds it without the table.
 */
export function confirmationId(executionId: string): string {
  return `confirm-${createHash('sha256').update(executionId).digest('hex').slice(0, 32)}`;
}

function table(config: Pick<Settings, 'approvalsTable'>): string {
  if (!config.approvalsTable) throw new InvalidInputError('KEYROT_APPROVALS_TABLE is not configured');
  return config.approvalsTable;
}

/** Wait For Consumer: record the pending confirmation with its task token and tell the owner how to confirm. */
export async function requestConfirmation(
  { ddb, sns }: Pick<Clients, 'ddb' | 'sns'>,
  config: Pick<Settings, 'approvalsTable' | 'topicArn' | 'approvalBaseUrl'>,
  request: { taskToken: string; expiresInSeconds: number; state: StateWithNewKey },
  now: Date = new Date(),
): Promise<{ confirmationId: string; expiresAt: string }> {
  const { state } = request;
  const record: ConfirmationRecord = {
    approvalId: confirmationId(state.executionId),
    kind: 'CONFIRMATION',
    taskToken: request.taskToken,
    executionId: state.executionId,
    userName: state.userName,
    userArn: state.userArn,
    secretId: state.secretId,
    oldKeyId: state.detection.oldKeyId,
    newKeyId: state.created.newKeyId,
    requestedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + request.expiresInSeconds * 1000).toISOString(),
    status: 'WAITING',
  };
  await ddb.send(new PutCommand({ TableName: table(config), Item: record }));
  const name = state.executionId.split(':').at(-1) ?? state.executionId;
  await notify({ sns }, config.topicArn, {
    event: 'CONFIRMATION_REQUESTED',
    userName: state.userName,
    subject: `keyrot: confirm that ${state.userName}'s consumer runs on the new key`,
    message: [
      `The new key ${record.newKeyId} is in AWSCURRENT of ${record.secretId}. Once the consumer runs on it, confirm:`,
      `  keyrot confirm ${name}    (reads AWSCURRENT and sends a GetCallerIdentity request signed with it)`,
      `or POST {"method","url","headers","body"} of such a signed request (never the secret) as JSON to`,
      `  ${config.approvalBaseUrl ?? '<approval URL>'}/confirm/${record.approvalId}`,
      `Without a confirmation by ${record.expiresAt} the rotation rolls back to ${record.oldKeyId}.`,
      `Execution: ${state.executionId}`,
    ].join('\n'),
  });
  logger.info('confirmation requested', { confirmationId: record.approvalId, newKeyId: record.newKeyId });
  return { confirmationId: record.approvalId, expiresAt: record.expiresAt };
}

/** The outcome of a confirmation request, for the HTTP surface to render. */
export interface ConfirmationOutcome {
  status: number;
  title: string;
  message: string;
  confirmation?: Record<string, unknown>;
}

export interface ConfirmDeps {
  ddb: Clients['ddb'];
  callbacks: TaskCallbacks;
  /** Where proofs are replayed; `stsEndpoint()` unless a test says otherwise. */
  stsEndpoint?: string;
  fetch?: typeof fetch;
}

/** The SFN API's errors for a task token that no longer waits. */
const TOKEN_GONE = new Set(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken']);

/** What anyone holding the confirmation URL may read: nothing that is a key id or a token. */
function publicView(record: ConfirmationRecord, endpoint: string) {
  return {
    confirmationId: record.approvalId,
    executionId: record.executionId,
    userName: record.userName,
    secretId: record.secretId,
    status: record.status,
    expiresAt: record.expiresAt,
    stsEndpoint: endpoint,
  };
}

async function getConfirmation(ddb: Clients['ddb'], config: Pick<Settings, 'approvalsTable'>, id: string) {
  const found = await ddb.send(
    new GetCommand({ TableName: table(config), Key: { approvalId: id }, ConsistentRead: true }),
  );
  const item = found.Item as ConfirmationRecord | undefined;
  return item?.kind === 'CONFIRMATION' ? item : undefined;
}

function closed(record: ConfirmationRecord, now: Date): ConfirmationOutcome | undefined {
  if (record.status === 'CONFIRMED') {
    return {
      status: 409,
      title: 'Already confirmed',
      message: `This rotation was already confirmed with ${record.proof?.keyId} at ${record.proof?.confirmedAt}.`,
    };
  }
  if (record.status === 'EXPIRED' || now.toISOString() > record.expiresAt) {
    return {
      status: 410,
      title: 'Expired',
      message: `This confirmation expired at ${record.expiresAt}; the rotation does not wait for it any more.`,
    };
  }
  return undefined;
}

/** GET: what the confirmation waits for (the CLI reads which secret to sign with and where). Changes nothing. */
export async function describeConfirmation(
  deps: Pick<ConfirmDeps, 'ddb' | 'stsEndpoint'>,
  config: Pick<Settings, 'approvalsTable'>,
  id: string,
  now: Date = new Date(),
): Promise<ConfirmationOutcome> {
  const record = await getConfirmation(deps.ddb, config, id);
  if (!record) return { status: 404, title: 'Unknown confirmation', message: 'There is no confirmation with this id.' };
  const view = publicView(record, deps.stsEndpoint ?? stsEndpoint());
  const done = closed(record, now);
  if (done) return { ...done, confirmation: view };
  return {
    status: 200,
    title: 'Waiting for the consumer',
    message: `Waiting until ${record.expiresAt} for a GetCallerIdentity request signed with the new key of ${record.userName}.`,
    confirmation: view,
  };
}

/** Why a signed request cannot prove possession of the new key, before asking STS; else its form. */
function precheck(record: ConfirmationRecord, request: SignedRequest, host: string, now: Date) {
  const form = readSignedRequest(request, host, now);
  if ('problem' in form) return form;
  if (form.keyId !== record.newKeyId) {
    return {
      problem:
        form.keyId === record.oldKeyId
          ? `signed with the old key ${form.keyId}: sign with the new key ${record.newKeyId} from AWSCURRENT of ${record.secretId}`
          : `signed with ${form.keyId}, which is not the new key ${record.newKeyId} of ${record.userName}`,
    };
  }
  return form;
}

/**
 * POST: accept a proof of possession of the new key, once. The signed GetCallerIdentity is
 * replayed to the configured STS endpoint as-is; only the rotated user's own ARN, a credential
 * naming the new key and a fresh signing time resume the execution. Anything else is refused
 * with its reason and the execution keeps waiting.
 */
export async function confirmWithProof(
  deps: ConfirmDeps,
  config: Pick<Settings, 'approvalsTable'>,
  id: string,
  body: string,
  now: Date = new Date(),
): Promise<ConfirmationOutcome> {
  const record = await getConfirmation(deps.ddb, config, id);
  if (!record) return { status: 404, title: 'Unknown confirmation', message: 'There is no confirmation with this id.' };
  const done = closed(record, now);
  if (done) return done;
  if (Buffer.byteLength(body) > MAX_PROOF_BYTES) {
    return { status: 413, title: 'Too large', message: 'The signed request is larger than 16 KiB.' };
  }
  let request: SignedRequest;
  try {
    request = SignedRequest.parse(JSON.parse(body));
  } catch {
    return {
      status: 400,
      title: 'Not a signed request',
      message: 'Send {"method","url","headers","body"} of a signed STS GetCallerIdentity request as JSON.',
    };
  }
  const endpoint = deps.stsEndpoint ?? stsEndpoint();
  const refuse = (reason: string, status = 403): ConfirmationOutcome => {
    logger.warn('confirmation refused', { confirmationId: id, newKeyId: record.newKeyId, reason });
    return { status, title: 'Proof refused', message: `proof refused: ${reason}; the rotation is still waiting` };
  };
  const form = precheck(record, request, new URL(endpoint).host, now);
  if ('problem' in form) return refuse(form.problem);
  const answer = await replayToSts(form, request, endpoint, deps.fetch);
  if ('unreachable' in answer) {
    logger.warn('STS could not be reached for a proof', { endpoint });
    return {
      status: 502,
      title: 'STS unreachable',
      message: 'STS could not be reached to check the proof; try again.',
    };
  }
  if ('refused' in answer) return refuse(answer.refused);
  const { arn } = answer;
  if (arn !== record.userArn) return refuse(`the key authenticates as ${arn}, not ${record.userArn}`);

  const proof: Proof = {
    confirmationId: id,
    keyId: record.newKeyId,
    arn,
    signedAt: form.signedAt.replace('.000Z', 'Z'),
    confirmedAt: now.toISOString(),
  };
  if (!(await moveStatus(deps.ddb, config, id, 'WAITING', 'CONFIRMED', proof))) {
    return { status: 409, title: 'Already confirmed', message: 'This rotation was already confirmed.' };
  }
  try {
    await deps.callbacks.sendTaskSuccess(record.taskToken, JSON.stringify(proof));
  } catch (error) {
    if (!(error instanceof Error && TOKEN_GONE.has(error.name))) throw error;
    await moveStatus(deps.ddb, config, id, 'CONFIRMED', 'EXPIRED');
    return {
      status: 410,
      title: 'Expired',
      message: `the wait for the consumer ended before this proof reached it (${error.name}); nothing was changed`,
    };
  }
  logger.info('consumer confirmed the new key', { confirmationId: id, newKeyId: record.newKeyId, arn });
  return {
    status: 200,
    title: 'Confirmed',
    message: `Confirmed: ${arn} runs on ${record.newKeyId}.`,
    confirmation: { ...proof },
  };
}

/** Move a confirmation from one status to another, once (a conditional write). */
async function moveStatus(
  ddb: Clients['ddb'],
  config: Pick<Settings, 'approvalsTable'>,
  id: string,
  from: ConfirmationRecord['status'],
  to: ConfirmationRecord['status'],
  proof?: Proof,
): Promise<boolean> {
  try {
    await ddb.send(
      new UpdateCommand({
        TableName: table(config),
        Key: { approvalId: id },
        UpdateExpression: proof ? 'SET #status = :to, proof = :proof' : 'SET #status = :to',
        ConditionExpression: '#status = :from',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':to': to, ':from': from, ...(proof ? { ':proof': proof } : {}) },
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof Error && error.name === 'ConditionalCheckFailedException') return false;
    throw error;
  }
}
