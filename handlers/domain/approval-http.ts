import type { Clients, Settings } from '../shared/clients';
import { ApprovalExpiredError, InvalidApprovalError } from '../shared/errors';
import { logger } from '../shared/logger';
import { jsonText } from '../shared/printable';
import type { Signature } from '../shared/schemas';
import { csrfToken, linkSignature, loadLinkKey, sameToken, unverifiedName } from './approval-links';
import { messagePage, reviewPage, signedPage } from './approval-page';
import { decide, getApproval, signerRefusal, type ApprovalRecord, type Signer, type TaskCallbacks } from './approvals';
import { authenticateApprover, SignInRefusedError } from './approver-auth';
import { PASSWORD_PATH, passwordRoute } from './approver-password';
import { confirmWithProof, describeConfirmation } from './confirmation';
import { FORM, unsupportedMediaType } from './media-type';
import { claimAttempt, recordFailure, signInIdentity } from './sign-in-throttle';

/** An HTTP request, as a Lambda function URL or the local server hands it over. */
export interface HttpRequest {
  method: string;
  path: string;
  query: Record<string, string | undefined>;
  headers: Record<string, string | undefined>;
  body: string;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface ApprovalApiDeps {
  clients: Pick<Clients, 'ddb' | 'secrets' | 'cognito' | 'kms'>;
  callbacks: TaskCallbacks;
  config: Pick<Settings, 'approvalsTable' | 'approvers' | 'approverClientId' | 'linkKeySecret' | 'signingKeyId'>;
  now?: () => Date;
  /** Where consumers' proofs are replayed (default: from configuration, see stsEndpoint()). */
  stsEndpoint?: string;
}

/**
 * The one answer to every failed sign-in at signing (wrong password, unknown user, an account that
 * must still choose its password, a signer this approval refuses: its requester, the owner of the
 * key, someone not on the approver list), so the page tells nobody which part was wrong. The
 * approval record keeps the reason for the audit trail.
 */
export const SIGN_IN_REFUSED =
  'Sign-in refused: the user name or password is not right, this account cannot sign yet, or it may not sign ' +
  'this request (nobody signs a rotation they asked for or of their own key, and only keyrot approvers sign). ' +
  'Check the user name and password and try again. If you have not chosen your own password yet, set it first ' +
  'on the /password page; if signing still fails, ask the keyrot administrator, who can see why.';

/** The largest form body any page accepts (413 above it). */
export const MAX_BODY = 16 * 1024;
const ID = /^[0-9a-f]{32}$/;
const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
};

/** The result of one request: a status, a message, and what the page shows. */
interface Outcome {
  status: number;
  title: string;
  message: string;
  record?: ApprovalRecord;
  form?: { csrf: string; action: string };
  signature?: Signature;
  /** A consumer confirmation's public view or proof (callback validation). */
  confirmation?: Record<string, unknown>;
  /** A complete HTML page rendered by the route itself (the first sign-in page). */
  page?: string;
  /** Seconds before a throttled sign-in may be tried again (the Retry-After header). */
  retryAfter?: number;
}

/**
 * The approval endpoint: `GET|HEAD /approvals/{id}?sig=…` renders the review page and changes
 * nothing (mail scanners fetch links); `POST` signs a decision with user name and password.
 * Every refusal has its own status and a plain message; nothing a refusal touches resumes the
 * execution. Answers HTML, or JSON when the client asks for it (the `keyrot approve` command).
 */
export async function handleApprovalRequest(deps: ApprovalApiDeps, request: HttpRequest): Promise<HttpResponse> {
  const json = (request.headers.accept ?? '').includes('application/json');
  let outcome: Outcome;
  try {
    outcome = await route(deps, request);
  } catch (error) {
    logger.error('approval request failed', { error: error instanceof Error ? error.name : 'unknown' });
    outcome = { status: 500, title: 'Something went wrong', message: 'The decision was not recorded. Try again.' };
  }
  const headers: Record<string, string> = { ...SECURITY_HEADERS };
  if (outcome.status === 405) headers.allow = 'GET, HEAD, POST';
  if (outcome.retryAfter) headers['retry-after'] = String(outcome.retryAfter);
  let body: string;
  if (json) {
    headers['content-type'] = 'application/json';
    body = jsonText({
      status: outcome.status,
      message: outcome.message,
      ...(outcome.form ? { csrf: outcome.form.csrf } : {}),
      ...(outcome.record ? { approval: publicView(outcome.record) } : {}),
      ...(outcome.signature ? { signature: outcome.signature } : {}),
      ...(outcome.confirmation ? { confirmation: outcome.confirmation } : {}),
    });
  } else {
    headers['content-type'] = 'text/html; charset=utf-8';
    body =
      outcome.page ??
      (outcome.signature && outcome.record
        ? signedPage(outcome.record, outcome.signature)
        : outcome.form && outcome.record
          ? reviewPage(outcome.record, {
              ...outcome.form,
              ...(outcome.status >= 400 ? { problem: outcome.message } : {}),
            })
          : messagePage(outcome.title, outcome.message, outcome.record));
  }
  return { status: outcome.status, headers, body: request.method === 'HEAD' ? '' : body };
}

/** What a page or the CLI may see of a record: never the task token, nor the failed sign-ins of others. */
function publicView(record: ApprovalRecord) {
  const {
    taskToken: _token,
    failedSignIns: _failures,
    failedSignInCount: _failed,
    throttledSignIns: _throttled,
    pending: _pending,
    ttl: _ttl,
    ...visible
  } = record;
  return visible;
}

async function route(deps: ApprovalApiDeps, request: HttpRequest): Promise<Outcome> {
  const confirm = /^\/confirm\/(confirm-[0-9a-f]{32})\/?$/.exec(request.path);
  if (confirm) return confirmRoute(deps, request, confirm[1] ?? '');
  if (request.path === PASSWORD_PATH || request.path === `${PASSWORD_PATH}/`) return passwordRoute(deps, request);
  const match = /^\/approvals\/([^/]+)\/?$/.exec(request.path);
  if (!match) return { status: 404, title: 'Not found', message: 'There is no page here.' };
  if (!['GET', 'HEAD', 'POST'].includes(request.method)) {
    return { status: 405, title: 'Method not allowed', message: 'Use GET to read an approval and POST to sign it.' };
  }
  const approvalId = match[1] ?? '';
  const key = await loadLinkKey(deps.clients.secrets, deps.config);
  if (!ID.test(approvalId) || !sameToken(linkSignature(key, approvalId), request.query.sig)) {
    return {
      status: 403,
      title: 'Link not valid',
      message: 'This approval link is not valid: open the link from the notification as it was sent.',
    };
  }
  const record = await getApproval(deps.clients, deps.config, approvalId);
  if (!record) return { status: 404, title: 'Unknown approval', message: 'There is no approval with this id.' };

  const now = deps.now?.() ?? new Date();
  const form = { csrf: csrfToken(key, approvalId), action: `/approvals/${approvalId}?sig=${request.query.sig}` };
  const closed = closedReason(record, now);
  if (request.method !== 'POST') {
    if (closed) return { ...closed, record };
    return { status: 200, title: record.state, message: 'Waiting for a decision.', record, form };
  }
  return sign(deps, request, { record, form, closed, key }, now);
}

function closedReason(record: ApprovalRecord, now: Date): Omit<Outcome, 'record'> | undefined {
  if (record.status === 'ABORTED' || record.status === 'ENDED') {
    return { status: 410, title: 'Closed', message: `This approval is closed: ${record.closedBecause}.` };
  }
  if (record.status !== 'PENDING' && record.status !== 'EXPIRED') {
    const by = record.signature ? ` by ${record.signature.signer} at ${record.signature.signedAt}` : '';
    return {
      status: 409,
      title: 'Already decided',
      message: `This approval was already ${record.status.toLowerCase()}${by}.`,
    };
  }
  if (record.status === 'EXPIRED' || now.toISOString() > record.expiresAt) {
    return {
      status: 410,
      title: 'Expired',
      message: `This approval expired at ${record.expiresAt}; the rotation does not wait for it any more.`,
    };
  }
  return undefined;
}

async function sign(
  deps: ApprovalApiDeps,
  request: HttpRequest,
  page: {
    record: ApprovalRecord;
    form: { csrf: string; action: string };
    closed: Omit<Outcome, 'record'> | undefined;
    key: Buffer;
  },
  now: Date,
): Promise<Outcome> {
  const { record, form, closed, key } = page;
  const refuse = (status: number, title: string, message: string): Outcome => ({
    status,
    title,
    message,
    record,
    form,
  });
  const unsupported = unsupportedMediaType(request.headers['content-type'], FORM, 'form');
  if (unsupported) return refuse(415, 'Unsupported form', unsupported);
  if (Buffer.byteLength(request.body) > MAX_BODY)
    return refuse(413, 'Form too large', 'The form is larger than 16 KiB.');
  const fields = new URLSearchParams(request.body);
  if (!sameToken(form.csrf, fields.get('csrf') ?? undefined)) {
    return refuse(403, 'Form not valid', 'The form token is missing or wrong: reload the page and sign again.');
  }
  if (closed) return { ...closed, record };
  const username = (fields.get('username') ?? '').trim();
  const password = fields.get('password') ?? '';
  const meaning = fields.get('meaning');
  const reason = (fields.get('reason') ?? '').trim();
  if (!username || !password) return refuse(400, 'Sign-in missing', 'Enter your user name and password to sign.');
  if (meaning !== 'APPROVED' && meaning !== 'REJECTED')
    return refuse(400, 'Decision missing', 'Choose approve or reject.');
  if (!reason) return refuse(400, 'Reason missing', 'Give a reason for your decision.');
  if (reason.length > 1000) return refuse(400, 'Reason too long', 'Keep the reason under 1000 characters.');
  const signer = await signIn(deps, record, { username, password }, now, key);
  if ('status' in signer) return { ...signer, record, form };
  try {
    const signature = await decide(
      { ddb: deps.clients.ddb, kms: deps.clients.kms, callbacks: deps.callbacks },
      deps.config,
      { approvalId: record.approvalId, signer, meaning, reason },
      now,
    );
    return { status: 200, title: 'Recorded', message: 'Your decision is recorded.', record, signature };
  } catch (error) {
    if (error instanceof InvalidApprovalError)
      return { status: 409, title: 'Not recorded', message: error.message, record };
    if (error instanceof ApprovalExpiredError) return { status: 410, title: 'Expired', message: error.message, record };
    throw error;
  }
}

/**
 * Authenticate the signer, throttled per identity and approval: the attempt is counted before
 * Cognito sees the password, so no attempt past the allowance is checked, whatever arrives at once.
 * Every failure answers the same (401, SIGN_IN_REFUSED) and is put on the approval record.
 */
async function signIn(
  deps: ApprovalApiDeps,
  record: ApprovalRecord,
  credentials: { username: string; password: string },
  now: Date,
  linkKey: Buffer,
): Promise<Signer | Pick<Outcome, 'status' | 'title' | 'message' | 'retryAfter'>> {
  const refused = { status: 401, title: 'Sign-in refused', message: SIGN_IN_REFUSED };
  // No account has a longer name: refused as any other, and nothing is counted for it.
  const identity = signInIdentity(credentials.username);
  if (!identity) return refused;
  const claim = await claimAttempt(deps.clients, deps.config, record, identity, now);
  if (!claim.allowed) {
    await recordFailure(deps.clients, deps.config, record.approvalId, 'THROTTLED');
    logger.warn('approval sign-in throttled', {
      approvalId: record.approvalId,
      identity: unverifiedName(linkKey, identity),
      until: claim.notBefore,
    });
    return {
      status: 429,
      title: 'Too many attempts',
      message:
        `Too many sign-in attempts with this user name on this approval: try again after ${claim.notBefore} ` +
        `(in ${claim.retryAfter} seconds). If these attempts were not yours, tell the keyrot administrator.`,
      retryAfter: claim.retryAfter,
    };
  }
  let why: string;
  // Only an account the pool vouched for is named in the evidence; any other text typed is a digest.
  let shown = unverifiedName(linkKey, identity);
  try {
    const signer = await authenticateApprover(deps.clients, deps.config, credentials);
    // Answered as a wrong password is: a different answer would say the password was right.
    const notPermitted = signerRefusal(record, signer, deps.config);
    if (!notPermitted) return signer;
    why = notPermitted;
    shown = signer.username;
  } catch (error) {
    if (!(error instanceof SignInRefusedError)) throw error;
    why = error.message;
  }
  const failure = { at: now.toISOString(), identity: shown, attempt: claim.attempt, why };
  await recordFailure(deps.clients, deps.config, record.approvalId, failure);
  logger.warn('approval sign-in refused', { approvalId: record.approvalId, ...failure });
  return refused;
}

/**
 * `GET|HEAD /confirm/{id}` tells a consumer what the confirmation waits for and changes nothing;
 * `POST` (JSON) carries its proof of possession of the new key (callback validation).
 */
async function confirmRoute(deps: ApprovalApiDeps, request: HttpRequest, id: string): Promise<Outcome> {
  const now = deps.now?.() ?? new Date();
  const confirmDeps = { ddb: deps.clients.ddb, callbacks: deps.callbacks, stsEndpoint: deps.stsEndpoint };
  if (request.method === 'GET' || request.method === 'HEAD')
    return describeConfirmation(confirmDeps, deps.config, id, now);
  if (request.method !== 'POST') {
    return { status: 405, title: 'Method not allowed', message: 'Use GET to read a confirmation and POST to prove.' };
  }
  const unsupported = unsupportedMediaType(request.headers['content-type'], 'application/json', 'signed request');
  if (unsupported) return { status: 415, title: 'Unsupported body', message: unsupported };
  return confirmWithProof(confirmDeps, deps.config, id, request.body, now);
}
