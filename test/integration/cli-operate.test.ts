import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, it } from '@jest/globals';
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { executionName } from '../../handlers/domain/start-rotation';
import { cliSession } from '../support/cli';
import { LocalAws } from '../support/local-aws';

// Operating (lock, status, list, abort) and auditing (audit, verify, report) from the command
// line, locally and against a stand-in deployed state machine in this file's own moto.
let aws: LocalAws;
const { home, live, waitFor, keyrot, rotationAtDeletionGate, runningExecution } = cliSession(() => aws);

beforeAll(async () => {
  aws = await LocalAws.start();
  // The audit, verify and report tests read finished runs beside the ones aborted below: one
  // ROTATED (cli-user, whose last rotation the report shows) and one SKIPPED.
  await aws.seedUser('cli-user');
  await aws.seedUser('cli-fresh');
  const finished = [
    await keyrot(
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
    ),
    await keyrot('rotate', 'cli-fresh', '--local', '--json', '--no-deletion-approval'),
  ];
  const outcomes = finished.map((run) => (JSON.parse(run.stdout || '{}') as { outcome?: string }).outcome);
  if (outcomes.join() !== 'ROTATED,SKIPPED') {
    throw new Error(`seeding runs ended ${outcomes.join()}: ${finished.map((run) => run.stderr).join('')}`);
  }
});
afterAll(async () => aws?.stop());

describe('operating and auditing rotations', () => {
  it('refuses a second rotation of a user while one runs, naming it; status, list, abort and audit see it', async () => {
    await aws.seedUser('cli-locked');
    const first = keyrot('rotate', 'cli-locked', '--local', '--force', '--rotation-approval', '--skip-waits', '--json');
    await waitFor(() => (/Approve Rotation: waiting for a signature/.test(live.stderr) ? true : undefined));
    const name = await runningExecution('cli-locked');

    const second = await keyrot('rotate', 'cli-locked', '--local', '--force', '--json');
    const status = await keyrot('status', name, '--local', '--json');
    const aborted = await keyrot('abort', name, '--local', '--reason', 'CR-7 withdrawn', '--as', 'olu');
    const done = await first;
    const audit = await keyrot('audit', name, '--local', '--format', 'json');

    assert.equal(second.code, 10);
    assert.match(second.stderr, new RegExp(`a rotation of cli-locked is already running: ${name}`));
    assert.equal(second.stdout, '');
    const now = JSON.parse(status.stdout);
    assert.equal(now.status, 'RUNNING');
    assert.equal(now.currentStep.state, 'Approve Rotation');
    assert.equal(now.waitingForApproval, true);
    assert.equal(aborted.code, 0, aborted.stderr);
    assert.match(aborted.stdout, /^ABORTED/);
    assert.equal(JSON.parse(done.stdout).outcome, 'ABORTED');
    assert.equal(done.code, 7);
    const replayed = JSON.parse(audit.stdout);
    assert.equal(audit.code, 0, audit.stderr);
    assert.equal(replayed.outcome, 'ABORTED');
    assert.equal(replayed.reason, 'keyrot.Aborted: aborted by olu: CR-7 withdrawn');
    assert.deepEqual(await aws.keys('cli-locked'), [
      { id: (await aws.secretKey('cli-locked'))?.accessKeyId, status: 'Active' },
    ]);
  });

  it('rolls back when aborting once the new key exists; --force skips it and says what it leaves', async () => {
    const { rotation } = await rotationAtDeletionGate('cli-late-abort');
    const name = await runningExecution('cli-late-abort');

    const aborted = await keyrot('abort', name, '--local', '--reason', 'stop');
    await rotation;
    const forcedGate = await rotationAtDeletionGate('cli-forced-abort');
    const forcedName = await runningExecution('cli-forced-abort');
    const forced = await keyrot('abort', forcedName, '--local', '--reason', 'stop', '--force');
    await forcedGate.rotation;

    assert.equal(aborted.code, 0, aborted.stderr);
    assert.match(aborted.stdout, /^ABORTED[\s\S]*ROLLED_BACK .*deleted new key AKIA\w+/m);
    assert.equal((await aws.keys('cli-late-abort')).length, 1, 'the rollback left the old key alone');
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /left behind \(--force\): AKIA\w+ and the old key AKIA\w+ both exist/);
    assert.equal((await aws.keys('cli-forced-abort')).length, 2, 'forced: both keys remain, as the warning said');
  });

  it('archives every local run, and keyrot verify walks the chains', async () => {
    const run = await keyrot('verify', '--json');

    assert.equal(run.code, 0, run.stdout);
    const report = JSON.parse(run.stdout);
    assert.deepEqual(report.findings, []);
    assert.ok(report.records >= 4, `${report.records} records`);
    assert.ok(report.chains.some((chain: { user: string }) => chain.user === 'cli-locked'));
  });

  it('writes the replay as one self-contained HTML file and lists a user’s rotations', async () => {
    const file = path.join(home, 'audit.html');
    const [latest] = JSON.parse((await keyrot('list', '--local', '--user', 'cli-user', '--json')).stdout);

    const html = await keyrot('audit', latest.name, '--local', '--format', 'html', '--output', file);
    const history = await keyrot('audit', '--user', 'cli-locked', '--local', '--json');

    assert.equal(html.code, 0, html.stderr);
    assert.ok(existsSync(file));
    const page = readFileSync(file, 'utf8');
    assert.match(page, /<svg[^>]*role="img"/);
    assert.doesNotMatch(page, /<script|https?:\/\/(?!www\.w3\.org)/);
    const rotations = JSON.parse(history.stdout) as { outcome: string }[];
    assert.deepEqual(
      rotations.map((rotation) => rotation.outcome),
      ['ABORTED'],
    );
  });

  it('gives the fleet view from the credential report, with the last rotation from the archive', async () => {
    const asOf = new Date(Date.now() + 91 * 86_400_000).toISOString();

    const run = await keyrot('report', '--as-of', asOf, '--format', 'json');

    assert.equal(run.code, 3, 'someone is overdue');
    const rows = JSON.parse(run.stdout) as {
      user: string;
      overdue: boolean;
      lastRotation: { outcome: string } | null;
    }[];
    const rotated = rows.find((row) => row.user === 'cli-user');
    assert.equal(rotated?.lastRotation?.outcome, 'ROTATED');
    assert.equal(rows.find((row) => row.user === 'cli-locked')?.lastRotation, null);
    assert.ok(rows.every((row) => row.overdue));
  });

  it('works the same against a deployed state machine: the lock, list, status and abort through the Step Functions API', async () => {
    const sfn = new SFNClient({ endpoint: aws.moto.endpoint, region: 'us-east-1', credentials: aws.operator });
    const arn = await aws.stateMachine('keyrot-deployed');
    const name = executionName('svc.deployed', new Date());
    await sfn.send(
      new StartExecutionCommand({ stateMachineArn: arn, name, input: JSON.stringify({ userName: 'svc.deployed' }) }),
    );

    const second = await keyrot('rotate', 'svc.deployed', '--state-machine-arn', arn, '--json');
    const listed = await keyrot('list', '--user', 'svc.deployed', '--state-machine-arn', arn, '--json');
    const status = await keyrot('status', name, '--state-machine-arn', arn, '--json');
    const aborted = await keyrot('abort', name, '--state-machine-arn', arn, '--reason', 'test', '--json');

    assert.equal(second.code, 10);
    assert.match(second.stderr, new RegExp(`already running: ${name}`));
    assert.match(name, /^svc_2edeployed-\d{8}$/);
    assert.deepEqual(
      (JSON.parse(listed.stdout) as { name: string; user: string }[]).map((e) => [e.name, e.user]),
      [[name, 'svc.deployed']],
    );
    assert.equal(JSON.parse(status.stdout).status, 'RUNNING');
    assert.equal(aborted.code, 0, aborted.stderr);
    assert.equal(JSON.parse(aborted.stdout).status, 'ABORTED');
  });
});
