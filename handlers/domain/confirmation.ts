import { createHash } from 'node:crypto';
import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import * as z from '../shared/zod';
import type { Clients, Settings } from '../shared/clients';
import { InvalidInputError } from '../shared/errors';
import { logger } from '../shared/logger';
import type { StateWithNewKey } from '../shared/schemas';
import type { TaskCallbacks } from './approvals';
import { notify } from './notify';

/**
 * Callback validation (the task-token mode): the consumer proves it holds the new key by a
 * signed STS GetCallerIdentity request, which keyrot replays to STS as-is (as Vault's IAM
 * auth method does). The secret never travels; the task token never leaves the record.
 */

/** How far a proof's X-Amz-Date may be from keyrot's clock. */
export const PROOF_MAX_SKEW_MS = 5 * 60_000;
const MAX_PROOF_BYTES = 16 * 1024;
const MAX_STS_ANSWER = 64 * 1024;

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

/**
 * The STS endpoint proofs are replayed to: from configuration only (moto locally, the regional
 * endpoint deployed), never from the request, so the endpoint cannot be pointed elsewhere.
 */
export function stsEndpoint(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env.AWS_ENDPOINT_URL_STS || env.AWS_ENDPOINT_URL;
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1';
  return (configured || `https://sts.${region}.amazonaws.com`).replace(/\/+$/, '');
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

/** A signed request as the consumer sends it: what the SDK would have put on the wire. */
export const SignedRequest = z.strictObject({
  method: z.string().check(z.maxLength(16)),
  url: z.optional(z.string().check(z.maxLength(2048))),
  headers: z.record(z.string().check(z.maxLength(64)), z.string().check(z.maxLength(4096))),
  body: z.string().check(z.maxLength(4096)),
});
export type SignedRequest = z.infer<typeof SignedRequest>;

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

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([A-Z0-9]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=[0-9a-f]{64}$/;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
/** Headers fetch sets from the URL and body itself. */
const NOT_FORWARDED = new Set(['host', 'content-length', 'connection', 'transfer-encoding']);
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

/** Why a signed request cannot prove possession of the new key, before asking STS; undefined when it may. */
function precheck(record: ConfirmationRecord, request: SignedRequest, host: string, now: Date): string | undefined {
  const headers = Object.fromEntries(
    Object.entries(request.headers).map(([name, value]) => [name.toLowerCase(), value]),
  );
  if (request.method.toUpperCase() !== 'POST') {
    return `only a signed POST is accepted (got ${request.method.slice(0, 16)}); a presigned URL is not`;
  }
  const params = new URLSearchParams(request.body);
  if (params.get('Action') !== 'GetCallerIdentity') return 'the signed request is not STS GetCallerIdentity';
  const auth = AUTHORIZATION.exec(headers.authorization ?? '');
  if (!auth) return 'the request carries no AWS Signature Version 4 Authorization header';
  const [, keyId, day, , service, signedHeaders] = auth as unknown as string[];
  if (service !== 'sts') return `the request is signed for ${service}, not sts`;
  if (keyId !== record.newKeyId) {
    return keyId === record.oldKeyId
      ? `signed with the old key ${keyId}: sign with the new key ${record.newKeyId} from AWSCURRENT of ${record.secretId}`
      : `signed with ${keyId}, which is not the new key ${record.newKeyId} of ${record.userName}`;
  }
  const signed = (signedHeaders ?? '').split(';');
  if (!signed.includes('host') || !signed.includes('x-amz-date'))
    return 'the signature does not cover host and x-amz-date';
  const date = AMZ_DATE.exec(headers['x-amz-date'] ?? '');
  if (!date) return 'the request has no valid X-Amz-Date';
  const [, y, mo, d, h, mi, s] = date;
  const signedAt = new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}Z`);
  if (`${y}${mo}${d}` !== day) return 'the credential scope date does not match X-Amz-Date';
  if (Math.abs(now.getTime() - signedAt.getTime()) > PROOF_MAX_SKEW_MS) {
    return `signed at ${signedAt.toISOString()}, more than 5 minutes from ${now.toISOString()}: sign a fresh request`;
  }
  // STS checks the signature over this header; the body must be the one it was computed from.
  const bodyHash = headers['x-amz-content-sha256'];
  if (bodyHash && bodyHash !== createHash('sha256').update(request.body).digest('hex')) {
    return 'the body does not match its signed hash (x-amz-content-sha256): it was changed after signing';
  }
  if ((headers.host ?? '').toLowerCase() !== host.toLowerCase()) {
    return `signed for host ${(headers.host ?? '').slice(0, 100)}, but keyrot checks proofs with STS at ${host}`;
  }
  return undefined;
}

/** The text between `<tag>` and `</tag>` in an STS answer. */
const xmlField = (xml: string, tag: string) => new RegExp(`<${tag}>([^<]{1,2048})</${tag}>`).exec(xml)?.[1];

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
  const problem = precheck(record, request, new URL(endpoint).host, now);
  if (problem) return refuse(problem);

  // Only the signed headers travel (fetch derives host and length from the URL and body).
  const signed = new Set(
    (
      /SignedHeaders=([a-z0-9;-]+)/.exec(request.headers.authorization ?? request.headers.Authorization ?? '')?.[1] ??
      ''
    ).split(';'),
  );
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    const lower = name.toLowerCase();
    if ((signed.has(lower) || lower === 'authorization') && !NOT_FORWARDED.has(lower)) headers[lower] = value;
  }
  let answer: { ok: boolean; text: string };
  try {
    const response = await (deps.fetch ?? fetch)(`${endpoint}/`, {
      method: 'POST',
      headers,
      body: request.body,
      redirect: 'error',
      signal: AbortSignal.timeout(10_000),
    });
    answer = { ok: response.ok, text: (await response.text()).slice(0, MAX_STS_ANSWER) };
  } catch (error) {
    logger.warn('STS could not be reached for a proof', { error: error instanceof Error ? error.name : 'unknown' });
    return {
      status: 502,
      title: 'STS unreachable',
      message: 'STS could not be reached to check the proof; try again.',
    };
  }
  const arn = answer.ok ? xmlField(answer.text, 'Arn') : undefined;
  if (!arn) {
    const code = xmlField(answer.text, 'Code') ?? 'no identity in its answer';
    return refuse(
      code === 'SignatureDoesNotMatch'
        ? 'STS says SignatureDoesNotMatch: the request was changed after signing or signed with a wrong secret'
        : `STS refused the signed request: ${code}`,
    );
  }
  if (arn !== record.userArn) return refuse(`the key authenticates as ${arn}, not ${record.userArn}`);

  const signedAt = AMZ_DATE.exec(request.headers['x-amz-date'] ?? request.headers['X-Amz-Date'] ?? '')!;
  const proof: Proof = {
    confirmationId: id,
    keyId: record.newKeyId,
    arn,
    signedAt: `${signedAt[1]}-${signedAt[2]}-${signedAt[3]}T${signedAt[4]}:${signedAt[5]}:${signedAt[6]}Z`,
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

/** Signing stopped here: the SDK built and signed the request, which is taken instead of sent. */
class Captured extends Error {
  constructor(readonly request: SignedRequest) {
    super('captured');
  }
}

/**
 * A GetCallerIdentity request signed with `credentials` by the SDK's own signer, for `endpoint`,
 * without sending it: what a consumer hands keyrot as proof of possession.
 */
export async function signGetCallerIdentity(
  credentials: { accessKeyId: string; secretAccessKey: string },
  endpoint: string,
  region: string,
  /** Milliseconds the signer's clock is off, as the SDK's systemClockOffset (a consumer with a skewed clock). */
  systemClockOffset = 0,
): Promise<SignedRequest> {
  const sts = new STSClient({ credentials, endpoint, region, maxAttempts: 1, systemClockOffset });
  // The deserialize step runs after signing (finalizeRequest) and before anything is sent.
  sts.middlewareStack.add(
    () => async (args) => {
      const http = args.request as {
        method: string;
        headers: Record<string, string>;
        body?: string;
        hostname: string;
        port?: number;
        path: string;
        protocol: string;
      };
      const url = `${http.protocol}//${http.hostname}${http.port ? `:${http.port}` : ''}${http.path}`;
      throw new Captured({ method: http.method, url, headers: { ...http.headers }, body: String(http.body ?? '') });
    },
    { step: 'deserialize', name: 'keyrotCaptureSignedRequest', priority: 'low' },
  );
  try {
    await sts.send(new GetCallerIdentityCommand({}));
  } catch (error) {
    if (error instanceof Captured) return error.request;
    throw error;
  } finally {
    sts.destroy();
  }
  throw new Error('the SDK sent GetCallerIdentity instead of handing over the signed request');
}
