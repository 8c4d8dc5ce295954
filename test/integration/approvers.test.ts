import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { CloudFormationClient, CreateStackCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import {
  AdminCreateUserCommand,
  AdminGetUserCommand,
  CognitoIdentityProviderClient,
  ListUserPoolsCommand,
  ListUsersCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { DEMO_APPROVERS } from '../../local/seed';
import { cliSession, type Finished } from '../support/cli';
import { LocalAws } from '../support/local-aws';

const REGION = 'us-east-1';
let aws: LocalAws;
let cognito: CognitoIdentityProviderClient;
let poolId: string;

/** Run `keyrot approvers …` as an operator would, bounded in time; a last object arg adds (or, undefined, removes) env. */
const session = cliSession(() => aws);

/** `keyrot approvers …` as an operator runs it, never inheriting a pool id from this shell; a last object arg adds env. */
function keyrot(...args: (string | Record<string, string | undefined>)[]): Promise<Finished> {
  const extra = typeof args.at(-1) === 'object' ? (args.pop() as Record<string, string | undefined>) : {};
  return session.keyrot('approvers', ...(args as string[]), { KEYROT_APPROVER_POOL_ID: undefined, ...extra });
}

/** Every user of the pool with every attribute, as Cognito answers it (all pages). */
async function poolSnapshot(): Promise<string> {
  const users = [];
  let token: string | undefined;
  for (let page = 0; page < 100; page += 1) {
    const listed = await cognito.send(new ListUsersCommand({ UserPoolId: poolId, PaginationToken: token }));
    users.push(...(listed.Users ?? []));
    token = listed.PaginationToken;
    if (!token) break;
  }
  return JSON.stringify(users.sort((a, b) => (a.Username ?? '').localeCompare(b.Username ?? '')));
}

const attributesOf = async (username: string) => {
  const user = await cognito.send(new AdminGetUserCommand({ UserPoolId: poolId, Username: username }));
  return {
    user,
    attributes: Object.fromEntries((user.UserAttributes ?? []).map((a) => [a.Name ?? '', a.Value ?? ''])),
  };
};

/** The error AdminGetUser answers for a user, or 'exists'. */
const lookup = (username: string) =>
  cognito.send(new AdminGetUserCommand({ UserPoolId: poolId, Username: username })).then(
    () => 'exists',
    (error: Error) => error.name,
  );

/** A one-line error as keyrot prints them. */
function assertOneLineError(run: Finished, code: number, pattern: RegExp): void {
  assert.equal(run.code, code, run.stderr);
  assert.equal(run.stdout, '');
  assert.equal(run.stderr.trimEnd().split('\n').length, 1, run.stderr);
  assert.match(run.stderr, /^keyrot: /);
  assert.match(run.stderr, pattern);
}

beforeAll(async () => {
  aws = await LocalAws.start();
  cognito = new CognitoIdentityProviderClient({
    endpoint: aws.moto.endpoint,
    region: REGION,
    credentials: aws.operator,
    maxAttempts: 1,
  });
  const pools = await cognito.send(new ListUserPoolsCommand({ MaxResults: 60 }));
  poolId = pools.UserPools?.find((pool) => pool.Name === 'keyrot-approvers')?.Id ?? '';
  assert.notEqual(poolId, '', 'local mode seeds the approvers pool');
});
afterAll(async () => aws?.stop());

describe('keyrot approvers add', () => {
  it('creates the user with the administrator-set name and email, waiting for a first sign-in, and prints no password', async () => {
    const run = await keyrot(
      'add',
      'r.okafor',
      '--name',
      'Rita Okafor (Validation Lead)',
      '--email',
      'rita.okafor@example.com',
      '--local',
    );

    assert.equal(run.code, 0, run.stderr);
    const { user, attributes } = await attributesOf('r.okafor');
    assert.equal(attributes.name, 'Rita Okafor (Validation Lead)');
    assert.equal(attributes.email, 'rita.okafor@example.com');
    assert.equal(attributes.email_verified, 'true');
    assert.equal(user.UserStatus, 'FORCE_CHANGE_PASSWORD');
    assert.equal(user.Enabled, true);
    // The printed name signatures carry: keyrot's directory entry, by the account's sub.
    const entry = await new DynamoDBClient({
      endpoint: aws.moto.endpoint,
      region: 'us-east-1',
      credentials: aws.operator,
    }).send(
      new GetItemCommand({
        TableName: process.env.KEYROT_APPROVALS_TABLE,
        Key: { approvalId: { S: `approver#${attributes.sub}` } },
      }),
    );
    assert.deepEqual(
      [entry.Item?.username?.S, entry.Item?.name?.S, entry.Item?.sub?.S],
      ['r.okafor', 'Rita Okafor (Validation Lead)', attributes.sub],
    );
    assert.match(run.stdout, /added r\.okafor \(Rita Okafor \(Validation Lead\), rita\.okafor@example\.com\)/);
    assert.match(run.stdout, /FORCE_CHANGE_PASSWORD/);
    assert.doesNotMatch(run.stdout + run.stderr, /password\s*[:=]|temporary password is/i);
    assert.match(run.stderr, /^hint: .*-c keyrot:approvers=.*r\.okafor/m);
  });

  it('prints the new account as one JSON object with --json, without any password field', async () => {
    const run = await keyrot(
      'add',
      'j.mensah',
      '--name',
      'Jo Mensah',
      '--email',
      'jo@example.org',
      '--pool-id',
      poolId,
      '--json',
    );

    assert.equal(run.code, 0, run.stderr);
    const printed = JSON.parse(run.stdout) as Record<string, unknown>;
    assert.equal(printed.username, 'j.mensah');
    assert.equal(printed.name, 'Jo Mensah');
    assert.equal(printed.email, 'jo@example.org');
    assert.equal(printed.status, 'FORCE_CHANGE_PASSWORD');
    assert.equal(printed.poolId, poolId);
    assert.equal(
      Object.keys(printed).some((key) => /password/i.test(key)),
      false,
    );
    assert.equal((await attributesOf('j.mensah')).attributes.name, 'Jo Mensah');
  });

  it('prints the first sign-in page of the new approver when the approval URL is known, and no such line otherwise', async () => {
    await new CloudFormationClient({ endpoint: aws.moto.endpoint, region: REGION, credentials: aws.operator }).send(
      new CreateStackCommand({
        StackName: 'KeyrotApprovalUrlTest',
        TemplateBody: JSON.stringify({
          Resources: { Topic: { Type: 'AWS::SNS::Topic' } },
          Outputs: {
            ApproverPoolId: { Value: poolId },
            ApprovalUrl: { Value: 'https://abc123.lambda-url.us-east-1.on.aws/' },
          },
        }),
      }),
    );
    const person = (username: string) => [
      username,
      '--name',
      `Person ${username}`,
      '--email',
      `${username}@example.com`,
    ];

    const fromEnv = await keyrot('add', ...person('u.env'), '--pool-id', poolId, {
      KEYROT_APPROVAL_BASE_URL: 'http://127.0.0.1:8123/',
    });
    const fromStack = await keyrot('add', ...person('u.stack'), '--stack', 'KeyrotApprovalUrlTest', {
      KEYROT_APPROVAL_BASE_URL: undefined,
    });
    const unknown = await keyrot('add', ...person('u.none'), '--pool-id', poolId, '--stack', 'KeyrotNotDeployed', {
      KEYROT_APPROVAL_BASE_URL: undefined,
    });

    for (const run of [fromEnv, fromStack, unknown]) assert.equal(run.code, 0, run.stderr);
    assert.match(fromEnv.stderr, /^hint: u\.env sets their own password at http:\/\/127\.0\.0\.1:8123\/password /m);
    assert.match(
      fromStack.stderr,
      /^hint: u\.stack sets their own password at https:\/\/abc123\.lambda-url\.us-east-1\.on\.aws\/password /m,
    );
    assert.doesNotMatch(unknown.stderr, /\/password/);
    assert.match(unknown.stderr, /^hint: .*keyrot:approvers/m, 'the allow-list hint is still there');
  });

  const badInputs: [string, string[], RegExp][] = [
    [
      'a user name with a space',
      ['bad name', '--name', 'Bad Name', '--email', 'bad@example.com'],
      /user name "bad name"/,
    ],
    ['a user name over 128 characters', ['u'.repeat(129), '--name', 'Long', '--email', 'l@example.com'], /user name/],
    ['an empty printed name', ['empty.name', '--name', '', '--email', 'e@example.com'], /printed name .*required/],
    ['a blank printed name', ['blank.name', '--name', '   ', '--email', 'b@example.com'], /printed name .*required/],
    [
      'a printed name with a control character',
      ['bell.name', '--name', 'Ann\u0007Approver', '--email', 'a@example.com'],
      /control or bidirectional character \(U\+0007\) at position 4/,
    ],
    [
      'a printed name with a right-to-left override',
      ['bidi.name', '--name', 'Ann \u202eQA', '--email', 'a@example.com'],
      /U\+202E/,
    ],
    [
      'a printed name over 256 characters',
      ['long.name', '--name', 'N'.repeat(257), '--email', 'n@example.com'],
      /257 characters; at most 256/,
    ],
    ['an email without a domain', ['no.domain', '--name', 'No Domain', '--email', 'someone@'], /e-mail address/],
    ['an email without a dot', ['no.dot', '--name', 'No Dot', '--email', 'someone@localhost'], /e-mail address/],
    ['an email with a space', ['space.mail', '--name', 'Space', '--email', 'some one@example.com'], /e-mail address/],
  ];
  for (const [what, args, message] of badInputs) {
    it(`refuses ${what} with exit 2 and leaves the pool unchanged`, async () => {
      const before = await poolSnapshot();

      const run = await keyrot('add', ...args, '--local');

      assertOneLineError(run, 2, message);
      assert.equal(await poolSnapshot(), before);
    });
  }

  it('refuses bad input before any AWS call: an unreachable endpoint is never reached', async () => {
    const run = await keyrot('add', 'ok.name', '--name', 'Ann\u0001', '--email', 'a@example.com', '--local', {
      // A closed port: a call would fail with ECONNREFUSED and exit 1, not 2.
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
    });

    assertOneLineError(run, 2, /U\+0001/);
  });

  it('refuses a missing --name as a usage error with exit 2', async () => {
    const before = await poolSnapshot();

    const run = await keyrot('add', 'no.name', '--email', 'n@example.com', '--local');

    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /--name/);
    assert.equal(await poolSnapshot(), before);
  });

  it('refuses an existing user with exit 10 and keeps its printed name', async () => {
    const before = await poolSnapshot();

    const run = await keyrot(
      'add',
      'quality-approver',
      '--name',
      'Someone Else',
      '--email',
      'else@example.com',
      '--local',
    );

    assertOneLineError(run, 10, /quality-approver.*already exists/);
    assert.equal(await poolSnapshot(), before);
    assert.equal((await attributesOf('quality-approver')).attributes.name, DEMO_APPROVERS[0]?.name);
  });
});

describe('keyrot approvers list', () => {
  it('shows the demo approvers and an added one in a table with status and creation time', async () => {
    await keyrot('add', 'l.table', '--name', 'Lee Table', '--email', 'lee@example.com', '--local');

    const run = await keyrot('list', '--local');

    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trimEnd().split('\n');
    assert.match(lines[0] ?? '', /^USERNAME\s+PRINTED NAME\s+EMAIL\s+STATUS\s+ENABLED\s+CREATED \(UTC\)$/);
    for (const approver of DEMO_APPROVERS) {
      const row = lines.find((line) => line.startsWith(`${approver.username} `));
      assert.ok(row, `${approver.username} is listed`);
      assert.ok(row.includes(approver.name), row);
      assert.match(row, /CONFIRMED\s+yes\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    }
    const added = lines.find((line) => line.startsWith('l.table '));
    assert.match(added ?? '', /Lee Table\s+lee@example\.com\s+FORCE_CHANGE_PASSWORD\s+yes\s+\d{4}-/);
    assert.match(lines.at(-1) ?? '', new RegExp(`^\\d+ account\\(s\\) in user pool ${poolId} \\(the local pool`));
  });

  it('prints every account as JSON with --json, the same set Cognito lists', async () => {
    const run = await keyrot('list', '--local', '--json');

    assert.equal(run.code, 0, run.stderr);
    const listed = JSON.parse(run.stdout) as {
      username: string;
      name?: string;
      email?: string;
      status: string;
      enabled: boolean;
      created: string;
    }[];
    const inPool = (JSON.parse(await poolSnapshot()) as { Username: string }[]).map((user) => user.Username);
    assert.deepEqual(listed.map((approver) => approver.username).sort(), inPool.sort());
    const qa = listed.find((approver) => approver.username === 'quality-approver');
    assert.equal(qa?.name, DEMO_APPROVERS[0]?.name);
    assert.equal(qa?.status, 'CONFIRMED');
    assert.equal(qa?.enabled, true);
    assert.match(qa?.created ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    const added = listed.find((approver) => approver.username === 'l.table');
    assert.equal(added?.email, 'lee@example.com');
    assert.equal(added?.status, 'FORCE_CHANGE_PASSWORD');
  });

  it('reads every page: 70 more accounts than one ListUsers page holds are all listed', async () => {
    for (let n = 0; n < 70; n += 1) {
      await cognito.send(
        new AdminCreateUserCommand({
          UserPoolId: poolId,
          Username: `page-${String(n).padStart(2, '0')}`,
          UserAttributes: [{ Name: 'name', Value: `Page ${n}` }],
          MessageAction: 'SUPPRESS',
        }),
      );
    }

    const run = await keyrot('list', '--local', '--json');

    assert.equal(run.code, 0, run.stderr);
    const names = (JSON.parse(run.stdout) as { username: string }[]).map((approver) => approver.username);
    assert.equal(names.filter((name) => name.startsWith('page-')).length, 70);
    assert.equal(names.length, (JSON.parse(await poolSnapshot()) as unknown[]).length);
  });

  it('escapes control characters an account created elsewhere carries, so they cannot drive the terminal', async () => {
    await cognito.send(
      new AdminCreateUserCommand({
        UserPoolId: poolId,
        Username: 'elsewhere',
        UserAttributes: [{ Name: 'name', Value: 'Evil\u001b[2JName' }],
        MessageAction: 'SUPPRESS',
      }),
    );

    const run = await keyrot('list', '--local');

    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.includes('\u001b'), false);
    assert.match(run.stdout, /Evil\\u001b\[2JName/);
  });
});

describe('keyrot approvers remove', () => {
  it('deletes the user from the pool', async () => {
    await keyrot('add', 'd.leaving', '--name', 'Dee Leaving', '--email', 'dee@example.com', '--local');
    assert.equal(await lookup('d.leaving'), 'exists');

    const run = await keyrot('remove', 'd.leaving', '--local');

    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /removed d\.leaving/);
    assert.equal(await lookup('d.leaving'), 'UserNotFoundException');
  });

  it('disables instead of deleting with --disable', async () => {
    await keyrot('add', 'd.paused', '--name', 'Dee Paused', '--email', 'paused@example.com', '--local');

    const run = await keyrot('remove', 'd.paused', '--disable', '--local', '--json');

    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { username: 'd.paused', poolId, disabled: true });
    const { user } = await attributesOf('d.paused');
    assert.equal(user.Enabled, false);
  });

  it('refuses an unknown user with exit 9 and a one-line error', async () => {
    const before = await poolSnapshot();

    const run = await keyrot('remove', 'nobody-here', '--local');

    assertOneLineError(run, 9, /no approver named "nobody-here"/);
    assert.equal(await poolSnapshot(), before);
  });
});

describe('which user pool', () => {
  it('names a --pool-id that does not exist in a one-line error with exit 9', async () => {
    const run = await keyrot('list', '--pool-id', 'us-east-1_doesNotExist0');

    assertOneLineError(run, 9, /user pool us-east-1_doesNotExist0 does not exist \(from --pool-id\)/);
  });

  it('refuses a --pool-id that is not shaped like one with exit 2', async () => {
    const run = await keyrot('remove', 'quality-approver', '--pool-id', 'not a pool');

    assertOneLineError(run, 2, /user pool id "not a pool" is not a Cognito user pool id/);
    assert.equal(await lookup('quality-approver'), 'exists');
  });

  it('uses $KEYROT_APPROVER_POOL_ID when no --pool-id is given', async () => {
    const run = await keyrot('list', { KEYROT_APPROVER_POOL_ID: poolId });

    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`in user pool ${poolId} \\(\\$KEYROT_APPROVER_POOL_ID\\)`));
  });

  it('says everything it tried when no pool is found: flag, environment and the stack', async () => {
    const run = await keyrot('list', '--stack', 'KeyrotNotDeployed');

    assertOneLineError(
      run,
      9,
      /no approvers' user pool found; tried --pool-id \(not given\); \$KEYROT_APPROVER_POOL_ID \(not set\); stack KeyrotNotDeployed: .*does not exist/,
    );
  });

  it("reads the deployed stack's ApproverPoolId output", async () => {
    await new CloudFormationClient({
      endpoint: aws.moto.endpoint,
      region: REGION,
      credentials: aws.operator,
    }).send(
      new CreateStackCommand({
        StackName: 'KeyrotApproversTest',
        TemplateBody: JSON.stringify({
          Resources: { Topic: { Type: 'AWS::SNS::Topic' } },
          Outputs: { ApproverPoolId: { Value: poolId } },
        }),
      }),
    );

    const run = await keyrot('list', '--stack', 'KeyrotApproversTest', '--json');

    assert.equal(run.code, 0, run.stderr);
    const names = (JSON.parse(run.stdout) as { username: string }[]).map((approver) => approver.username);
    assert.ok(names.includes('quality-approver'));
  });
});
