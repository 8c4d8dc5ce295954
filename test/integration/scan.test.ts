import assert from 'node:assert/strict';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import {
  CreateAccessKeyCommand,
  CreateUserCommand,
  IAMClient,
  TagUserCommand,
  UpdateAccessKeyCommand,
} from '@aws-sdk/client-iam';
import { ListExecutionsCommand, SFNClient } from '@aws-sdk/client-sfn';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { executionName } from '../../handlers/domain/start-rotation';
import { synthesizeDefinition } from '../../local/definition';
import { LocalTaskTokens, runLocal, type LocalExecution } from '../../local/engine';
import { injectFault } from '../support/faults';
import { seedUser, type LocalKey } from '../../local/seed';
import { LocalAws } from '../support/local-aws';
import { runRotation } from '../support/rotation-runner';

const MEMBER = '222222222222';
const OWN = '123456789012';
const AS_OF = new Date(Date.now() + 91 * 86_400_000).toISOString();
let aws: LocalAws;
let sfn: SFNClient;
let rotationMachine: string;
/** Every user the scan should find DUE, as the execution name its rotation must get. */
const expected = new Set<string>();

/** 100 users in an account: 80 due, 10 exempt by tag, 10 whose only key is inactive. */
async function seedFleet(account: string, credentials: LocalKey): Promise<void> {
  const iam = new IAMClient({ endpoint: aws.moto.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
  const day = new Date();
  for (let i = 0; i < 100; i += 1) {
    const user = `svc-${account.slice(0, 3)}-${String(i).padStart(3, '0')}`;
    await iam.send(new CreateUserCommand({ UserName: user }));
    const { AccessKey } = await iam.send(new CreateAccessKeyCommand({ UserName: user }));
    // Used once, so the scan judges age rather than idleness.
    await aws.whoIs({ accessKeyId: AccessKey?.AccessKeyId ?? '', secretAccessKey: AccessKey?.SecretAccessKey ?? '' });
    if (i >= 80 && i < 90) {
      await iam.send(
        new TagUserCommand({ UserName: user, Tags: [{ Key: 'keyrot:exempt', Value: 'vendor appliance' }] }),
      );
    } else if (i >= 90) {
      await iam.send(
        new UpdateAccessKeyCommand({ UserName: user, AccessKeyId: AccessKey?.AccessKeyId, Status: 'Inactive' }),
      );
    } else {
      expected.add(executionName(user, day, 1, account === OWN ? undefined : account));
    }
  }
}

async function executions(): Promise<string[]> {
  const names: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(new ListExecutionsCommand({ stateMachineArn: rotationMachine, nextToken }));
    names.push(...(page.executions ?? []).map((execution) => execution.name ?? ''));
    nextToken = page.nextToken;
  } while (nextToken);
  return names;
}

async function scan(): Promise<LocalExecution> {
  return runLocal(await synthesizeDefinition({}, 'Scan'), {
    input: { asOf: AS_OF, unusedDays: 365 },
    tokens: new LocalTaskTokens(),
    waits: 'skip',
  });
}

describe('the daily scan workflow over two accounts', () => {
  beforeAll(async () => {
    aws = await LocalAws.start({ members: [MEMBER] });
    sfn = new SFNClient({ endpoint: aws.moto.endpoint, region: 'us-east-1', credentials: aws.operator });
    // moto's Step Functions stands in for the deployed rotation state machine: it records starts.
    rotationMachine = await aws.stateMachine('Keyrot-rotation');
    process.env.KEYROT_STATE_MACHINE_ARN = rotationMachine;
    await seedFleet(OWN, aws.operator);
    await seedFleet(MEMBER, await aws.member(MEMBER));
  });
  afterAll(async () => aws?.stop());

  it('starts exactly one rotation per DUE user in both accounts, retrying IAM throttling, and sends a summary', async () => {
    const { clients } = await import('../../handlers/shared/clients');
    const disarm = injectFault(clients.iam, {
      command: 'GenerateCredentialReportCommand',
      when: 'before',
      error: 'Throttling',
      times: 2,
    });
    let execution: LocalExecution;
    try {
      execution = await scan();
    } finally {
      disarm();
    }

    assert.equal(execution.status, 'SUCCEEDED', `${execution.error}: ${execution.cause}`);
    const summary = execution.output as {
      started: number;
      alreadyStarted: number;
      failed: number;
      counts: Record<string, number>;
    };
    assert.deepEqual(
      summary.counts,
      { OK: 20, WARN: 0, DUE: 160, EXEMPT: 21, UNUSED: 0 },
      'EXEMPT includes the operator identity',
    );
    assert.equal(summary.started, 160);
    assert.equal(summary.failed, 0);
    const names = await executions();
    assert.equal(names.length, 160);
    assert.deepEqual(new Set(names), expected);
    assert.ok(
      [...expected].some((name) => name.startsWith(`${MEMBER}-svc-222-`)),
      'member users start with the account prefix',
    );
    const throttled = execution.events.filter(
      (event) => event.type === 'LambdaFunctionFailed' && JSON.stringify(event).includes('Throttling'),
    );
    assert.equal(throttled.length, 2, 'two throttled scans, retried by the state machine');
    const notifications = await aws.notifications();
    assert.ok(
      notifications.some((body) => body.includes('keyrot daily scan') && body.includes('Rotations started: 160')),
      'the daily summary was published',
    );
  });

  it('starts nothing new on a second scan in the same window', async () => {
    const execution = await scan();

    assert.equal(execution.status, 'SUCCEEDED', `${execution.error}: ${execution.cause}`);
    const summary = execution.output as { started: number; alreadyStarted: number };
    assert.equal(summary.started, 0);
    assert.equal(summary.alreadyStarted, 160);
    assert.equal((await executions()).length, 160);
  });

  it('rotates a user in a member account through its role, and refuses an account keyrot does not manage', async () => {
    const member = await aws.member(MEMBER);
    const old = await seedUser(aws.moto.endpoint, 'member-svc', { onboard: true, as: member });

    const execution = await runRotation({
      userName: 'member-svc',
      account: MEMBER,
      force: true,
      config: { validationMode: 'none' },
    });
    const refused = await runRotation({ userName: 'member-svc', account: '999999999999', force: true });

    assert.equal(execution.status, 'SUCCEEDED', `${execution.error}: ${execution.cause}`);
    const secrets = new SecretsManagerClient({ endpoint: aws.moto.endpoint, region: 'us-east-1', credentials: member });
    const current = JSON.parse(
      (await secrets.send(new GetSecretValueCommand({ SecretId: 'keyrot/member-svc', VersionStage: 'AWSCURRENT' })))
        .SecretString ?? '{}',
    ) as LocalKey;
    assert.equal(current.accessKeyId, (execution.output as { newKeyId: string }).newKeyId);
    assert.equal(await aws.whoIs(current), `arn:aws:iam::${MEMBER}:user/member-svc`);
    assert.equal(await aws.whoIs(old), 'InvalidClientTokenId');
    assert.equal(refused.error, 'AccountNotManaged');
    assert.match(refused.cause ?? '', /account 999999999999 is not one keyrot manages/);
  });
});
