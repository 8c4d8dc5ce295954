import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { AdminCreateUserCommand, CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { rotationAtGate, type Waiting } from '../support/approval-gate';
import { cliSession } from '../support/cli';
import { LocalAws } from '../support/local-aws';

let aws: LocalAws;
let server: { url: string; stop: () => Promise<void> };
let tokens: InstanceType<typeof import('../../local/engine').LocalTaskTokens>;
let throttle: typeof import('../../handlers/domain/sign-in-throttle');
const session = cliSession(() => aws);

const RIGHT = 'Demo-Approver-2!';
const WRONG = 'Not-The-Password-7!';
const PENDING_USER = 'pending.approver';
const TEMPORARY = 'Temp-Invite-3x!';

const waitingRotation = (userName: string) => rotationAtGate({ aws, tokens, serverUrl: server.url }, userName);

async function post(waiting: Waiting, fields: Record<string, string>, headers: Record<string, string> = {}) {
  const response = await fetch(waiting.link, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams({
      csrf: waiting.csrf,
      meaning: 'APPROVED',
      reason: 'CR-3300 reviewed',
      ...fields,
    }).toString(),
    signal: AbortSignal.timeout(120_000),
  });
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: await response.text() };
}

const signAs = (waiting: Waiting, username: string, password: string) => post(waiting, { username, password });

/** The attempt numbers of the failed sign-ins on the approval record, in order. */
const failedAttempts = async (waiting: Waiting) =>
  ((await waiting.record()).failedSignIns ?? []).map((failure) => failure.attempt).sort((a, b) => a - b);

const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length;

describe('sign-in attempts at signing, throttled per user name and approval', () => {
  beforeAll(async () => {
    aws = await LocalAws.start();
    throttle = await import('../../handlers/domain/sign-in-throttle');
    const engine = await import('../../local/engine');
    tokens = new engine.LocalTaskTokens();
    const { startApprovalServer } = await import('../../local/approval-server');
    server = await startApprovalServer(tokens);
    const cognito = new CognitoIdentityProviderClient({
      endpoint: aws.moto.endpoint,
      region: 'us-east-1',
      credentials: aws.operator,
      maxAttempts: 1,
    });
    const { poolsNamed, LOCAL_APPROVER_POOL_NAME } = await import('../../handlers/domain/approvers');
    const poolId = (await poolsNamed(cognito, LOCAL_APPROVER_POOL_NAME))[0] ?? '';
    // As `keyrot approvers add` leaves an approver: still on the temporary password Cognito e-mailed.
    await cognito.send(
      new AdminCreateUserCommand({
        UserPoolId: poolId,
        Username: PENDING_USER,
        TemporaryPassword: TEMPORARY,
        UserAttributes: [{ Name: 'name', Value: 'Pat Pending (QA)' }],
        MessageAction: 'SUPPRESS',
      }),
    );
    process.env.KEYROT_APPROVERS = `${process.env.KEYROT_APPROVERS},${PENDING_USER}`;
  });
  afterAll(async () => {
    await server?.stop();
    await aws?.stop();
  });

  for (const n of [3, 10, 20]) {
    it(`lets exactly three of ${n} wrong passwords and the right one sent at once reach Cognito`, async () => {
      const waiting = await waitingRotation(`burst-fresh-${n}`);
      const burst = [...Array.from({ length: n }, () => WRONG), RIGHT];

      const answers = await Promise.all(burst.map((password) => signAs(waiting, 'system-owner', password)));
      const statuses = answers.map((answer) => answer.status);
      const record = await waiting.record();
      const attempts = await failedAttempts(waiting);
      // Settle the rotation with another approver when the right password was throttled.
      if (record.status === 'PENDING')
        assert.equal((await signAs(waiting, 'quality-approver', 'Demo-Approver-1!')).status, 200);
      const execution = await waiting.run;

      process.stdout.write(`# burst of ${n + 1} on a fresh count: ${JSON.stringify(statuses)}\n`);
      assert.deepEqual(
        statuses.filter((s) => ![200, 401, 429].includes(s)),
        [],
      );
      assert.equal(count(statuses, 200) + count(statuses, 401), throttle.FREE_ATTEMPTS, 'exactly the free attempts');
      assert.equal(count(statuses, 429), n + 1 - count(statuses, 200) - count(statuses, 401));
      assert.equal(attempts.length, count(statuses, 401), 'every refusal is on the record');
      assert.ok(
        attempts.every((attempt) => attempt <= throttle.FREE_ATTEMPTS),
        `attempt numbers ${attempts}`,
      );
      assert.equal(record.status === 'APPROVED', count(statuses, 200) === 1);
      assert.equal(record.throttledSignIns ?? 0, count(statuses, 429));
      assert.equal(execution.status, 'SUCCEEDED');
    });

    it(`accepts none of ${n} wrong passwords and the right one sent at once once the limit is reached`, async () => {
      const waiting = await waitingRotation(`burst-limit-${n}`);
      for (let i = 0; i < throttle.FREE_ATTEMPTS; i += 1) {
        assert.equal((await signAs(waiting, 'system-owner', WRONG)).status, 401);
      }
      const burst = [...Array.from({ length: n }, () => WRONG), RIGHT];

      const answers = await Promise.all(burst.map((password) => signAs(waiting, 'system-owner', password)));
      const pending = (await waiting.record()).status;
      const waited = !waiting.settled();
      const retryAfter = Number(answers.at(-1)?.retryAfter);
      await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000));
      const afterTheWait = await signAs(waiting, 'system-owner', RIGHT);
      const execution = await waiting.run;

      assert.deepEqual(
        answers.map((answer) => answer.status),
        burst.map(() => 429),
      );
      assert.match(answers.at(-1)?.body ?? '', /try again after \d{4}-\d\d-\d\dT[\d:.]+Z \(in \d+ seconds\)/);
      assert.ok(retryAfter > 0 && retryAfter <= throttle.BASE_DELAY_SECONDS, `Retry-After ${retryAfter}`);
      assert.equal(pending, 'PENDING');
      assert.equal(waited, true, 'the execution still waited');
      assert.equal(afterTheWait.status, 200, 'after Retry-After the real approver signs');
      assert.equal(execution.status, 'SUCCEEDED');
    });
  }

  it('slows only the flooded user name on the flooded approval: another approver, and the same one elsewhere, sign', async () => {
    const flooded = await waitingRotation('flooded-user');
    const other = await waitingRotation('other-approval-user');

    const flood = await Promise.all(Array.from({ length: 20 }, () => signAs(flooded, 'system-owner', WRONG)));
    const floodedOwner = await signAs(flooded, 'system-owner', RIGHT);
    const elsewhere = await signAs(other, 'system-owner', RIGHT);
    const anotherApprover = await signAs(flooded, 'quality-approver', 'Demo-Approver-1!');
    const executions = await Promise.all([flooded.run, other.run]);

    assert.ok(
      count(
        flood.map((answer) => answer.status),
        429,
      ) >=
        20 - throttle.FREE_ATTEMPTS,
    );
    assert.equal(floodedOwner.status, 429);
    assert.equal(elsewhere.status, 200, elsewhere.body.slice(0, 300));
    assert.equal(anotherApprover.status, 200, anotherApprover.body.slice(0, 300));
    assert.deepEqual(
      executions.map((execution) => execution.status),
      ['SUCCEEDED', 'SUCCEEDED'],
    );
    assert.equal((await flooded.record()).signature?.signerId, 'quality-approver');
  });

  it('counts case, spacing and width variants of a user name as one, and `keyrot approvers unlock` clears it', async () => {
    const waiting = await waitingRotation('variants-user');
    const variants = ['System-Owner', '  SYSTEM-OWNER ', 'ｓｙｓｔｅｍ－ｏｗｎｅｒ'];

    const refused = [];
    for (const username of variants) refused.push((await signAs(waiting, username, WRONG)).status);
    const throttled = await signAs(waiting, 'system-owner', RIGHT);
    const identities = ((await waiting.record()).failedSignIns ?? []).map((failure) => failure.identity);
    const invalid = await session.keyrot('approvers', 'unlock', 'system owner');
    const unlocked = await session.keyrot('approvers', 'unlock', 'System-Owner');
    const nothing = await session.keyrot('approvers', 'unlock', 'never-failed');
    const help = await session.keyrot('approvers', 'unlock', '--help');
    const signed = await signAs(waiting, 'system-owner', RIGHT);
    const execution = await waiting.run;

    assert.deepEqual(refused, [401, 401, 401]);
    assert.equal(throttled.status, 429);
    // Text no account vouched for is kept as a keyed digest (it may be a password typed in the wrong field).
    assert.equal(new Set(identities).size, 1);
    assert.match(identities[0] ?? '', /^unverified name #[0-9a-f]{12}$/);
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr.trim(), /^keyrot: user name "system owner" is not allowed: [^\n]+$/);
    assert.equal(unlocked.code, 0, unlocked.stderr);
    assert.match(unlocked.stdout, /^unlocked System-Owner on \d+ approval\(s\): the next sign-in is not delayed\n$/);
    assert.equal(nothing.code, 0, nothing.stderr);
    assert.match(nothing.stdout, /never-failed has no counted sign-in attempts: nothing to unlock/);
    assert.match(help.stdout, /Clear an approver's throttled sign-in attempts/);
    assert.match(help.stdout, /after 3 attempts each\s+further one waits/);
    assert.equal(signed.status, 200, signed.body.slice(0, 300));
    assert.equal(execution.status, 'SUCCEEDED');
  });

  it('gives a wrong password, an unknown user and an account still on its temporary password one answer', async () => {
    const waiting = await waitingRotation('one-answer-user');
    const attempts = [
      { username: 'system-owner', password: WRONG },
      { username: 'nobody-at-all', password: WRONG },
      { username: PENDING_USER, password: TEMPORARY },
    ];

    const html = [];
    const json = [];
    for (const credentials of attempts) {
      const page = await post(waiting, credentials);
      html.push({ status: page.status, body: page.body });
      const data = await post(waiting, credentials, { accept: 'application/json' });
      json.push({ status: data.status, body: data.body });
    }
    const record = await waiting.record();
    const listed = await session.keyrot('approvals');
    await signAs(waiting, 'quality-approver', 'Demo-Approver-1!');
    await waiting.run;

    for (const list of [html, json]) for (const answer of list) assert.deepEqual(answer, list[0]);
    assert.equal(html[0]?.status, 401);
    assert.match(
      html[0]?.body ?? '',
      /Sign-in refused: the user name or password is not right, this account cannot sign yet, or it may not sign/,
    );
    assert.match(html[0]?.body ?? '', /set it first on the \/password page/);
    assert.equal(
      JSON.parse(json[0]?.body ?? '{}').message,
      (await import('../../handlers/domain/approval-http')).SIGN_IN_REFUSED,
    );
    for (const secret of [WRONG, TEMPORARY]) {
      assert.equal(html[0]?.body.includes(secret), false);
      assert.equal(JSON.stringify(record).includes(secret), false, 'no typed password on the record');
    }
    assert.equal(record.failedSignInCount, 6);
    assert.match(
      listed.stdout,
      new RegExp(`${waiting.approvalId} .* one-answer-user .*failed sign-ins 6, throttled 0`),
    );
    const names = [...new Set(record.failedSignIns?.map((failure) => failure.identity))];
    assert.equal(names.length, 3);
    for (const name of names) assert.match(name, /^unverified name #[0-9a-f]{12}$/);
    assert.equal(JSON.stringify(record).includes('nobody-at-all'), false, 'no typed user name on the record');
  });
});
