import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { CloudFormationClient, CreateStackCommand } from '@aws-sdk/client-cloudformation';
import {
  AdminCreateUserCommand,
  AdminSetUserPasswordCommand,
  CognitoIdentityProviderClient,
  CreateUserPoolCommand,
  ListUserPoolsCommand,
} from '@aws-sdk/client-cognito-identity-provider';
import { CreateBucketCommand, PutObjectLockConfigurationCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateTopicCommand, SNSClient } from '@aws-sdk/client-sns';
import { LOCAL_ARCHIVE_BUCKET, LOCAL_SCAN_BUCKET } from '../../local/seed';
import { cliSession, type Finished } from '../support/cli';
import { LocalAws } from '../support/local-aws';

const CALLS = path.resolve(import.meta.dirname, '../../infra/handler-calls.json');
const ALLOWED = 'quality-approver,system-owner,ops';

let aws: LocalAws;
/** The outputs of a healthy deployment, pointing at the resources LocalAws seeded. */
let outputs: Record<string, string>;

type Row = { check: string; status: string; detail: string; fix?: string };

const session = cliSession(() => aws);

/** Run `keyrot doctor` as an operator would, against moto, with a bounded time. */
function doctor(...args: string[]): Promise<Finished> {
  return session.keyrot('doctor', ...args);
}

const client = <T>(Client: new (config: object) => T): T =>
  new Client({
    endpoint: aws.moto.endpoint,
    region: 'us-east-1',
    credentials: aws.operator,
    maxAttempts: 1,
    forcePathStyle: true,
  });

const logicalId = (handler: string) => `${handler.replace(/[^A-Za-z0-9]/g, '')}Role`;

/**
 * A stand-in for the deployed Keyrot stack: one IAM role per handler (as CDK makes them), the
 * approval function (moto's Lambda keeps its configuration; nothing runs) and the outputs.
 */
function template(options: { outputs?: Record<string, string>; omit?: string; approvers?: string } = {}): string {
  const handlers = Object.keys(JSON.parse(readFileSync(CALLS, 'utf8')) as object);
  const resources: Record<string, unknown> = {};
  for (const handler of handlers) {
    resources[logicalId(handler)] = {
      Type: 'AWS::IAM::Role',
      Properties: {
        AssumeRolePolicyDocument: {
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }],
        },
      },
    };
  }
  // Named like CDK's logical id for the `approval-api` construct, which the doctor asks first.
  resources.approvalapi3F2A9C01 = {
    Type: 'AWS::Lambda::Function',
    Properties: {
      Runtime: 'python3.12',
      Handler: 'index.handler',
      Code: { ZipFile: 'def handler(event, context):\n    return {}\n' },
      Role: { 'Fn::GetAtt': [logicalId('approval-api'), 'Arn'] },
      Environment: { Variables: { KEYROT_APPROVERS: options.approvers ?? ALLOWED, KEYROT_SECRET_PREFIX: 'keyrot/' } },
    },
  };
  const all: Record<string, unknown> = { ...outputs, ...options.outputs };
  all.HandlerRoles = {
    'Fn::Join': [
      ',',
      handlers.map((handler) => ({ 'Fn::Join': ['=', [handler, { 'Fn::GetAtt': [logicalId(handler), 'Arn'] }]] })),
    ],
  };
  if (options.omit) delete all[options.omit];
  return JSON.stringify({
    AWSTemplateFormatVersion: '2010-09-09',
    Resources: resources,
    Outputs: Object.fromEntries(Object.entries(all).map(([name, value]) => [name, { Value: value }])),
  });
}

async function deployStack(name: string, options: Parameters<typeof template>[0] = {}): Promise<void> {
  await client(CloudFormationClient).send(
    new CreateStackCommand({ StackName: name, TemplateBody: template(options), Capabilities: ['CAPABILITY_IAM'] }),
  );
}

/** A bucket with Object Lock and the given default retention mode. */
async function lockedBucket(bucket: string, mode: 'COMPLIANCE' | 'GOVERNANCE', days: number): Promise<void> {
  const s3 = client(S3Client);
  if (bucket !== LOCAL_ARCHIVE_BUCKET) {
    await s3.send(new CreateBucketCommand({ Bucket: bucket, ObjectLockEnabledForBucket: true }));
  }
  await s3.send(
    new PutObjectLockConfigurationCommand({
      Bucket: bucket,
      ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: mode, Days: days } } },
    }),
  );
}

const ARTIFACTS = path.resolve(import.meta.dirname, '../../test-artifacts');

/** Keep what an operator would see (progress, then the table) for the record. */
function keep(name: string, run: Finished): void {
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(path.join(ARTIFACTS, name), `$ keyrot doctor (exit ${run.code})\n${run.stderr}\n${run.stdout}`);
}

const rows = (run: Finished): Row[] => (JSON.parse(run.stdout) as { checks: Row[] }).checks;
const row = (run: Finished, check: string): Row | undefined => rows(run).find((candidate) => candidate.check === check);

beforeAll(async () => {
  aws = await LocalAws.start();
  const pools = await client(CognitoIdentityProviderClient).send(new ListUserPoolsCommand({ MaxResults: 60 }));
  const alarms = await client(SNSClient).send(new CreateTopicCommand({ Name: 'keyrot-alarms' }));
  await lockedBucket(LOCAL_ARCHIVE_BUCKET, 'COMPLIANCE', 2557);
  outputs = {
    StateMachineArn: await aws.stateMachine('Keyrot-rotation'),
    ScanStateMachineArn: await aws.stateMachine('Keyrot-scan'),
    NotificationTopicArn: aws.environment.KEYROT_TOPIC_ARN,
    ApprovalsTableName: aws.environment.KEYROT_APPROVALS_TABLE,
    ApprovalUrl: 'http://127.0.0.1:1/',
    ApproverPoolId: pools.UserPools?.find((pool) => pool.Name === 'keyrot-approvers')?.Id ?? '',
    ArchiveBucketName: LOCAL_ARCHIVE_BUCKET,
    ScanListsBucketName: LOCAL_SCAN_BUCKET,
    ApprovalLinkKeyArn: aws.environment.KEYROT_LINK_KEY_SECRET,
    AlarmTopicArn: alarms.TopicArn ?? '',
  };
  await deployStack('Keyrot');
});
afterAll(async () => aws?.stop());

describe('keyrot doctor', () => {
  it('passes a healthy deployment, skipping only the permission simulation moto does not implement', async () => {
    // Prepare: the Keyrot stack from before().

    // Act
    const text = await doctor();
    const json = await doctor('--json');

    // Assess
    keep('doctor-healthy.txt', text);
    assert.equal(text.code, 0, text.stdout + text.stderr);
    assert.equal(json.code, 0, json.stderr);
    const checks = rows(json);
    assert.deepEqual(
      checks.map((check) => check.check),
      [
        'stack',
        'rotation state machine',
        'scan state machine',
        'approvals table',
        'notification topic',
        'alarm topic',
        'approvers pool',
        'approver allow-list',
        'allow-list in pool',
        'approval link key',
        'evidence Object Lock',
        'permissions',
      ],
    );
    const notOk = checks.filter((check) => check.status !== 'OK');
    assert.deepEqual(
      notOk.map((check) => check.check),
      ['permissions'],
    );
    assert.equal(notOk[0]?.status, 'SKIP');
    assert.match(notOk[0]?.detail ?? '', /does not implement iam:SimulatePrincipalPolicy/);
    assert.match(row(json, 'evidence Object Lock')?.detail ?? '', /COMPLIANCE mode, 2557 days/);
    assert.match(
      row(json, 'approver allow-list')?.detail ?? '',
      /3 approver\(s\).*quality-approver, system-owner, ops/,
    );
    assert.match(text.stdout, /^STATUS\s+CHECK\s+DETAIL$/m);
    assert.match(text.stdout, /11 OK, 0 FAIL, 1 SKIP \(stack Keyrot, us-east-1\)/);
    // Progress: every check on stderr as it completes.
    assert.equal(text.stderr.trim().split('\n').length, checks.length, text.stderr);
    assert.equal(text.stdout.includes(aws.operator.secretAccessKey), false);
  });

  it('fails when the stack does not exist, tells how to deploy it, and skips the rest', async () => {
    // Act
    const run = await doctor('--stack', 'NoSuchKeyrot', '--json');
    const text = await doctor('--stack', 'NoSuchKeyrot');

    // Assess
    keep('doctor-no-stack.txt', text);
    assert.equal(run.code, 11, run.stderr);
    assert.equal(text.code, 11);
    const stack = row(run, 'stack');
    assert.equal(stack?.status, 'FAIL');
    assert.match(stack?.detail ?? '', /stack NoSuchKeyrot not found in us-east-1/);
    assert.match(stack?.fix ?? '', /npx cdk deploy/);
    assert.deepEqual(
      new Set(
        rows(run)
          .slice(1)
          .map((check) => check.status),
      ),
      new Set(['SKIP']),
    );
    assert.match(text.stdout, /^FAIL\s+stack\s+stack NoSuchKeyrot not found/m);
    assert.match(text.stdout, /^\s+fix: npx cdk deploy/m);
  });

  it('names a missing output and skips the check that needs it', async () => {
    // Prepare
    await deployStack('KeyrotNoAlarms', { omit: 'AlarmTopicArn' });

    // Act
    const run = await doctor('--stack', 'KeyrotNoAlarms', '--json');

    // Assess
    assert.equal(run.code, 11, run.stderr);
    assert.equal(row(run, 'stack')?.status, 'FAIL');
    assert.match(row(run, 'stack')?.detail ?? '', /lacks output\(s\): AlarmTopicArn$/);
    assert.match(row(run, 'stack')?.fix ?? '', /npx cdk deploy/);
    assert.deepEqual(row(run, 'alarm topic'), {
      check: 'alarm topic',
      status: 'SKIP',
      detail: 'needs stack output AlarmTopicArn',
    });
    assert.equal(row(run, 'notification topic')?.status, 'OK');
  });

  it('fails an evidence bucket whose default retention is GOVERNANCE, with the command that makes it COMPLIANCE', async () => {
    // Prepare
    await lockedBucket('keyrot-evidence-governance', 'GOVERNANCE', 30);
    await deployStack('KeyrotGovernance', { outputs: { ArchiveBucketName: 'keyrot-evidence-governance' } });

    // Act
    const run = await doctor('--stack', 'KeyrotGovernance', '--json');
    const text = await doctor('--stack', 'KeyrotGovernance');

    // Assess
    keep('doctor-governance.txt', text);
    assert.equal(text.code, 11);
    assert.match(
      text.stdout,
      /^FAIL\s+evidence Object Lock\s+.*GOVERNANCE.*\n\s+fix: aws s3api put-object-lock-configuration/m,
    );
    assert.equal(run.code, 11, run.stderr);
    const lock = row(run, 'evidence Object Lock');
    assert.equal(lock?.status, 'FAIL');
    assert.match(lock?.detail ?? '', /keyrot-evidence-governance retains in GOVERNANCE mode \(30 days\)/);
    assert.match(
      lock?.fix ?? '',
      /aws s3api put-object-lock-configuration --bucket keyrot-evidence-governance .*"Mode":"COMPLIANCE","Days":30/,
    );
    assert.deepEqual(
      rows(run)
        .filter((check) => check.status === 'FAIL')
        .map((check) => check.check),
      ['evidence Object Lock'],
    );
  });

  it('fails an approvers pool without users and says how to add one', async () => {
    // Prepare
    const empty = await client(CognitoIdentityProviderClient).send(
      new CreateUserPoolCommand({ PoolName: 'keyrot-approvers-empty' }),
    );
    await deployStack('KeyrotNoApprovers', { outputs: { ApproverPoolId: empty.UserPool?.Id ?? '' } });

    // Act
    const run = await doctor('--stack', 'KeyrotNoApprovers', '--json');

    // Assess
    assert.equal(run.code, 11, run.stderr);
    const pool = row(run, 'approvers pool');
    assert.equal(pool?.status, 'FAIL');
    assert.match(pool?.detail ?? '', /no enabled user in .*: nobody can sign an approval/);
    assert.match(pool?.fix ?? '', /^keyrot approvers add <user> --name .* --email /);
    // The allow-listed names are then not users of that pool either.
    assert.equal(row(run, 'allow-list in pool')?.status, 'FAIL');
    assert.match(row(run, 'allow-list in pool')?.detail ?? '', /quality-approver, system-owner, ops$/);
    assert.match(row(run, 'allow-list in pool')?.fix ?? '', /keyrot approvers add quality-approver/);
  });

  it('fails an empty allow-list and says how to deploy one', async () => {
    // Prepare
    await deployStack('KeyrotEmptyAllowList', { approvers: '' });

    // Act
    const run = await doctor('--stack', 'KeyrotEmptyAllowList', '--json');

    // Assess
    assert.equal(run.code, 11, run.stderr);
    const allowList = row(run, 'approver allow-list');
    assert.equal(allowList?.status, 'FAIL');
    assert.match(allowList?.detail ?? '', /KEYROT_APPROVERS of .* is empty: nobody may sign an approval/);
    assert.equal(allowList?.fix, 'npx cdk deploy -c keyrot:approvers=<user>,<user>');
    assert.equal(row(run, 'allow-list in pool')?.status, 'SKIP');
    assert.equal(row(run, 'approvers pool')?.status, 'OK');
  });

  it('fails an allow-listed name that is not a user of the pool', async () => {
    // Prepare
    await deployStack('KeyrotStranger', { approvers: 'quality-approver,nobody-here' });

    // Act
    const run = await doctor('--stack', 'KeyrotStranger', '--json');

    // Assess
    assert.equal(run.code, 11, run.stderr);
    const inPool = row(run, 'allow-list in pool');
    assert.equal(inPool?.status, 'FAIL');
    assert.match(inPool?.detail ?? '', /not an enabled pool user: nobody-here$/);
    assert.match(inPool?.fix ?? '', /^keyrot approvers add nobody-here .*npx cdk deploy -c keyrot:approvers=<names>$/);
  });

  it('fails an allow-listed approver still on the temporary password, pointing at the first sign-in page', async () => {
    // Prepare: an approver as `keyrot approvers add` leaves them, before their first sign-in.
    const cognito = client(CognitoIdentityProviderClient);
    const user = { UserPoolId: outputs.ApproverPoolId, Username: 'first-timer' };
    await cognito.send(
      new AdminCreateUserCommand({ ...user, TemporaryPassword: 'Temp-Invite-7x!', MessageAction: 'SUPPRESS' }),
    );
    await deployStack('KeyrotFirstTimer', {
      approvers: 'quality-approver,first-timer',
      outputs: { ApprovalUrl: 'https://abc123.lambda-url.us-east-1.on.aws/' },
    });

    // Act
    const before = await doctor('--stack', 'KeyrotFirstTimer', '--json');
    await cognito.send(new AdminSetUserPasswordCommand({ ...user, Password: 'Own-Password-9!', Permanent: true }));
    const after = await doctor('--stack', 'KeyrotFirstTimer', '--json');

    // Assess
    assert.equal(before.code, 11, before.stderr);
    const inPool = row(before, 'allow-list in pool');
    assert.equal(inPool?.status, 'FAIL');
    assert.match(inPool?.detail ?? '', /still on the temporary password \(FORCE_CHANGE_PASSWORD\): first-timer$/);
    assert.equal(inPool?.fix, 'the approver sets a password at https://abc123.lambda-url.us-east-1.on.aws/password');
    assert.equal(row(after, 'allow-list in pool')?.status, 'OK', after.stdout);
  });
});
