import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import {
  AdminCreateUserCommand,
  AdminGetUserCommand,
  CognitoIdentityProviderClient,
} from '@aws-sdk/client-cognito-identity-provider';
import { rotationAtGate } from '../support/approval-gate';
import { LocalAws } from '../support/local-aws';

let aws: LocalAws;
let server: { url: string; stop: () => Promise<void> };
let cognito: CognitoIdentityProviderClient;
let poolId: string;
let modules: {
  approvals: typeof import('../../handlers/domain/approvals');
  links: typeof import('../../handlers/domain/approval-links');
  clients: typeof import('../../handlers/shared/clients');
  logger: typeof import('../../handlers/shared/logger');
  password: typeof import('../../handlers/domain/approver-password');
  throttle: typeof import('../../handlers/domain/sign-in-throttle');
};
let tokens: InstanceType<typeof import('../../local/engine').LocalTaskTokens>;

const NEW_APPROVER = 'new.approver';
const TEMPORARY = 'Temp-Invite-7x!';
const CHOSEN = 'Chosen-Approver-9!';
const SECRETS = [TEMPORARY, CHOSEN, 'Demo-Approver-1!', 'Wrong-Temp-1!'];

/** Every log line the handlers write while `act` runs. */
async function logsOf<T>(act: () => Promise<T>): Promise<{ result: T; lines: string[] }> {
  const lines: string[] = [];
  modules.logger.logger.routeTo((line) => lines.push(line));
  try {
    return { result: await act(), lines };
  } finally {
    modules.logger.logger.routeTo(undefined);
  }
}

/**
 * Run `act` with moto's signature checks paused. moto 5.2.5 lists InitiateAuth among its public
 * operations but not RespondToAuthChallenge, so with checks on it answers the unsigned call (the
 * SDK signs neither, as AWS requires neither) with a 500 (KeyError 'HTTP_AUTHORIZATION').
 */
async function unsignedChallengeAllowed<T>(act: () => Promise<T>): Promise<T> {
  const resetAuth = (count: string) =>
    fetch(`${aws.moto.endpoint}/moto-api/reset-auth`, {
      method: 'POST',
      body: count,
      signal: AbortSignal.timeout(120_000),
    });
  await resetAuth('1000000');
  try {
    return await act();
  } finally {
    await resetAuth('0');
  }
}

const status = async (username: string) =>
  (await cognito.send(new AdminGetUserCommand({ UserPoolId: poolId, Username: username }))).UserStatus;

/** A fresh form token, as a browser gets it from GET /password (JSON for the test). */
async function formToken(): Promise<string> {
  const page = await fetch(`${server.url}/password`, {
    headers: { accept: 'application/json' },
    signal: AbortSignal.timeout(120_000),
  });
  const { csrf } = (await page.json()) as { csrf?: string };
  assert.ok(csrf, 'GET /password hands out a form token');
  return csrf;
}

function postPassword(fields: Record<string, string>, headers: Record<string, string> = {}) {
  return fetch(`${server.url}/password`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(fields).toString(),
    signal: AbortSignal.timeout(120_000),
  });
}

/** Every attempt of `username` counted today starts again (`keyrot approvers unlock`). */
const unlock = (username: string) =>
  modules.throttle.unlockIdentity(modules.clients.clients, modules.clients.settings(), username);

const passwordForm = (csrf: string, overrides: Record<string, string> = {}) => ({
  csrf,
  username: NEW_APPROVER,
  temporaryPassword: TEMPORARY,
  newPassword: CHOSEN,
  newPasswordAgain: CHOSEN,
  ...overrides,
});

describe('the first sign-in page (/password)', () => {
  beforeAll(async () => {
    aws = await LocalAws.start();
    modules = {
      approvals: await import('../../handlers/domain/approvals'),
      links: await import('../../handlers/domain/approval-links'),
      clients: await import('../../handlers/shared/clients'),
      logger: await import('../../handlers/shared/logger'),
      password: await import('../../handlers/domain/approver-password'),
      throttle: await import('../../handlers/domain/sign-in-throttle'),
    };
    const engine = await import('../../local/engine');
    tokens = new engine.LocalTaskTokens();
    const { startApprovalServer } = await import('../../local/approval-server');
    server = await startApprovalServer(tokens);
    cognito = new CognitoIdentityProviderClient({
      endpoint: aws.moto.endpoint,
      region: 'us-east-1',
      credentials: aws.operator,
      maxAttempts: 1,
    });
    const { poolsNamed, putDirectoryEntry, LOCAL_APPROVER_POOL_NAME } = await import('../../handlers/domain/approvers');
    poolId = (await poolsNamed(cognito, LOCAL_APPROVER_POOL_NAME))[0] ?? '';
    // As `keyrot approvers add` creates an approver, with the temporary password Cognito would
    // e-mail, and their entry in keyrot's approver directory.
    const created = await cognito.send(
      new AdminCreateUserCommand({
        UserPoolId: poolId,
        Username: NEW_APPROVER,
        TemporaryPassword: TEMPORARY,
        UserAttributes: [{ Name: 'name', Value: 'Noor Approver (QA)' }],
        MessageAction: 'SUPPRESS',
      }),
    );
    await putDirectoryEntry(modules.clients.clients.ddb, process.env.KEYROT_APPROVALS_TABLE ?? '', {
      sub: created.User?.Attributes?.find((attribute) => attribute.Name === 'sub')?.Value ?? '',
      username: NEW_APPROVER,
      name: 'Noor Approver (QA)',
      addedAt: new Date().toISOString(),
    });
    process.env.KEYROT_APPROVERS = `${process.env.KEYROT_APPROVERS},${NEW_APPROVER}`;
  });
  afterAll(async () => {
    await server?.stop();
    await aws?.stop();
  });

  it('serves the form on GET and HEAD with the approval pages headers, and changes nothing', async () => {
    const before = await status(NEW_APPROVER);

    const page = await fetch(`${server.url}/password?username=${NEW_APPROVER}&temporaryPassword=${TEMPORARY}`);
    const head = await fetch(`${server.url}/password`, { method: 'HEAD' });
    const html = await page.text();

    assert.equal(before, 'FORCE_CHANGE_PASSWORD');
    assert.equal(page.status, 200);
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
    assert.match(html, /<h1>Set your approver password<\/h1>/);
    assert.match(html, /<input type="hidden" name="csrf" value="\d+\.[0-9a-f]{64}">/);
    assert.match(html, /name="temporaryPassword" type="password"/);
    assert.match(html, /name="newPasswordAgain" type="password" autocomplete="new-password"/);
    assert.equal(html.includes(TEMPORARY), false, 'a password in the query is not echoed');
    assert.equal(page.headers.get('cache-control'), 'no-store');
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'.*form-action 'self'/);
    assert.equal(page.headers.get('x-frame-options'), 'DENY');
    assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(await status(NEW_APPROVER), 'FORCE_CHANGE_PASSWORD');
  });

  it('refuses a POST without the CSRF token, with a forged one or an old one with 403, and changes nothing', async () => {
    const { clients, settings } = modules.clients;
    const key = await modules.links.loadLinkKey(clients.secrets, settings());
    const twoHoursAgo = Math.floor(Date.now() / 1000) - 7200;
    const old = `${twoHoursAgo}.${modules.links.csrfToken(key, `password:${twoHoursAgo}`)}`;
    const real = await formToken();
    const forged = real.replace(/.$/, (c) => (c === '0' ? '1' : '0'));

    const { csrf: _none, ...withoutToken } = passwordForm(real);
    const answers = [
      await postPassword(withoutToken),
      await postPassword(passwordForm(forged)),
      await postPassword(passwordForm(old)),
    ];

    for (const answer of answers) {
      assert.equal(answer.status, 403);
      assert.match(await answer.text(), /The form token is missing, wrong or too old/);
    }
    assert.equal(await status(NEW_APPROVER), 'FORCE_CHANGE_PASSWORD');
  });

  it('refuses other encodings with 415, oversized bodies with 413, and different new passwords with 400', async () => {
    const csrf = await formToken();

    const json = await postPassword(passwordForm(csrf), { 'content-type': 'application/json' });
    const large = await postPassword(passwordForm(csrf, { newPasswordAgain: 'x'.repeat(17 * 1024) }));
    const differ = await postPassword(passwordForm(csrf, { newPasswordAgain: `${CHOSEN}x` }));
    const differBody = await differ.text();

    assert.equal(json.status, 415);
    assert.equal(large.status, 413);
    assert.equal(differ.status, 400);
    assert.match(differBody, /The two new passwords are not the same/);
    for (const secret of SECRETS) assert.equal(differBody.includes(secret), false, 'no password is echoed');
    assert.equal(await status(NEW_APPROVER), 'FORCE_CHANGE_PASSWORD');
  });

  it('gives a wrong temporary password, an unknown user and an already-active user the identical answer', async () => {
    const csrf = await formToken();
    const attempts = [
      passwordForm(csrf, { temporaryPassword: 'Wrong-Temp-1!' }),
      passwordForm(csrf, { username: 'nobody-here' }),
      passwordForm(csrf, { username: 'quality-approver', temporaryPassword: 'Wrong-Temp-1!' }),
      passwordForm(csrf, { username: 'quality-approver', temporaryPassword: 'Demo-Approver-1!' }),
    ];

    const { result: answers, lines } = await logsOf(async () => {
      const html = [];
      const json = [];
      for (const fields of attempts) {
        // Each answer compared is a first attempt of its user name (the throttle is tested below).
        await unlock(fields.username ?? '');
        const page = await postPassword(fields);
        html.push({ status: page.status, body: await page.text() });
        await unlock(fields.username ?? '');
        const data = await postPassword(fields, { accept: 'application/json' });
        json.push({ status: data.status, body: await data.text() });
      }
      return { html, json };
    });

    for (const list of [answers.html, answers.json]) {
      for (const answer of list) assert.deepEqual(answer, list[0]);
    }
    assert.equal(answers.html[0]?.status, 401);
    assert.match(answers.html[0]?.body ?? '', new RegExp(modules.password.NOT_SET.replace(/[.()]/g, '\\$&')));
    for (const secret of SECRETS) {
      assert.equal(answers.html[0]?.body.includes(secret), false, 'no password is echoed');
      assert.equal(
        lines.some((line) => line.includes(secret)),
        false,
        'no password is logged',
      );
    }
    assert.ok(
      lines.some((line) => line.includes('first password refused')),
      'each refusal is logged',
    );
    assert.equal(await status(NEW_APPROVER), 'FORCE_CHANGE_PASSWORD');
    assert.equal(await status('quality-approver'), 'CONFIRMED');
  });

  it('throttles guessing a temporary password: of 8 attempts at once, 3 reach Cognito and 5 wait', async () => {
    await unlock(NEW_APPROVER);
    const csrf = await formToken();
    const answers = await Promise.all(
      Array.from({ length: 8 }, (_, i) => postPassword(passwordForm(csrf, { temporaryPassword: `Guess-${i}-Aa1!` }))),
    );

    const statuses = answers.map((answer) => answer.status).sort();
    assert.deepEqual(statuses, [401, 401, 401, 429, 429, 429, 429, 429]);
    const waiting = answers.find((answer) => answer.status === 429)!;
    assert.ok(Number(waiting.headers.get('retry-after')) >= 1);
    assert.match(await waiting.text(), /Too many attempts with this user name today/);
    assert.equal(await status(NEW_APPROVER), 'FORCE_CHANGE_PASSWORD');
    await unlock(NEW_APPROVER);
  });

  it("refuses a new password the pool's policy refuses with 400, in general terms", async () => {
    const csrf = await formToken();

    const weak = await unsignedChallengeAllowed(() =>
      postPassword(passwordForm(csrf, { newPassword: 'abc', newPasswordAgain: 'abc' })),
    );
    const body = await weak.text();

    assert.equal(weak.status, 400);
    assert.match(body, /does not meet the approvers&#39; password policy/);
    assert.equal(body.includes('abc'), false, 'the refused password is not echoed');
    assert.equal(await status(NEW_APPROVER), 'FORCE_CHANGE_PASSWORD');
  });

  it('sets the new password, after which the approver signs an approval with it', async () => {
    const csrf = await formToken();

    const { result: set, lines } = await logsOf(() =>
      unsignedChallengeAllowed(async () => {
        const page = await postPassword(passwordForm(csrf));
        return { status: page.status, body: await page.text() };
      }),
    );
    const again = await postPassword(passwordForm(csrf));
    const waiting = await rotationAtGate({ aws, tokens, serverUrl: server.url }, 'first-signer-user');
    const signed = await fetch(waiting.link, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        csrf: waiting.csrf,
        username: NEW_APPROVER,
        password: CHOSEN,
        meaning: 'APPROVED',
        reason: 'CR-2001 first signature',
      }).toString(),
      signal: AbortSignal.timeout(120_000),
    });
    const signedHtml = await signed.text();
    // Assessed before waiting for the run: a refused signature leaves it waiting at the gate.
    assert.equal(signed.status, 200, signedHtml);
    const execution = await waiting.run;

    assert.equal(set.status, 200, set.body);
    assert.match(set.body, /The password of <code>new\.approver<\/code> is set\. You can now sign approval links/);
    for (const secret of SECRETS) {
      assert.equal(set.body.includes(secret), false, 'no password is echoed');
      assert.equal(
        lines.some((line) => line.includes(secret)),
        false,
        'no password is logged',
      );
    }
    assert.equal(await status(NEW_APPROVER), 'CONFIRMED');
    assert.equal(again.status, 401, 'the temporary password no longer works, and says so generically');
    assert.match(signedHtml, /Signed by<\/th><td>Noor Approver \(QA\) \(new\.approver\)/);
    assert.equal(execution.status, 'SUCCEEDED', `${execution.error} ${execution.cause}`);
    const record = await modules.approvals.getApproval(
      modules.clients.clients,
      modules.clients.settings(),
      waiting.approvalId,
    );
    assert.equal(record?.status, 'APPROVED');
    assert.equal(record?.signature?.signer, 'Noor Approver (QA)');
  });
});
