import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, it } from '@jest/globals';
import {
  GenerateCredentialReportCommand,
  GetCredentialReportCommand,
  IAMClient,
  ListUserTagsCommand,
} from '@aws-sdk/client-iam';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import { DUE_LIST_SIZE, readDueList, startAll } from '../../handlers/domain/scan-lists';
import { synthesizeDefinition } from '../../local/definition';
import { LocalTaskTokens, runLocal, type LocalExecution } from '../../local/engine';
import { largestPayload } from '../../local/history';

const OWN = '111111111111';
const MEMBERS = ['222222222222', '333333333333', '444444444444'];
const USERS_PER_ACCOUNT = 25_000;
/** One user in ten has a key past 90 days: 10,000 DUE of 100,000. */
const DUE_EVERY = 10;
/** IAM's longest path (512 characters, slashes included) and longest user name (64). */
const LONG_PATH = `/${'p'.repeat(254)}/${'q'.repeat(255)}/`;
const userName = (account: string, i: number) => `svc-${account}-${String(i).padStart(6, '0')}-`.padEnd(64, 'x');
const AS_OF = new Date('2026-06-30T12:00:00Z');
const daysAgo = (days: number) => new Date(AS_OF.getTime() - days * 86_400_000).toISOString();

const HEADER =
  'user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated';

/** An account's credential report: every user one active key, used yesterday, one in ten 120 days old. */
function report(account: string): string {
  const lines = [HEADER];
  for (let i = 0; i < USERS_PER_ACCOUNT; i += 1) {
    const user = userName(account, i);
    const age = i % DUE_EVERY === 0 ? 120 : 5;
    lines.push(
      `${user},arn:aws:iam::${account}:user${LONG_PATH}${user},${daysAgo(400)},false,N/A,N/A,N/A,false,` +
        `true,${daysAgo(age)},${daysAgo(1)},us-east-1,iam,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A`,
    );
  }
  return lines.join('\n');
}

describe('a fleet-size scan', () => {
  const objects = new Map<string, string>();
  const started: string[] = [];
  let inFlight = 0;
  let mostInFlight = 0;
  let execution: LocalExecution;

  beforeAll(async () => {
    Object.assign(process.env, {
      KEYROT_LEDGER_DIR: mkdtempSync(path.join(tmpdir(), 'keyrot-ledger-')),
      KEYROT_SCAN_BUCKET: 'keyrot-scan-lists',
      KEYROT_STATE_MACHINE_ARN: `arn:aws:states:us-east-1:${OWN}:stateMachine:Keyrot-rotation`,
      KEYROT_TOPIC_ARN: `arn:aws:sns:us-east-1:${OWN}:keyrot-notifications`,
      KEYROT_ACCOUNTS: MEMBERS.join(','),
      KEYROT_EXTERNAL_ID: 'keyrot-test',
      KEYROT_USER_PATH: LONG_PATH,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'own',
      AWS_SECRET_ACCESS_KEY: 'own',
    });
    delete process.env.AWS_ENDPOINT_URL;
    // Every client of a class, the shared ones and those made for member accounts, answers from here.
    mockClient(STSClient)
      .on(GetCallerIdentityCommand)
      .resolves({ Account: OWN })
      .on(AssumeRoleCommand)
      .callsFake((input: { RoleArn: string }) => ({
        Credentials: {
          AccessKeyId: `ASIA${input.RoleArn.split(':')[4]}`,
          SecretAccessKey: 'member',
          SessionToken: 'member',
          Expiration: new Date(Date.now() + 3_600_000),
        },
      }));
    const iam = mockClient(IAMClient);
    iam.on(GenerateCredentialReportCommand).resolves({ State: 'COMPLETE' });
    iam.on(GetCredentialReportCommand).callsFake(async (_input: unknown, client: () => IAMClient) => {
      // Which account asks: a member's client signs with the credentials its role gave.
      const credentials = await client().config.credentials();
      const account = MEMBERS.find((member) => credentials?.accessKeyId === `ASIA${member}`) ?? OWN;
      return { Content: new TextEncoder().encode(report(account)), ReportFormat: 'text/csv' };
    });
    iam.on(ListUserTagsCommand).resolves({ Tags: [] });
    const s3 = mockClient(S3Client);
    s3.on(PutObjectCommand).callsFake((input: { Key: string; Body: string }) => {
      objects.set(input.Key, input.Body);
      return {};
    });
    s3.on(GetObjectCommand).callsFake((input: { Key: string }) => ({
      Body: { transformToString: async () => objects.get(input.Key) ?? '' },
    }));
    mockClient(SFNClient)
      .on(StartExecutionCommand)
      .callsFake(async (input: { name: string }) => {
        inFlight += 1;
        mostInFlight = Math.max(mostInFlight, inFlight);
        await new Promise((resolve) => setImmediate(resolve));
        inFlight -= 1;
        started.push(input.name);
        return {
          executionArn: `arn:aws:states:us-east-1:${OWN}:execution:Keyrot-rotation:${input.name}`,
          startDate: new Date(),
        };
      });
    mockClient(SNSClient).on(PublishCommand).resolves({ MessageId: 'summary' });

    execution = await runLocal(await synthesizeDefinition({}, 'Scan'), {
      input: { asOf: AS_OF.toISOString() },
      tokens: new LocalTaskTokens(),
      waits: 'skip',
    });
  });

  it('starts 10,000 DUE users of 100,000 in four accounts, each once, with 64-character names under a 512-character path', () => {
    assert.equal(execution.status, 'SUCCEEDED', `${execution.error}: ${execution.cause}`);
    const summary = execution.output as { started: number; failed: number; counts: Record<string, number> };
    assert.equal(summary.counts.DUE, 10_000);
    assert.equal(summary.counts.OK, 90_000);
    assert.equal(summary.started, 10_000);
    assert.equal(summary.failed, 0);
    assert.equal(new Set(started).size, 10_000);
    assert.ok(
      started.some((name) => name.startsWith(`${MEMBERS[2]}-svc-`)),
      'member users carry their account',
    );
  });

  it('keeps every state payload under 256 KiB, and no user name in the state at all', () => {
    const largest = largestPayload(execution.events);

    assert.ok(largest.bytes < 16 * 1024, `largest payload ${largest.bytes} bytes (${largest.type})`);
    const history = JSON.stringify(execution.events);
    assert.ok(!history.includes(userName(OWN, 0)), 'user names travel in S3, not in the state');
  });

  it('writes the due users in lists of 500 and each list’s outcomes beside it', async () => {
    const lists = [...objects.keys()].filter((key) => /\/due-\d+\.json$/.test(key));
    const results = [...objects.keys()].filter((key) => /\/started-\d+\.json$/.test(key));

    assert.equal(lists.length, 10_000 / DUE_LIST_SIZE);
    assert.equal(results.length, lists.length);
    const s3 = new S3Client({ region: 'us-east-1' });
    const first = await readDueList(s3, 'keyrot-scan-lists', lists[0] ?? '');
    assert.equal(first.length, DUE_LIST_SIZE);
    const outcomes = JSON.parse(objects.get(results[0] ?? '') ?? '[]') as { userName: string; started: boolean }[];
    assert.deepEqual(
      outcomes.map((outcome) => [outcome.userName, outcome.started]),
      first.map((user) => [user.userName, true]),
    );
  });

  it('starts at most the scan’s concurrency (10) at once', () => {
    assert.ok(mostInFlight <= 10 && mostInFlight > 1, `${mostInFlight} starts in flight at once`);
  });
});

describe('startAll', () => {
  it('records a user whose start fails and starts the others', async () => {
    const due = ['a', 'b', 'c'].map((userName) => ({ userName }));

    const outcomes = await startAll(
      due,
      async (user) => {
        if (user.userName === 'b') throw Object.assign(new Error('denied'), { name: 'AccessDeniedException' });
        return { name: `${user.userName}-20260630`, started: true };
      },
      2,
    );

    assert.deepEqual(outcomes, [
      { userName: 'a', name: 'a-20260630', started: true },
      { userName: 'b', started: false, failed: 'AccessDeniedException' },
      { userName: 'c', name: 'c-20260630', started: true },
    ]);
  });
});
