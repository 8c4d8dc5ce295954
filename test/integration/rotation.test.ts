import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { renderHtml } from '../../audit/html';
import { renderReplay } from '../../audit/render';
import { replay } from '../../audit/replay';
import { archiveExecution, archiveSettings, listKeys } from '../../handlers/domain/archive';
import { recordOf, type LocalExecution } from '../../local/engine';
import { asHandler, ledgerDir } from '../../local/ledger';
import { LocalAws } from '../support/local-aws';
import { assertNoSecretIn, injectFault, recordSecrets } from '../support/faults';
import { runRotation, statesEntered } from '../support/rotation-runner';

// The handlers' clients read the environment LocalAws sets, so they are imported after it.
let aws: LocalAws;
let clients: typeof import('../../handlers/shared/clients').clients;
const secretsSeen: string[] = [];
const runs: LocalExecution[] = [];
const thrown: unknown[] = [];

async function rotate(input: unknown, options: Parameters<typeof runRotation>[1] = {}): Promise<LocalExecution> {
  try {
    const execution = await runRotation(input, options);
    runs.push(execution);
    return execution;
  } catch (error) {
    thrown.push(error);
    throw error;
  }
}

const NO_VALIDATION = { validationMode: 'none' } as const;

describe('the rotation workflow against moto', () => {
  beforeAll(async () => {
    aws = await LocalAws.start();
    ({ clients } = await import('../../handlers/shared/clients'));
    recordSecrets(clients.iam, secretsSeen);
  });
  afterAll(async () => aws?.stop());

  it('rotates a due key: the new key works, the old one is deleted and refused, AWSCURRENT holds the new key', async () => {
    const old = await aws.seedUser('happy');
    secretsSeen.push(old.secretAccessKey);

    const execution = await rotate({ userName: 'happy', force: true, config: NO_VALIDATION });

    assert.equal(execution.status, 'SUCCEEDED', `${execution.error}: ${execution.cause}`);
    const output = execution.output as { outcome: string; oldKeyId: string; newKeyId: string };
    assert.equal(output.outcome, 'ROTATED');
    assert.equal(output.oldKeyId, old.accessKeyId);
    const current = await aws.secretKey('happy');
    assert.equal(current?.accessKeyId, output.newKeyId);
    assert.equal(await aws.whoIs(current!), 'arn:aws:iam::123456789012:user/happy');
    assert.equal(await aws.whoIs(old), 'InvalidClientTokenId');
    assert.deepEqual(await aws.keys('happy'), [{ id: output.newKeyId, status: 'Active' }]);
    assert.deepEqual(statesEntered(execution), [
      'Receive Request',
      'Detect Keys',
      'Key Due?',
      'Rotation Approval Required?',
      'Create Access Key',
      'Distribute Key',
      'Validation Mode?',
      'Verify New Key',
      'Deletion Approval Required?',
      'Approve Deletion',
      'Check Deletion Approval',
      'Deactivate Old Key',
      'Grace Period',
      'Delete Old Key',
      'Confirm Old Key Refused',
      'Finish',
      'Rotated',
    ]);
    const confirmed = execution.events.find(
      (e) =>
        e.type === 'TaskStateExited' &&
        (e.stateExitedEventDetails as { name: string }).name === 'Confirm Old Key Refused',
    );
    assert.match(JSON.stringify(confirmed), /InvalidClientTokenId/);
  });

  it('waits for the consumer to use the new key before verifying it (last-used validation)', async () => {
    const old = await aws.seedUser('polled');
    secretsSeen.push(old.secretAccessKey);
    let checks = 0;

    const execution = await rotate(
      { userName: 'polled', force: true, config: { validationMode: 'last-used', validationPollSeconds: 1 } },
      {
        around: async (handler, invoke) => {
          const result = await invoke();
          if (handler === 'check-key-used' && ++checks === 2) await aws.use((await aws.secretKey('polled'))!);
          return result;
        },
      },
    );

    assert.equal(execution.status, 'SUCCEEDED', `${execution.error}: ${execution.cause}`);
    assert.equal(statesEntered(execution).filter((state) => state === 'Check New Key Used').length, 3);
    assert.ok(statesEntered(execution).includes('Wait Before Checking Again'));
  });

  it('skips a key that is not due and changes nothing', async () => {
    const old = await aws.seedUser('fresh');
    const stagesBefore = await aws.secretStages('fresh');

    const execution = await rotate({ userName: 'fresh' });

    assert.equal(execution.status, 'SUCCEEDED');
    assert.deepEqual(execution.output, {
      outcome: 'SKIPPED',
      decision: 'NOT_DUE',
      reason: `${old.accessKeyId} is 0 days old; due at 90`,
      executionId: execution.executionArn,
      userName: 'fresh',
      oldKeyId: old.accessKeyId,
    });
    assert.deepEqual(await aws.keys('fresh'), [{ id: old.accessKeyId, status: 'Active' }]);
    assert.deepEqual(await aws.secretStages('fresh'), stagesBefore);
  });

  it('rotates once the key is past the maximum age as of the given time', async () => {
    await aws.seedUser('aged');
    const asOf = new Date(Date.now() + 90 * 86_400_000 + 60_000).toISOString();

    const execution = await rotate({ userName: 'aged', asOf, config: NO_VALIDATION });

    assert.equal((execution.output as { outcome: string }).outcome, 'ROTATED');
  });

  it('stops with a clear reason when the user has two active keys, and changes nothing', async () => {
    const first = await aws.seedUser('twokeys');
    const { CreateAccessKeyCommand } = await import('@aws-sdk/client-iam');
    const second = await clients.iam.send(new CreateAccessKeyCommand({ UserName: 'twokeys' }));
    secretsSeen.push(first.secretAccessKey, second.AccessKey?.SecretAccessKey ?? '');
    const before = await aws.keys('twokeys');

    const execution = await rotate({ userName: 'twokeys', force: true });

    const output = execution.output as { outcome: string; decision: string; reason: string };
    assert.equal(output.outcome, 'SKIPPED');
    assert.equal(output.decision, 'BLOCKED');
    assert.match(output.reason, /two active keys: a human must decide/);
    assert.match(output.reason, new RegExp(first.accessKeyId));
    assert.deepEqual(await aws.keys('twokeys'), before);
  });

  it('rolls back when the new key cannot be verified: the old key stays active and current', async () => {
    const old = await aws.seedUser('unverified');
    secretsSeen.push(old.secretAccessKey);
    const stsFor = clients.stsFor;
    clients.stsFor = (credentials) => {
      const sts = stsFor(credentials);
      injectFault(sts, { command: 'GetCallerIdentityCommand', when: 'before', error: 'InvalidClientTokenId' });
      return sts;
    };
    let execution: LocalExecution;
    try {
      execution = await rotate({ userName: 'unverified', force: true, config: NO_VALIDATION });
    } finally {
      clients.stsFor = stsFor;
    }

    assert.equal(execution.status, 'FAILED');
    assert.equal(execution.error, 'ROLLED_BACK');
    assert.match(execution.cause ?? '', /NewKeyNotValid: STS refused/);
    assert.deepEqual(await aws.keys('unverified'), [{ id: old.accessKeyId, status: 'Active' }]);
    assert.equal((await aws.secretKey('unverified'))?.accessKeyId, old.accessKeyId);
    assert.equal(await aws.whoIs(old), 'arn:aws:iam::123456789012:user/unverified');
    const verifyAttempts = execution.events.filter((e) => e.type === 'LambdaFunctionFailed').length;
    assert.equal(verifyAttempts, 7, 'the first try and six retries for eventual consistency');
    assert.ok(statesEntered(execution).includes('Roll Back'));
    assert.ok(!statesEntered(execution).includes('Deactivate Old Key'));
  });

  it('rolls back when the deletion is rejected, with the rejection as the cause', async () => {
    const old = await aws.seedUser('rejected');
    secretsSeen.push(old.secretAccessKey);

    const execution = await rotate(
      { userName: 'rejected', force: true, config: NO_VALIDATION },
      { decision: 'REJECTED' },
    );

    assert.equal(execution.error, 'ROLLED_BACK');
    assert.match(execution.cause ?? '', /ApprovalRejected: rejected by Quinn Avery \(QA Lead\) \(quality-approver\)/);
    assert.deepEqual(await aws.keys('rejected'), [{ id: old.accessKeyId, status: 'Active' }]);
    assert.equal((await aws.secretKey('rejected'))?.accessKeyId, old.accessKeyId);
  });

  it('asks for approval before creating a key when the rotation gate is on, and records both signatures', async () => {
    await aws.seedUser('two-gates');

    const execution = await rotate({
      userName: 'two-gates',
      force: true,
      config: { ...NO_VALIDATION, approveRotation: true },
    });

    const output = execution.output as {
      outcome: string;
      approvals: { state: string; signer: string; digest: string }[];
    };
    assert.equal(output.outcome, 'ROTATED');
    assert.deepEqual(
      output.approvals.map((approval) => `${approval.state}:${approval.signer}`),
      ['Approve Rotation:Quinn Avery (QA Lead)', 'Approve Deletion:Quinn Avery (QA Lead)'],
    );
    assert.ok(
      statesEntered(execution).indexOf('Approve Rotation') < statesEntered(execution).indexOf('Create Access Key'),
    );
  });

  it('ends REJECTED without creating a key when the rotation is rejected', async () => {
    const old = await aws.seedUser('no-rotation');

    const execution = await rotate(
      { userName: 'no-rotation', force: true, config: { ...NO_VALIDATION, approveRotation: true } },
      { decision: 'REJECTED' },
    );

    assert.equal(execution.error, 'REJECTED');
    assert.match(execution.cause ?? '', /rejected by Quinn Avery \(QA Lead\)/);
    assert.deepEqual(await aws.keys('no-rotation'), [{ id: old.accessKeyId, status: 'Active' }]);
    assert.ok(!statesEntered(execution).includes('Create Access Key'));
  });

  it('rolls back when nobody decides before the deletion approval times out', async () => {
    const old = await aws.seedUser('expired');

    const execution = await rotate(
      { userName: 'expired', force: true, config: NO_VALIDATION },
      { decision: 'none', context: { 'keyrot:approvalTimeoutSeconds': '1' } },
    );

    assert.equal(execution.error, 'ROLLED_BACK');
    assert.match(execution.cause ?? '', /^States\.Timeout/);
    assert.ok(execution.events.some((event) => event.type === 'TaskTimedOut'));
    assert.deepEqual(await aws.keys('expired'), [{ id: old.accessKeyId, status: 'Active' }]);
    assert.equal((await aws.secretKey('expired'))?.accessKeyId, old.accessKeyId);
  });

  it('recovers from a crash between CreateAccessKey and storing the secret: one new key, no orphan', async () => {
    const old = await aws.seedUser('crashed');
    secretsSeen.push(old.secretAccessKey);
    const disarm = injectFault(clients.iam, {
      command: 'CreateAccessKeyCommand',
      when: 'after',
      error: 'Lambda.Unknown',
    });

    let execution: LocalExecution;
    try {
      execution = await rotate({ userName: 'crashed', force: true, config: NO_VALIDATION });
    } finally {
      disarm();
    }

    assert.equal(execution.status, 'SUCCEEDED', `${execution.error}: ${execution.cause}`);
    const { newKeyId } = execution.output as { newKeyId: string };
    assert.deepEqual(await aws.keys('crashed'), [{ id: newKeyId, status: 'Active' }]);
    const createAttempts = execution.events.filter(
      (e) => e.type === 'LambdaFunctionScheduled' && JSON.stringify(e).includes('keyrot-create-key'),
    );
    assert.equal(createAttempts.length, 2);
    assert.ok(execution.logs.some((line) => line.includes('deleting orphan key from an earlier attempt')));
  });

  it('refuses an unknown user with a clear error and changes nothing', async () => {
    const execution = await rotate({ userName: 'nobody-here', force: true });

    assert.equal(execution.status, 'FAILED');
    assert.equal(execution.error, 'UserNotFound');
    assert.match(execution.cause ?? '', /IAM user nobody-here does not exist/);
    assert.deepEqual(statesEntered(execution), ['Receive Request', 'Detect Keys', 'Invalid Request']);
  });

  it('never lets a secret access key out: not in histories, outputs, logs, errors, notifications, audits or the archive', async () => {
    const notifications = await aws.notifications();
    const audits = runs.flatMap((run) => {
      const replayed = replay(run);
      return [
        ...(['text', 'json', 'csv', 'md'] as const).map((f) => renderReplay(replayed, f)),
        renderHtml(replayed, run.definition),
      ];
    });
    const archive = archiveSettings()!;
    for (const run of runs) {
      await asHandler('archive-execution', () => archiveExecution(clients, archive, recordOf(run)));
    }
    const archived = await Promise.all(
      (await listKeys(clients.s3, archive.bucket, '')).map(async (key) =>
        (await clients.s3.send(new GetObjectCommand({ Bucket: archive.bucket, Key: key }))).Body?.transformToString(),
      ),
    );
    const outsideRuns = path.join(process.env.KEYROT_HOME ?? '', 'keyrot.log.jsonl');
    const ledgerFile = path.join(ledgerDir(), `${process.pid}.jsonl`);
    const ledger = existsSync(ledgerFile) ? readFileSync(ledgerFile, 'utf8') : '';
    const emitted = [
      ...runs.map((run) => JSON.stringify(run)),
      ...notifications,
      ...thrown.map((error) => JSON.stringify(error, Object.getOwnPropertyNames(error as object))),
      ...audits,
      ...archived,
      existsSync(outsideRuns) ? readFileSync(outsideRuns, 'utf8') : '',
      // The call ledger of this process: identifiers only, never a key's secret.
      ledger,
    ].join('\n');

    assert.ok(runs.length >= 10 && notifications.length > 5, 'the runs above left something to search');
    assert.ok(archived.length >= 2 * runs.length, `${archived.length} archived objects searched`);
    assert.ok(ledger.split('\n').length > 100, 'the call ledger of these runs was searched');
    assertNoSecretIn(emitted, secretsSeen, 10);
  });
});
