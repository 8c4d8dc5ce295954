import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { cliSession } from '../support/cli';
import { LocalAws } from '../support/local-aws';

// `keyrot rotate` from the command line, in a subprocess, against this file's own moto.
let aws: LocalAws;
const { keyrot, rotationAtDeletionGate } = cliSession(() => aws);

beforeAll(async () => {
  aws = await LocalAws.start();
});
afterAll(async () => aws?.stop());

describe('keyrot rotate', () => {
  it('rotates locally and prints one JSON object with the outcome and both key ids', async () => {
    const old = await aws.seedUser('cli-user');

    const run = await keyrot(
      'rotate',
      'cli-user',
      '--local',
      '--force',
      '--json',
      '--auto-approve',
      'quality-approver',
      '--validation',
      'none',
      '--skip-waits',
    );

    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as Record<string, string>;
    assert.equal(result.outcome, 'ROTATED');
    assert.equal(result.user, 'cli-user');
    assert.equal(result.oldKeyId, old.accessKeyId);
    assert.equal((await aws.secretKey('cli-user'))?.accessKeyId, result.newKeyId);
    assert.match(result.executionId ?? '', /^arn:aws:states:.*:execution:Keyrot-Rotation:/);
    const history = JSON.parse(readFileSync(result.history ?? '', 'utf8')) as { events: { type: string }[] };
    assert.equal(history.events[0]?.type, 'ExecutionStarted');
    assert.equal(history.events.at(-1)?.type, 'ExecutionSucceeded');
    // The CLI proved who asks with its own credentials; Detect recorded what STS said.
    assert.ok(readFileSync(result.history ?? '', 'utf8').includes(aws.operatorArn));
    const everything =
      run.stdout +
      run.stderr +
      readFileSync(result.history ?? '', 'utf8') +
      readFileSync((result.history ?? '').replace(/\.json$/, '.log.jsonl'), 'utf8');
    assert.equal(everything.includes(old.secretAccessKey), false);
    assert.equal(everything.includes((await aws.secretKey('cli-user'))?.secretAccessKey ?? '-'), false);
  });

  it('shows progress step by step without --json', async () => {
    await aws.seedUser('cli-progress');

    const run = await keyrot(
      'rotate',
      'cli-progress',
      '--local',
      '--force',
      '--no-deletion-approval',
      '--validation',
      'none',
      '--skip-waits',
    );

    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /\+\d+\.\d\ds {2}Create Access Key/);
    assert.match(run.stdout, /^ROTATED {2}cli-progress: AKIA\w+ -> AKIA\w+/);
  });

  it('exits 0 with SKIPPED when the key is not due', async () => {
    await aws.seedUser('cli-fresh');

    const run = await keyrot('rotate', 'cli-fresh', '--local', '--json', '--no-deletion-approval');

    assert.equal(run.code, 0);
    assert.equal(JSON.parse(run.stdout).outcome, 'SKIPPED');
  });

  it('refuses a bad user name with exit 2, a clear message and no stack trace, before any AWS call', async () => {
    const run = await keyrot('rotate', 'no spaces allowed', '--local', '--auto-approve', 'qa');

    assert.equal(run.code, 2);
    assert.match(run.stderr, /keyrot: invalid request: userName: userName may only hold letters/);
    assert.doesNotMatch(run.stderr, /\n\s+at /);
    assert.equal(run.stdout, '');
  });

  it('waits at the deletion gate with a link, and `keyrot approve` signs it from another terminal', async () => {
    const { rotation, link } = await rotationAtDeletionGate('cli-gated');

    const listed = await keyrot('approvals', '--json');
    const waitingList = JSON.parse(listed.stdout) as Record<string, unknown>[];
    assert.ok(
      waitingList.some((approval) => approval.userName === 'cli-gated' && approval.state === 'Approve Deletion'),
    );
    assert.equal(listed.stdout.includes('taskToken'), false, 'the task token stays server-side');

    const refused = await keyrot('approve', link, '--as', 'quality-approver', '--reason', 'x', '--json', {
      KEYROT_APPROVER_PASSWORD: 'wrong',
    });
    const signed = await keyrot('approve', link, '--as', 'quality-approver', '--reason', 'CR-1042 reviewed', {
      KEYROT_APPROVER_PASSWORD: 'Demo-Approver-1!',
    });
    const done = await rotation;

    assert.equal(refused.code, 5);
    assert.match(JSON.parse(refused.stdout).message, /^Sign-in refused: the user name or password is not right/);
    assert.equal(signed.code, 0, signed.stderr);
    assert.match(signed.stdout, /^APPROVED by Quinn Avery \(QA Lead\) at \S+Z: CR-1042 reviewed/);
    assert.equal(done.code, 0, done.stderr);
    assert.equal(JSON.parse(done.stdout).outcome, 'ROTATED');
  });

  it('names an unknown user and exits 2', async () => {
    const run = await keyrot('rotate', 'ghost', '--local', '--json', '--no-deletion-approval', '--force');

    assert.equal(run.code, 2);
    const result = JSON.parse(run.stdout);
    assert.equal(result.outcome, 'FAILED');
    assert.match(result.reason, /^UserNotFound: IAM user ghost does not exist$/);
  });

  it('explains itself in --help, with examples and exit codes', async () => {
    const run = await keyrot('rotate', '--help');

    assert.equal(run.code, 0);
    assert.match(run.stdout, /Examples:/);
    assert.match(run.stdout, /5 ROLLED_BACK/);
  });

  it('explains every command in --help, with examples', async () => {
    for (const command of ['status', 'list', 'abort', 'audit', 'verify', 'report']) {
      const run = await keyrot(command, '--help');

      assert.equal(run.code, 0, command);
      assert.match(run.stdout, /Examples:/, command);
      assert.match(run.stdout, /--region <region>/, command);
      assert.match(run.stdout, /--profile <profile>/, command);
    }
  });
});
