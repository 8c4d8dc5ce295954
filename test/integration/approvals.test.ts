import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { summarize } from '../../handlers/domain/outcome';
import { LocalAws } from '../support/local-aws';
import { rotationAtGate, type Waiting } from '../support/approval-gate';
import { cliSession } from '../support/cli';
import { pickWith, seeded } from '../support/random';

let aws: LocalAws;
let server: { url: string; stop: () => Promise<void> };
let modules: {
  approvals: typeof import('../../handlers/domain/approvals');
  links: typeof import('../../handlers/domain/approval-links');
  clients: typeof import('../../handlers/shared/clients');
  engine: typeof import('../../local/engine');
};
let tokens: InstanceType<typeof import('../../local/engine').LocalTaskTokens>;
const cli = cliSession(() => aws);

const waitingRotation = (userName: string, input?: Record<string, unknown>, context?: Record<string, string>) =>
  rotationAtGate({ aws, tokens, serverUrl: server.url }, userName, input, context);

function post(url: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
    signal: AbortSignal.timeout(120_000),
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

/** Why the last failed sign-in on a record failed, as the audit trail keeps it. */
function lastFailure(record: { failedSignIns?: { why?: string }[] }): string {
  return record.failedSignIns?.at(-1)?.why ?? '(no failed sign-in recorded)';
}

describe('the approval endpoint', () => {
  let waiting: Waiting;

  beforeAll(async () => {
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
  afterAll(async () => {
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
    assert.match(html, new RegExp(`Requested by</th><td>${aws.operatorArn}`));
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

  // A correct password followed by "you may not" would tell an attacker the password was right:
  // these answer as a wrong password does, and the record keeps why.
  it('refuses approvers who are not on the allow-list as it refuses a wrong password', async () => {
    const response = await post(waiting.link, form(waiting, { username: 'intern', password: 'Demo-Intern-4!' }));
    await assertRefused(waiting, response, 401, /Sign-in refused/);
    assert.match(lastFailure(await waiting.record()), /intern is not on the approver list/);
  });

  it('refuses the requester (the operator principal the directory links) as it refuses a wrong password', async () => {
    const response = await post(waiting.link, form(waiting, { username: 'ops', password: 'Demo-Operator-3!' }));
    await assertRefused(waiting, response, 401, /Sign-in refused/);
    assert.match(lastFailure(await waiting.record()), /you requested this rotation/);
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

  it('answers three wrong passwords 401, then throttles the user name on this approval with 429 and Retry-After', async () => {
    const before = await waiting.record();
    const wrong = form(waiting, { username: 'system-owner', password: 'not-it' });
    for (let n = 0; n < 3; n += 1)
      await assertRefused(waiting, await post(waiting.link, wrong), 401, /Sign-in refused/);
    const right = form(waiting, { username: 'system-owner', password: 'Demo-Approver-2!' });
    const throttled = await post(waiting.link, right);
    const retryAfter = Number(throttled.headers.get('retry-after'));
    await assertRefused(waiting, throttled, 429, /Too many sign-in attempts with this user name on this approval/);
    assert.ok(retryAfter > 0 && retryAfter <= 10, `Retry-After ${retryAfter}`);
    const record = await waiting.record();
    // A name no account vouched for (here: a wrong password) is kept as a keyed digest, one per name.
    const these = record.failedSignIns?.slice(before.failedSignIns?.length ?? 0) ?? [];
    const shown = these[0]?.identity ?? '';
    assert.match(shown, /^unverified name #[0-9a-f]{12}$/);
    assert.deepEqual(
      these.map(({ identity, attempt }) => ({ identity, attempt })),
      [1, 2, 3].map((attempt) => ({ identity: shown, attempt })),
    );
    assert.equal(record.failedSignInCount, (before.failedSignInCount ?? 0) + 3);
    assert.equal(record.throttledSignIns, (before.throttledSignIns ?? 0) + 1);
    assert.equal(JSON.stringify(record).includes('not-it'), false, 'no typed password on the record');
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

    // The failed sign-ins before it (kept on the approval, not in the history) reach the archive and the audit.
    const { archiveLocal } = await import('../../cli/local-runs');
    const archived = await archiveLocal(modules.engine.recordOf(execution));
    assert.ok(archived);
    const audit = await cli.keyrot('audit', execution.executionArn, '--from', 'archive');
    assert.equal(audit.code, 0, audit.stderr);
    assert.match(
      audit.stdout,
      /Failed sign-ins\n {2}DELETION [0-9a-f]{32} \(APPROVED\): \d+ failed sign-in\(s\), \d+ refused by the throttle/,
    );
    assert.match(audit.stdout, / {4}\S+ \S+ UTC {2}intern {2}attempt 1: intern is not on the approver list for keyrot/);
    assert.match(audit.stdout, / {2}ops {2}attempt 1: you requested this rotation, so you may not approve it/);
  });

  it('refuses the user whose key rotates as it refuses a wrong password', async () => {
    const own = await waitingRotation('system-owner');

    await assertRefused(
      own,
      await post(own.link, form(own, { username: 'system-owner', password: 'Demo-Approver-2!' })),
      401,
      /Sign-in refused/,
    );
    assert.match(lastFailure(await own.record()), /your own access key/);
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

  it('records exactly one of two decisions posted at the same instant, and resumes the execution once', async () => {
    const raced = await waitingRotation('raced-user');

    const responses = await Promise.all([
      post(raced.link, form(raced)),
      post(raced.link, form(raced, { username: 'system-owner', password: 'Demo-Approver-2!', meaning: 'REJECTED' })),
    ]);
    const statuses = responses.map((response) => response.status);
    const execution = await raced.run;
    const record = await raced.record();

    assert.deepEqual([...statuses].sort(), [200, 409]);
    const winner = statuses[0] === 200 ? 'APPROVED' : 'REJECTED';
    assert.equal(record.status, winner);
    assert.equal(summarize(execution.events).outcome, winner === 'APPROVED' ? 'ROTATED' : 'ROLLED_BACK');
    const resumed = execution.events.filter((event) => /^Task(Succeeded|Failed)$/.test(event.type));
    assert.equal(resumed.length, 1, 'the gate was answered once');
  });

  it('keeps the record and the execution consistent when decisions race the approval timeout', async () => {
    const offsets = [-300, -40, -20, -5, 0, 10];
    const races = await Promise.all(
      offsets.map(async (offset, i) => {
        const racing = await waitingRotation(`timeout-race-${i}`, {}, { 'keyrot:approvalTimeoutSeconds': '2' });
        const expiresAt = Date.parse((await racing.record()).expiresAt);
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt + offset - Date.now())));
        const response = await post(racing.link, form(racing));
        const execution = await racing.run;
        return { status: response.status, record: await racing.record(), outcome: summarize(execution.events).outcome };
      }),
    );

    for (const race of races) {
      if (race.status === 200) {
        assert.equal(race.record.status, 'APPROVED');
        assert.equal(race.outcome, 'ROTATED');
      } else {
        assert.equal(race.status, 410, JSON.stringify(race));
        assert.ok(['PENDING', 'EXPIRED'].includes(race.record.status), race.record.status);
        assert.equal(race.outcome, 'ROLLED_BACK', 'the gate timed out: rollback');
      }
    }
    process.stdout.write(
      `# timeout races: ${races.map((r, i) => `${offsets[i]} ms → ${r.status} ${r.record.status} ${r.outcome}`).join('; ')}\n`,
    );
  });

  it('marks a decision that reaches a gate already timed out EXPIRED, resuming nothing', async () => {
    const late = await waitingRotation('too-late-user', {}, { 'keyrot:approvalTimeoutSeconds': '1' });
    const execution = await late.run;
    const pending = await late.record();
    const { clients, settings } = modules.clients;

    // The expiry check passed a moment before the step timed out (clock skew, a slow sign-in).
    const signing = modules.approvals.decide(
      { ddb: clients.ddb, kms: clients.kms, callbacks: tokens },
      settings(),
      {
        approvalId: pending.approvalId,
        signer: { username: 'quality-approver', sub: 'auto-approve:quality-approver', name: 'Quinn Avery (QA Lead)' },
        meaning: 'APPROVED',
        reason: 'CR-1042 reviewed',
      },
      new Date(Date.parse(pending.expiresAt) - 1),
    );

    await assert.rejects(signing, { name: 'ApprovalExpired', message: /timed out before your decision reached it/ });
    const record = await late.record();
    assert.equal(record.status, 'EXPIRED');
    assert.equal(record.signature?.signerId, 'quality-approver', 'the attempt stays on the record');
    assert.equal(summarize(execution.events).outcome, 'ROLLED_BACK');
    const page = await fetch(late.link);
    assert.equal(page.status, 410);
    assert.match(await page.text(), /expired/);
  });

  it('survives 10,000 hostile requests: no 5xx, no crash, no state change, every response well-formed', async () => {
    const fuzzed = await waitingRotation('fuzzed-user');
    const before = await fuzzed.record();
    const random = seeded(20261123);
    const statuses = new Map<number, number>();
    const problems: string[] = [];

    await inParallel(10_000, 32, async (n) => {
      const request = hostileRequest(random, fuzzed.link, n);
      const answer = await send(server.url, request);
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      const where = `#${n} ${request.method} ${request.path.slice(0, 80)}`;
      if (answer.status >= 500 || answer.status < 200)
        problems.push(`${where}: ${answer.status} ${answer.error ?? ''}`);
      if (!answer.contentType) problems.push(`${where}: ${answer.status} without content-type`);
      // HEAD answers carry the headers of the page and no body.
      if (request.method === 'HEAD') {
        if (answer.body !== '') problems.push(`${where}: HEAD with a body`);
      } else if (answer.contentType?.startsWith('application/json')) {
        try {
          JSON.parse(answer.body);
        } catch {
          problems.push(`${where}: JSON that does not parse`);
        }
      } else if (answer.contentType?.startsWith('text/html') && !answer.body.startsWith('<!doctype html>')) {
        problems.push(`${where}: HTML without a doctype`);
      }
    });

    process.stdout.write(
      `# fuzz: 10000 requests, statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}\n`,
    );
    const after = await fuzzed.record();
    const waited = !fuzzed.settled();
    const still = await fetch(fuzzed.link);
    // Settle the rotation before asserting, so a failure does not leave it waiting.
    await post(fuzzed.link, form(fuzzed));
    const execution = await fuzzed.run;

    assert.deepEqual(problems.slice(0, 20), []);
    assert.deepEqual(after, before, 'the approval record is exactly as before');
    assert.equal(waited, true, 'the execution still waited');
    assert.equal(still.status, 200, 'the server still serves the real link');
    assert.equal(execution.status, 'SUCCEEDED');
  });
});

interface HostileRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

/** One generated request: odd methods, mangled paths and links, wrong encodings, junk and oversized bodies. */
function hostileRequest(random: () => number, link: string, n: number): HostileRequest {
  const pick = pickWith(random);
  const junk = (length: number) => Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
  const text = (length: number) =>
    Array.from({ length }, () =>
      String.fromCodePoint(pick([32, 37, 38, 60, 61, 0x7f, 0xe9, 0x2028, 0x1f511, 0xfffd]) + Math.floor(random() * 40)),
    ).join('');
  const real = new URL(link);
  const id = real.pathname.split('/').at(-1) ?? '';
  const sig = real.searchParams.get('sig') ?? '';
  const path = pick([
    `${real.pathname}${real.search}`,
    `${real.pathname}?sig=${sig.slice(0, -1)}${pick(['0', 'f', 'x', '%00'])}`,
    real.pathname,
    `/approvals/${junk(16).toString('hex')}?sig=${sig}`,
    `/approvals/${id}/../../../etc/passwd?sig=${sig}`,
    `/approvals/${encodeURIComponent(text(20))}`,
    `/approvals/${'A'.repeat(Math.floor(random() * 6000))}`,
    `/%00%ff%fe/${id}`,
    `//approvals//${id}?sig=${sig}&sig=${sig}`,
    `/approvals/${id}?sig=${encodeURIComponent(text(40))}&${encodeURIComponent(text(5))}=${encodeURIComponent(text(5))}`,
    '/',
    `/${encodeURIComponent(text(30))}`,
  ]);
  const method = pick([
    'GET',
    'HEAD',
    'POST',
    'POST',
    'POST',
    'PUT',
    'DELETE',
    'PATCH',
    'OPTIONS',
    'TRACE',
    'PROPFIND',
    'BREW',
  ]);
  const headers: Record<string, string> = {
    'content-type': pick([
      'application/x-www-form-urlencoded',
      'application/x-www-form-urlencoded; charset=utf-16',
      'application/json',
      'multipart/form-data; boundary=----x',
      'text/plain',
      'x/y;;;=',
      '',
    ]),
    accept: pick(['text/html', 'application/json', '*/*', 'application/json;q=0.9, text/html', '', 'x']),
    'x-fuzz': String(n),
  };
  if (method === 'GET' || method === 'HEAD') return { method, path, headers };
  const fields = new URLSearchParams();
  for (const name of ['csrf', 'username', 'password', 'meaning', 'reason', text(3)]) {
    if (random() < 0.8)
      fields.set(
        name,
        pick([text(Math.floor(random() * 60)), 'quality-approver', 'APPROVED', 'REJECTED', '', 'x'.repeat(5000)]),
      );
  }
  const body = pick([
    Buffer.from(fields.toString()),
    Buffer.from(JSON.stringify(Object.fromEntries(fields))),
    junk(Math.floor(random() * 2048)),
    junk(17_000 + Math.floor(random() * 50_000)),
    Buffer.from([0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x28, 0x8c, 0xbc]),
    Buffer.alloc(0),
  ]);
  return { method, path, headers, body };
}

/**
 * Send one raw request (any method, any path) and read the whole answer. A server may answer
 * and close before it has read an oversized body; the answer still counts. A transport error
 * with no answer at all comes back as status 0.
 */
function send(
  base: string,
  request: HostileRequest,
): Promise<{ status: number; contentType: string | undefined; body: string; error?: string }> {
  const url = new URL(base);
  return new Promise((resolve) => {
    let answered: { status: number; contentType: string | undefined; body: string } | undefined;
    const outgoing = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: request.method,
        path: request.path,
        headers: request.headers,
        timeout: 120_000,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          answered = {
            status: response.statusCode ?? 0,
            contentType: response.headers['content-type'],
            body: Buffer.concat(chunks).toString('utf8'),
          };
          resolve(answered);
        });
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error('timed out')));
    outgoing.on('error', (error) => {
      if (!answered) resolve({ status: 0, contentType: undefined, body: '', error: `${error.name}: ${error.message}` });
    });
    outgoing.end(request.body);
  });
}

/** Run `count` tasks, at most `width` at a time. */
async function inParallel(count: number, width: number, task: (n: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < count) await task(next++);
    }),
  );
}
