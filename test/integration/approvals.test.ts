import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ApprovalRecord } from '../../handlers/domain/approvals';
import type { LocalExecution } from '../../local/engine';
import { LocalAws } from '../support/local-aws';
import { runRotation } from '../support/rotation-runner';

let aws: LocalAws;
let server: { url: string; stop: () => Promise<void> };
let modules: {
  approvals: typeof import('../../handlers/domain/approvals');
  links: typeof import('../../handlers/domain/approval-links');
  clients: typeof import('../../handlers/shared/clients');
  engine: typeof import('../../local/engine');
};
let tokens: InstanceType<typeof import('../../local/engine').LocalTaskTokens>;

/** A rotation waiting at its deletion gate, and the way to reach its approval. */
interface Waiting {
  run: Promise<LocalExecution>;
  settled: () => boolean;
  record: () => Promise<ApprovalRecord>;
  link: string;
  csrf: string;
}

async function waitingRotation(
  userName: string,
  input: Record<string, unknown> = {},
  context?: Record<string, string>,
): Promise<Waiting> {
  await aws.seedUser(userName);
  let done = false;
  const run = runRotation(
    { userName, force: true, requestedBy: 'ops', config: { validationMode: 'none' }, ...input },
    { decision: 'none', tokens, ...(context ? { context } : {}) },
  ).finally(() => (done = true));
  const { clients, settings } = modules.clients;
  const deadline = Date.now() + 30_000;
  let pending: ApprovalRecord | undefined;
  while (!pending) {
    pending = (await modules.approvals.pendingApprovals(clients, settings())).find((a) => a.userName === userName);
    if (Date.now() > deadline) throw new Error(`no approval appeared for ${userName}`);
    if (!pending) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const key = await modules.links.loadLinkKey(clients.secrets, settings());
  const approvalId = pending.approvalId;
  return {
    run,
    settled: () => done,
    record: async () => (await modules.approvals.getApproval(clients, settings(), approvalId)) as ApprovalRecord,
    link: `${server.url}/approvals/${approvalId}?sig=${modules.links.linkSignature(key, approvalId)}`,
    csrf: modules.links.csrfToken(key, approvalId),
  };
}

function post(url: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
    signal: AbortSignal.timeout(15_000),
  });
}

const form = (waiting: Waiting, overrides: Record<string, string> = {}) => ({
  csrf: waiting.csrf,
  username: 'quality-approver',
  password: 'Demo-Approver-1!',
  meaning: 'APPROVED',
  reason: 'CR-1042 reviewed',
  ...overrides,
});

/** Assert a refusal: its status and message, and that nothing was decided or resumed. */
async function assertRefused(waiting: Waiting, response: Response, status: number, message: RegExp): Promise<void> {
  const body = await response.text();
  assert.equal(response.status, status, body.slice(0, 500));
  assert.match(body, message);
  assert.equal((await waiting.record()).status, 'PENDING');
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(waiting.settled(), false, 'the execution still waits');
}

describe('the approval endpoint', () => {
  let waiting: Waiting;

  before(async () => {
    aws = await LocalAws.start();
    modules = {
      approvals: await import('../../handlers/domain/approvals'),
      links: await import('../../handlers/domain/approval-links'),
      clients: await import('../../handlers/shared/clients'),
      engine: await import('../../local/engine'),
    };
    tokens = new modules.engine.LocalTaskTokens();
    const { startApprovalServer } = await import('../../local/approval-server');
    server = await startApprovalServer(tokens);
    waiting = await waitingRotation('approved-user');
  });
  after(async () => {
    await server?.stop();
    await aws?.stop();
  });

  it('renders the review page on GET and HEAD and changes nothing (mail scanners fetch links)', async () => {
    const before = await waiting.record();
    const page = await fetch(waiting.link);
    const head = await fetch(waiting.link, { method: 'HEAD' });
    await fetch(waiting.link);

    const html = await page.text();
    assert.equal(page.status, 200);
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
    assert.match(html, /Approve Deletion for <code>approved-user<\/code>/);
    assert.match(html, /Requested by<\/th><td>ops/);
    assert.match(html, /Approving will<\/strong> deactivate the old access key AKIA/);
    assert.match(html, /days old \(created/);
    assert.equal(page.headers.get('cache-control'), 'no-store');
    assert.deepEqual(await waiting.record(), before);
    assert.equal(html.includes(before.taskToken), false, 'the task token never reaches a page');
    assert.equal(waiting.settled(), false);
  });

  it('refuses a link whose HMAC is forged or missing with 403', async () => {
    const forged = waiting.link.replace(/sig=[0-9a-f]/, (m) => (m.endsWith('0') ? 'sig=1' : 'sig=0'));
    await assertRefused(waiting, await fetch(forged), 403, /This approval link is not valid/);
    await assertRefused(waiting, await fetch(waiting.link.split('?')[0] ?? ''), 403, /not valid/);
    await assertRefused(waiting, await post(forged, form(waiting)), 403, /not valid/);
  });

  it('answers 404 for an approval id that does not exist, even with a valid HMAC', async () => {
    const { clients, settings } = modules.clients;
    const key = await modules.links.loadLinkKey(clients.secrets, settings());
    const unknown = 'a'.repeat(32);

    const response = await fetch(`${server.url}/approvals/${unknown}?sig=${modules.links.linkSignature(key, unknown)}`);

    assert.equal(response.status, 404);
    assert.match(await response.text(), /There is no approval with this id/);
  });

  it('refuses a POST without the CSRF token, or with a wrong one, with 403', async () => {
    const { csrf: _omit, ...noCsrf } = form(waiting);
    await assertRefused(waiting, await post(waiting.link, noCsrf), 403, /form token is missing or wrong/);
    await assertRefused(waiting, await post(waiting.link, form(waiting, { csrf: '0'.repeat(64) })), 403, /form token/);
  });

  it('refuses approvers who are not on the allow-list with 403', async () => {
    const response = await post(waiting.link, form(waiting, { username: 'intern', password: 'Demo-Intern-4!' }));
    await assertRefused(waiting, response, 403, /intern is not on the approver list/);
  });

  it('refuses the requester approving their own rotation with 403', async () => {
    const response = await post(waiting.link, form(waiting, { username: 'ops', password: 'Demo-Operator-3!' }));
    await assertRefused(waiting, response, 403, /you requested this rotation/);
  });

  it('refuses incomplete forms with 400, other encodings with 415, and oversized bodies with 413', async () => {
    await assertRefused(waiting, await post(waiting.link, form(waiting, { reason: ' ' })), 400, /Give a reason/);
    await assertRefused(
      waiting,
      await post(waiting.link, form(waiting, { meaning: 'MAYBE' })),
      400,
      /Choose approve or reject/,
    );
    const asJson = await fetch(waiting.link, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    await assertRefused(waiting, asJson, 415, /application\/x-www-form-urlencoded/);
    await assertRefused(
      waiting,
      await post(waiting.link, form(waiting, { reason: 'x'.repeat(20_000) })),
      413,
      /larger than 16 KiB/,
    );
    const put = await fetch(waiting.link, { method: 'PUT' });
    assert.equal(put.status, 405);
    assert.equal(put.headers.get('allow'), 'GET, HEAD, POST');
  });

  it('counts wrong passwords and locks the approver out of this approval after three', async () => {
    const wrong = form(waiting, { username: 'system-owner', password: 'not-it' });
    await assertRefused(waiting, await post(waiting.link, wrong), 401, /2 attempt\(s\) left/);
    await assertRefused(waiting, await post(waiting.link, wrong), 401, /1 attempt\(s\) left/);
    await assertRefused(waiting, await post(waiting.link, wrong), 423, /can no longer sign this approval/);
    const right = form(waiting, { username: 'system-owner', password: 'Demo-Approver-2!' });
    await assertRefused(waiting, await post(waiting.link, right), 423, /can no longer sign/);
    assert.deepEqual((await waiting.record()).failedAttempts, { 'system-owner': 3 });
  });

  it('signs a valid decision, resumes the execution, and refuses the replay with 409', async () => {
    const signed = await post(waiting.link, form(waiting));
    const html = await signed.text();
    const replay = await post(waiting.link, form(waiting));
    const execution = await waiting.run;

    assert.equal(signed.status, 200, html);
    assert.match(html, /Signed by<\/th><td>Quinn Avery \(QA Lead\) \(quality-approver\)/);
    assert.match(html, /Digest \(SHA-256\)<\/th><td><code>[0-9a-f]{64}/);
    assert.equal(replay.status, 409);
    assert.match(await replay.text(), /already approved by Quinn Avery \(QA Lead\)/);
    assert.equal(execution.status, 'SUCCEEDED', `${execution.error} ${execution.cause}`);
    const record = await waiting.record();
    assert.equal(record.status, 'APPROVED');
    assert.equal(record.signature?.signer, 'Quinn Avery (QA Lead)');
  });

  it('refuses the user whose key rotates with 403', async () => {
    const own = await waitingRotation('system-owner');

    await assertRefused(
      own,
      await post(own.link, form(own, { username: 'system-owner', password: 'Demo-Approver-2!' })),
      403,
      /your own access key/,
    );
    await post(own.link, form(own, { meaning: 'REJECTED', reason: 'not this week' }));
    const execution = await own.run;
    assert.equal(execution.error, 'ROLLED_BACK');
  });

  it('refuses a decision after expiry with 410, and the execution ends ROLLED_BACK', async () => {
    const late = await waitingRotation('late-user', {}, { 'keyrot:approvalTimeoutSeconds': '2' });
    await new Promise((resolve) => setTimeout(resolve, 2200));

    const response = await post(late.link, form(late));
    const execution = await late.run;

    assert.equal(response.status, 410);
    assert.match(await response.text(), /This approval expired at/);
    assert.equal(execution.error, 'ROLLED_BACK');
    assert.match(execution.cause ?? '', /States\.Timeout/);
  });
});
