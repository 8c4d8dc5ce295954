import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { CreateUserCommand, IAMClient, TagUserCommand } from '@aws-sdk/client-iam';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  DescribeSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { summarize } from '../../handlers/domain/outcome';
import { cliSession } from '../support/cli';
import { LocalAws } from '../support/local-aws';
import { runRotation } from '../support/rotation-runner';

// Detect's preconditions and the CLI's check before it starts anything, seen from outside:
// the CLI as a subprocess, AWS state read with independent SDK calls before and after.
let aws: LocalAws;
const { keyrot } = cliSession(() => aws);

beforeAll(async () => {
  aws = await LocalAws.start();
});
afterAll(async () => aws?.stop());

const client = <T>(Client: new (config: object) => T): T =>
  new Client({ endpoint: aws.moto.endpoint, region: 'us-east-1', credentials: aws.operator, maxAttempts: 1 });

/** Keys and secret versions of a user: what must not change when keyrot refuses or plans. */
async function awsState(user: string): Promise<string> {
  const keys = await aws.keys(user);
  let versions: unknown = 'no secret';
  try {
    const secret = await client(SecretsManagerClient).send(new DescribeSecretCommand({ SecretId: `keyrot/${user}` }));
    versions = Object.entries(secret.VersionIdsToStages ?? {})
      .map(([id, stages]) => [id, [...stages].sort()])
      .sort();
  } catch (error) {
    if ((error as Error).name !== 'ResourceNotFoundException') throw error;
  }
  return JSON.stringify({ keys, versions });
}

/** A user with one key whose secret holds `secret` (a string as given), or no secret at all. */
async function userWithSecret(
  user: string,
  secret: (key: { accessKeyId: string; secretAccessKey: string }) => string | undefined,
) {
  const key = await aws.seedUser(user, { onboard: false });
  const text = secret(key);
  if (text !== undefined) {
    await client(SecretsManagerClient).send(new CreateSecretCommand({ Name: `keyrot/${user}`, SecretString: text }));
  }
  return key;
}

const FAST = ['--local', '--force', '--skip-waits', '--auto-approve', 'quality-approver'];

describe('preconditions before any change', () => {
  const cases: [
    string,
    string,
    (key: { accessKeyId: string; secretAccessKey: string }) => string | undefined,
    RegExp,
  ][] = [
    ['no secret', 'SECRET_MISSING', () => undefined, /secret keyrot\/pre-missing does not exist in us-east-1/],
    [
      'a secret naming another key',
      'SECRET_MISMATCH',
      () => JSON.stringify({ accessKeyId: 'AKIAOTHERKEY00000001', secretAccessKey: 'x' }),
      /holds key AKIAOTHERKEY00000001, not the user's active key AKIA/,
    ],
    ['a plain-string secret', 'SECRET_FORMAT', (key) => `${key.accessKeyId}:${key.secretAccessKey}`, /plain string/],
    [
      'JSON in no known shape',
      'SECRET_FORMAT',
      (key) => JSON.stringify({ user: key.accessKeyId, password: key.secretAccessKey }),
      /no known key shape \(fields: user, password\)/,
    ],
  ];
  for (const [what, decision, secret, reason] of cases) {
    it(`refuses ${what} as ${decision} with exit 13, naming the secret, and changes nothing`, async () => {
      const user = `pre-${decision === 'SECRET_MISSING' ? 'missing' : what.replace(/\W+/g, '-').slice(0, 20)}`;
      const key = await userWithSecret(user, secret);
      const before = await awsState(user);

      const run = await keyrot('rotate', user, ...FAST, '--validation', 'none');

      assert.equal(run.code, 13, run.stderr);
      assert.match(run.stderr, new RegExp(`SKIPPED ${decision}: `));
      assert.match(run.stderr, reason);
      assert.match(run.stderr, /nothing was changed/);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
      assert.equal(run.stderr.includes(key.secretAccessKey), false);
      assert.equal(await awsState(user), before);
    });
  }

  it('ends the workflow itself SKIPPED with the named reason when Detect finds the secret missing', async () => {
    await userWithSecret('pre-engine', () => undefined);
    const before = await awsState('pre-engine');

    const execution = await runRotation({ userName: 'pre-engine', force: true, config: { approveDeletion: false } });

    const summary = summarize(execution.events);
    assert.equal(summary.outcome, 'SKIPPED');
    assert.equal(summary.decision, 'SECRET_MISSING');
    assert.match(summary.reason ?? '', /secret keyrot\/pre-engine does not exist/);
    assert.equal(await awsState('pre-engine'), before);
  });

  it('rotates a secret in the AWS_ACCESS_KEY_ID shape and keeps its shape and other fields', async () => {
    const old = await userWithSecret('pre-env', (key) =>
      JSON.stringify({
        AWS_ACCESS_KEY_ID: key.accessKeyId,
        AWS_SECRET_ACCESS_KEY: key.secretAccessKey,
        AWS_REGION: 'eu-west-1',
      }),
    );

    const run = await keyrot('rotate', 'pre-env', ...FAST, '--validation', 'none', '--json');

    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { outcome: string; newKeyId: string };
    assert.equal(result.outcome, 'ROTATED');
    const current = await client(SecretsManagerClient).send(
      new GetSecretValueCommand({ SecretId: 'keyrot/pre-env', VersionStage: 'AWSCURRENT' }),
    );
    const stored = JSON.parse(current.SecretString ?? '') as Record<string, string>;
    assert.deepEqual(Object.keys(stored).sort(), ['AWS_ACCESS_KEY_ID', 'AWS_REGION', 'AWS_SECRET_ACCESS_KEY']);
    assert.equal(stored.AWS_ACCESS_KEY_ID, result.newKeyId);
    assert.equal(stored.AWS_REGION, 'eu-west-1');
    assert.equal(
      await aws.whoIs({
        accessKeyId: stored.AWS_ACCESS_KEY_ID ?? '',
        secretAccessKey: stored.AWS_SECRET_ACCESS_KEY ?? '',
      }),
      'arn:aws:iam::123456789012:user/pre-env',
    );
    assert.deepEqual(await aws.keys('pre-env'), [{ id: result.newKeyId, status: 'Active' }]);
    assert.equal(await aws.whoIs(old), 'InvalidClientTokenId');
  });
});

describe('onboarding', () => {
  it('refuses --onboard with --validation none in one line before anything changes', async () => {
    await userWithSecret('onb-none', () => undefined);
    const before = await awsState('onb-none');

    const run = await keyrot('rotate', 'onb-none', ...FAST, '--onboard', '--validation', 'none');

    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /onboarding needs a validation that proves the new key is in use/);
    assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
    assert.equal(await awsState('onb-none'), before);
  });

  it('stores the new key in a new secret and keeps the old key active until the new key is used', async () => {
    const old = await userWithSecret('onb-user', () => undefined);

    const rotation = keyrot('rotate', 'onb-user', ...FAST, '--onboard', '--poll', '1', '--json');
    // Wait (bounded) until the new key is AWSCURRENT of the new secret: the old key must still be active.
    const deadline = Date.now() + 300_000;
    let current: { accessKeyId: string; secretAccessKey: string } | undefined;
    while (Date.now() < deadline) {
      current = await aws.secretKey('onb-user');
      if (current && current.accessKeyId !== old.accessKeyId) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.ok(current, 'the new secret was never written');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const whileWaiting = await aws.keys('onb-user');
    assert.deepEqual(
      whileWaiting.find((key) => key.id === old.accessKeyId),
      { id: old.accessKeyId, status: 'Active' },
      'the old key was touched before the new key was used',
    );
    await aws.use(current);
    const run = await rotation;

    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { outcome: string; newKeyId: string };
    assert.equal(result.outcome, 'ROTATED');
    assert.equal(result.newKeyId, current.accessKeyId);
    assert.deepEqual(await aws.keys('onb-user'), [{ id: current.accessKeyId, status: 'Active' }]);
  });
});

describe('fail before change', () => {
  it('refuses a missing approvals table as Misconfigured (exit 14) before any key exists', async () => {
    await aws.seedUser('fbc-table');
    const before = await awsState('fbc-table');

    const run = await keyrot('rotate', 'fbc-table', ...FAST, '--validation', 'none', {
      KEYROT_APPROVALS_TABLE: 'no-such-table',
    });

    assert.equal(run.code, 14, run.stderr);
    assert.match(
      run.stderr,
      /approvals table no-such-table cannot be read in region us-east-1 \(ResourceNotFoundException\)/,
    );
    assert.equal(await awsState('fbc-table'), before);
  });

  it('refuses a missing notification topic, link key, approver pool or app client the same way', async () => {
    await aws.seedUser('fbc-topic');
    const before = await awsState('fbc-topic');

    const topic = await keyrot('rotate', 'fbc-topic', ...FAST, '--validation', 'none', {
      KEYROT_TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:no-such-topic',
    });
    const link = await keyrot('rotate', 'fbc-topic', ...FAST, '--validation', 'none', {
      KEYROT_LINK_KEY_SECRET: 'no-such-link-key',
    });

    assert.equal(topic.code, 14, topic.stderr);
    assert.match(topic.stderr, /notification topic arn:aws:sns:us-east-1:123456789012:no-such-topic cannot be read/);
    const pool = await keyrot('rotate', 'fbc-topic', ...FAST, '--validation', 'none', {
      KEYROT_APPROVER_POOL_ID: 'us-east-1_NoSuchPool',
    });
    const client = await keyrot('rotate', 'fbc-topic', ...FAST, '--validation', 'none', {
      KEYROT_APPROVER_CLIENT_ID: 'nosuchclient0000000000000',
    });

    assert.equal(link.code, 14, link.stderr);
    assert.match(link.stderr, /approval link key no-such-link-key cannot be read/);
    assert.equal(pool.code, 14, pool.stderr);
    assert.match(
      pool.stderr,
      /approver pool us-east-1_NoSuchPool \(app client \S+\) cannot be read in region us-east-1/,
    );
    assert.equal(client.code, 14, client.stderr);
    assert.match(client.stderr, /app client nosuchclient0000000000000\) cannot be read/);
    assert.equal(await awsState('fbc-topic'), before);
  });

  it('ends the workflow in Invalid Request (Misconfigured) when Detect finds the table missing', async () => {
    await aws.seedUser('fbc-engine');
    const before = await awsState('fbc-engine');
    const table = process.env.KEYROT_APPROVALS_TABLE;
    process.env.KEYROT_APPROVALS_TABLE = 'no-such-table';
    let execution;
    try {
      execution = await runRotation({ userName: 'fbc-engine', force: true });
    } finally {
      process.env.KEYROT_APPROVALS_TABLE = table;
    }

    assert.equal(execution.events.at(-1)?.type, 'ExecutionFailed');
    assert.equal(execution.error, 'Misconfigured');
    assert.deepEqual(
      execution.events
        .filter((e) => e.type === 'TaskStateEntered' || e.type === 'FailStateEntered')
        .map((e) => (e as { stateEnteredEventDetails?: { name?: string } }).stateEnteredEventDetails?.name),
      ['Detect Keys', 'Invalid Request'],
    );
    assert.equal(await awsState('fbc-engine'), before);
  });

  it('names the region in one line when the rotation runs in a wrong region, for the secret and for a setting', async () => {
    await aws.seedUser('fbc-region');
    const before = await awsState('fbc-region');

    const run = await keyrot('rotate', 'fbc-region', ...FAST, '--validation', 'none', '--region', 'eu-west-3');
    const onboarding = await keyrot('rotate', 'fbc-region', ...FAST, '--onboard', '--region', 'eu-west-3');

    assert.equal(run.code, 13, run.stderr);
    assert.match(
      run.stderr,
      /SECRET_MISSING: secret keyrot\/fbc-region does not exist in eu-west-3, .*check the region/,
    );
    assert.equal(onboarding.code, 14, onboarding.stderr);
    assert.match(onboarding.stderr, /cannot be read in region eu-west-3 .*check the region/);
    assert.equal(onboarding.stderr.trim().split('\n').length, 1, onboarding.stderr);
    assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
    assert.equal(await awsState('fbc-region'), before);
  });

  it('says in one line that an endpoint answering HTML is not AWS, instead of a parser error', async () => {
    await aws.seedUser('fbc-endpoint');
    const before = await awsState('fbc-endpoint');
    const html: Server = createServer((_, response) => {
      response.writeHead(200, { 'content-type': 'text/html' });
      response.end('<html><body>captive portal</body></html>');
    });
    await new Promise<void>((resolve) => html.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(html.address() as AddressInfo).port}`;

    const run = await keyrot('rotate', 'fbc-endpoint', ...FAST, '--validation', 'none', { AWS_ENDPOINT_URL: endpoint });
    await new Promise((resolve) => html.close(resolve));

    assert.equal(run.code, 14, run.stderr);
    assert.match(
      run.stderr,
      new RegExp(`the endpoint ${endpoint} did not answer as AWS does .*check the region and AWS_ENDPOINT_URL`),
    );
    assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
    assert.equal(await awsState('fbc-endpoint'), before);
  });
});

describe('managed path and tag in local runs', () => {
  it('refuses a user outside the managed path (flag) and one without the managed tag (environment) as NOT_MANAGED', async () => {
    await aws.seedUser('mgd-user');
    await client(IAMClient).send(new TagUserCommand({ UserName: 'mgd-user', Tags: [{ Key: 'team', Value: 'x' }] }));
    const before = await awsState('mgd-user');

    const byPath = await keyrot(
      'rotate',
      'mgd-user',
      ...FAST,
      '--validation',
      'none',
      '--user-path',
      '/service-accounts/',
    );
    const byTag = await keyrot('rotate', 'mgd-user', ...FAST, '--validation', 'none', {
      KEYROT_USER_TAG: 'keyrot:managed',
    });

    assert.equal(byPath.code, 13, byPath.stderr);
    assert.match(
      byPath.stderr,
      /SKIPPED NOT_MANAGED: mgd-user \(path \/\) is outside the managed path \/service-accounts\//,
    );
    assert.equal(byTag.code, 13, byTag.stderr);
    assert.match(byTag.stderr, /SKIPPED NOT_MANAGED: mgd-user is not tagged keyrot:managed=true/);
    assert.equal(await awsState('mgd-user'), before);
  });

  it('rotates a user under the managed path with the managed tag', async () => {
    const iam = client(IAMClient);
    await iam.send(new CreateUserCommand({ UserName: 'mgd-ok', Path: '/service-accounts/' }));
    await iam.send(new TagUserCommand({ UserName: 'mgd-ok', Tags: [{ Key: 'keyrot:managed', Value: 'true' }] }));
    // seedUser creates its own user; this one is made here, under the path, with its key stored as a consumer would.
    const { CreateAccessKeyCommand } = await import('@aws-sdk/client-iam');
    const created = await iam.send(new CreateAccessKeyCommand({ UserName: 'mgd-ok' }));
    await client(SecretsManagerClient).send(
      new CreateSecretCommand({
        Name: 'keyrot/mgd-ok',
        SecretString: JSON.stringify({
          accessKeyId: created.AccessKey?.AccessKeyId,
          secretAccessKey: created.AccessKey?.SecretAccessKey,
        }),
      }),
    );

    const run = await keyrot(
      'rotate',
      'mgd-ok',
      ...FAST,
      '--validation',
      'none',
      '--user-path',
      '/service-accounts/',
      '--user-tag',
      'keyrot:managed',
      '--json',
    );

    assert.equal(run.code, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as { outcome: string }).outcome, 'ROTATED');
  });
});

describe('--dry-run', () => {
  it('prints the checks and every step a rotation would take, and changes nothing', async () => {
    const old = await aws.seedUser('dry-user');
    const before = await awsState('dry-user');

    const text = await keyrot('rotate', 'dry-user', '--local', '--force', '--dry-run');
    const json = await keyrot('rotate', 'dry-user', '--local', '--force', '--dry-run', '--json', '--rotation-approval');

    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /DRY RUN {2}dry-user: ROTATE: forced rotation/);
    assert.match(text.stdout, /OK {4}secret: secret keyrot\/dry-user holds AKIA\w+ \(keyrot\)/);
    assert.match(text.stdout, new RegExp(`deactivate the old key ${old.accessKeyId}`));
    assert.match(text.stdout, /gates: Approve Deletion/);
    assert.match(text.stdout, /nothing was changed/);
    const plan = JSON.parse(json.stdout) as {
      wouldRotate: boolean;
      gates: string[];
      changed: boolean;
      steps: string[];
    };
    assert.equal(plan.wouldRotate, true);
    assert.equal(plan.changed, false);
    assert.equal(plan.gates.length, 2);
    assert.ok(plan.steps.some((step) => step.startsWith('create a new access key for dry-user')));
    assert.equal(await awsState('dry-user'), before);
  });

  it('shows a refused precondition in the plan with its exit code, and changes nothing', async () => {
    await userWithSecret('dry-refused', () => 'just a string');
    const before = await awsState('dry-refused');

    const run = await keyrot('rotate', 'dry-refused', '--local', '--force', '--dry-run');

    assert.equal(run.code, 13, run.stderr);
    assert.match(run.stdout, /SECRET_FORMAT/);
    assert.match(run.stdout, /FAIL {2}secret: secret keyrot\/dry-refused \(AWSCURRENT\) holds a plain string/);
    assert.equal(await awsState('dry-refused'), before);
  });

  it('scan --start --dry-run lists what it would start without a state machine and starts nothing', async () => {
    await aws.seedUser('dry-scan');
    const before = await awsState('dry-scan');

    const run = await keyrot(
      'scan',
      '--start',
      '--dry-run',
      '--unused-days',
      '365',
      '--as-of',
      new Date(Date.now() + 100 * 86_400_000).toISOString(),
      {
        KEYROT_STATE_MACHINE_ARN: undefined,
      },
    );

    assert.equal(run.code, 3, run.stderr);
    // The start sends no --as-of: its Detect judges the key as of now, fresh, so NOT_DUE.
    assert.match(run.stderr, /would start dry-scan-\d{8}: NOT_DUE: /);
    assert.match(run.stderr, /dry run: nothing was started/);
    assert.equal(await awsState('dry-scan'), before);
  });
});
